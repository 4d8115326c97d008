import WebSocket from "ws";

export interface Frame {
  a: string;
  s?: boolean;
  e?: number;
  d?: Record<string, unknown>;
}

/**
 * A lean protocol client for load: one JSON.parse per frame, replies matched in order (the server
 * handles one message at a time per socket, so `xR` replies come back in request order), and
 * everything else handed to `onEvent`. Keeps no history, so 10,000 of them fit in one process.
 */
export class SigClient {
  readonly ws: WebSocket;
  socketId = "";
  onEvent: (f: Frame, raw: string) => void = () => {};
  onClose: (code: number) => void = () => {};
  private readonly waiting: { a: string; resolve: (f: Frame) => void; reject: (e: Error) => void }[] = [];

  private constructor(ws: WebSocket) {
    this.ws = ws;
    ws.on("message", (data) => {
      const raw = data.toString();
      const f = JSON.parse(raw) as Frame;
      const head = this.waiting[0];
      if (head && f.a === `${head.a}R`) {
        this.waiting.shift();
        head.resolve(f);
        return;
      }
      this.onEvent(f, raw);
    });
    ws.on("close", (code) => {
      for (const w of this.waiting.splice(0)) w.reject(new Error(`socket closed (${code})`));
      this.onClose(code);
    });
    ws.on("error", () => {});
  }

  static connect(url: string, timeoutMs = 10_000, options: WebSocket.ClientOptions = {}): Promise<SigClient> {
    const ws = new WebSocket(url, { perMessageDeflate: false, handshakeTimeout: timeoutMs, ...options });
    return new Promise<SigClient>((resolve, reject) => {
      ws.once("open", () => resolve(new SigClient(ws)));
      ws.once("error", reject);
      ws.once("unexpected-response", (_req, res) => {
        ws.terminate();
        reject(new Error(`HTTP ${res.statusCode}`));
      });
    });
  }

  get open(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  sendRaw(text: string): void {
    this.ws.send(text);
  }

  send(a: string, d?: unknown): void {
    this.ws.send(JSON.stringify(d === undefined ? { a } : { a, d }));
  }

  /** Sends and resolves with the `aR` reply (successful or not). */
  request(a: string, d?: unknown, timeoutMs = 10_000): Promise<Frame> {
    return new Promise<Frame>((resolve, reject) => {
      const timer = setTimeout(() => {
        const i = this.waiting.indexOf(entry);
        if (i >= 0) this.waiting.splice(i, 1);
        reject(new Error(`${a}: no reply in ${timeoutMs} ms`));
      }, timeoutMs);
      const entry = {
        a,
        resolve: (f: Frame) => {
          clearTimeout(timer);
          resolve(f);
        },
        reject: (e: Error) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      this.waiting.push(entry);
      this.send(a, d);
    });
  }

  /** Joins and remembers the socketId; throws on an error reply. */
  async join(roomId: string, bearer: string, extra: Record<string, unknown> = {}): Promise<Frame> {
    const r = await this.request("join", {
      roomId,
      bearer,
      platform: "bench",
      deviceName: "bench",
      capabilities: ["reoffer"],
      ...extra,
    });
    if (!r.s) throw new Error(`join failed with e=${r.e}`);
    this.socketId = String((r.d as { socketId?: unknown } | undefined)?.socketId ?? "");
    return r;
  }

  close(): void {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING)
      this.ws.close(1000);
  }

  terminate(): void {
    this.ws.terminate();
  }
}

/** Runs `fn` over items with at most `limit` in flight; resolves with the results in order. */
export async function pool<T, R>(
  items: readonly T[],
  limit: number,
  fn: (t: T, i: number) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
