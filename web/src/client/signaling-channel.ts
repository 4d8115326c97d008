import type { LocalFailure } from "./error-messages.ts";
import { type Reply, type ServerEvent, SignalingError } from "./protocol.ts";

export interface ChannelHandlers {
  /** A server event (anything that is not a reply). */
  event(message: ServerEvent): void;
  /** The socket closed; `byUs` when `close()` was called. */
  closed(code: number, reason: string, byUs: boolean): void;
}

interface Pending {
  resolve(data: unknown): void;
  reject(err: Error): void;
  settled: boolean;
  timer: ReturnType<typeof setTimeout>;
}

/**
 * One WebSocket to `/api`. The server answers a socket's requests one at a time and in order,
 * and a reply names only its action, so replies are matched to requests first-in first-out
 * per action. A request that timed out keeps its place, so that its late reply is not taken
 * for the next one.
 */
export class SignalingChannel {
  readonly #ws: WebSocket;
  readonly #handlers: ChannelHandlers;
  readonly #pending = new Map<string, Pending[]>();
  #closedByUs = false;
  #closed = false;

  private constructor(ws: WebSocket, handlers: ChannelHandlers) {
    this.#ws = ws;
    this.#handlers = handlers;
    ws.onmessage = (e) => this.#onMessage(e.data);
    ws.onclose = (e) => this.#onClose(e.code, e.reason);
  }

  /**
   * Opens a socket to `url`; rejects with a SignalingError whose `reason` says why it could not be
   * opened ("unreachable", "origin-refused", "too-many-connections", ...), within `timeoutMs`.
   */
  static open(url: string, handlers: ChannelHandlers, timeoutMs = 10_000): Promise<SignalingChannel> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url);
      let done = false;
      const fail = (why: LocalFailure | undefined) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        ws.onopen = ws.onerror = ws.onclose = null;
        ws.close();
        void (why ? Promise.resolve(why) : diagnose(url)).then((reason) =>
          reject(new SignalingError("connect", 0, undefined, reason)),
        );
      };
      const timer = setTimeout(() => fail("unreachable"), timeoutMs);
      ws.onopen = () => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        resolve(new SignalingChannel(ws, handlers));
      };
      // Usually error then close; a refused or proxied socket may close without an error event.
      ws.onerror = () => fail(undefined);
      ws.onclose = () => fail(undefined);
    });
  }

  get isOpen(): boolean {
    return !this.#closed && this.#ws.readyState === WebSocket.OPEN;
  }

  /** Sends `{a: action, d: data}` and resolves with the reply's `d`, or rejects with its error code. */
  request<T>(action: string, data?: unknown, timeoutMs = 10_000): Promise<T> {
    if (!this.isOpen) return Promise.reject(new SignalingError(action, 0, "not connected"));
    return new Promise<T>((resolve, reject) => {
      const pending: Pending = {
        resolve: (d) => resolve(d as T),
        reject,
        settled: false,
        timer: setTimeout(() => {
          pending.settled = true;
          reject(
            new SignalingError(
              action,
              0,
              `The server did not answer ${action} within ${timeoutMs} ms.`,
              "timeout",
            ),
          );
        }, timeoutMs),
      };
      const queue = this.#pending.get(`${action}R`) ?? [];
      queue.push(pending);
      this.#pending.set(`${action}R`, queue);
      this.#ws.send(JSON.stringify(data === undefined ? { a: action } : { a: action, d: data }));
    });
  }

  /** Sends a message that has no reply (client events such as eventFreeze). */
  notify(action: string, data?: unknown): void {
    if (this.isOpen)
      this.#ws.send(JSON.stringify(data === undefined ? { a: action } : { a: action, d: data }));
  }

  /**
   * Closes the socket. 1000 tells the server the member leaves; any code in 4100..4999 looks like
   * a dropped connection to the server (the membership is kept for the reconnect grace). 4000 and
   * 4001 are the server's own close codes (replaced, superseded).
   */
  close(code = 1000, reason = "leave"): void {
    if (this.#closed) return;
    this.#closedByUs = true;
    this.#ws.close(code, reason);
    this.#onClose(code, reason);
  }

  #onMessage(raw: unknown): void {
    if (typeof raw !== "string") return;
    let message: { a?: unknown; s?: unknown; d?: unknown; e?: unknown };
    try {
      message = JSON.parse(raw);
    } catch {
      return;
    }
    if (typeof message.a !== "string") return;
    if (typeof message.s === "boolean") {
      this.#onReply(message as Reply);
      return;
    }
    this.#handlers.event(message as ServerEvent);
  }

  #onReply(reply: Reply): void {
    const queue = this.#pending.get(reply.a);
    const pending = queue?.shift();
    if (!pending) {
      if (!reply.s) console.warn(`unsolicited error reply ${reply.a} ${reply.e}`);
      return;
    }
    clearTimeout(pending.timer);
    if (pending.settled) return;
    pending.settled = true;
    if (reply.s) pending.resolve(reply.d);
    else pending.reject(new SignalingError(reply.a.slice(0, -1), reply.e));
  }

  #onClose(code: number, reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#ws.onmessage = null;
    this.#ws.onclose = null;
    for (const queue of this.#pending.values()) {
      for (const p of queue) {
        clearTimeout(p.timer);
        if (!p.settled) p.reject(new SignalingError("connection", 0, undefined, "closed"));
        p.settled = true;
      }
    }
    this.#pending.clear();
    this.#handlers.closed(code, reason, this.#closedByUs);
  }
}

/**
 * Why a WebSocket could not be opened. The browser does not tell (a refused handshake and a stopped
 * server look the same), so ask the server's `/api` over plain HTTP: no answer means unreachable;
 * otherwise its status is the one the handshake got (403 origin, 429 too many connections, 503
 * shutting down). A server on another origin answers opaquely: "refused", without the detail.
 */
export async function diagnose(wsUrl: string): Promise<LocalFailure> {
  const httpUrl = wsUrl.replace(/^ws/, "http");
  let res: Response;
  try {
    res = await fetch(httpUrl, {
      method: "POST",
      mode: "no-cors",
      cache: "no-store",
      signal: AbortSignal.timeout(3000),
    });
  } catch {
    return "unreachable";
  }
  if (res.type === "opaque") return "refused";
  if (res.status === 403) return "origin-refused";
  if (res.status === 429) return "too-many-connections";
  if (res.status === 503) return "server-shutting-down";
  return "refused";
}
