/**
 * The little of Janus's WebSocket API (subprotocol "janus-protocol") the `peers` benchmark needs:
 * one session, VideoRoom handles to create a room, publish into it and subscribe to a feed.
 * Requests are matched to their answers by transaction; asynchronous plugin events and trickled
 * candidates are delivered per handle.
 */
import { randomUUID } from "node:crypto";
import { WebSocket } from "ws";

export interface JanusJsep {
  type: "offer" | "answer";
  sdp: string;
}

export interface JanusCandidate {
  candidate?: string;
  sdpMid?: string;
  sdpMLineIndex?: number;
  completed?: boolean;
}

interface JanusMessage {
  janus: string;
  transaction?: string;
  session_id?: number;
  sender?: number;
  data?: { id?: number };
  plugindata?: { plugin: string; data: Record<string, unknown> };
  jsep?: JanusJsep;
  candidate?: JanusCandidate;
  error?: { code: number; reason: string };
}

export interface JanusEvent {
  data: Record<string, unknown>;
  jsep?: JanusJsep;
}

export class JanusHandle {
  readonly id: number;
  readonly #session: JanusSession;
  readonly #events: JanusEvent[] = [];
  readonly #waiters: ((e: JanusEvent) => void)[] = [];
  onCandidate: (c: JanusCandidate) => void = () => {};
  /** Resolves when Janus reports the handle's PeerConnection up (its "webrtcup" message). */
  readonly webrtcUp: Promise<void>;
  #up: () => void = () => {};

  constructor(session: JanusSession, id: number) {
    this.#session = session;
    this.id = id;
    this.webrtcUp = new Promise((r) => {
      this.#up = r;
    });
  }

  /** A synchronous plugin request (create, ...): resolves with the plugin's answer data. */
  async request(body: Record<string, unknown>): Promise<Record<string, unknown>> {
    const m = await this.#session.send({ janus: "message", handle_id: this.id, body }, "success");
    return m.plugindata?.data ?? {};
  }

  /** An asynchronous plugin request (join, start, ...): acked, its result comes as the next event. */
  async message(body: Record<string, unknown>, jsep?: JanusJsep): Promise<JanusEvent> {
    const next = this.nextEvent();
    await this.#session.send(
      { janus: "message", handle_id: this.id, body, ...(jsep ? { jsep } : {}) },
      "ack",
    );
    const e = await next;
    if (e.data.error) throw new Error(`janus: ${String(e.data.error)}`);
    return e;
  }

  trickle(candidate: JanusCandidate): Promise<JanusMessage> {
    return this.#session.send({ janus: "trickle", handle_id: this.id, candidate }, "ack");
  }

  nextEvent(timeoutMs = 30_000): Promise<JanusEvent> {
    const queued = this.#events.shift();
    if (queued) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("janus: no event")), timeoutMs);
      this.#waiters.push((e) => {
        clearTimeout(timer);
        resolve(e);
      });
    });
  }

  /** @internal */
  deliver(m: JanusMessage): void {
    if (m.janus === "webrtcup") {
      this.#up();
      return;
    }
    if (m.janus === "trickle" && m.candidate) {
      this.onCandidate(m.candidate);
      return;
    }
    if (m.janus !== "event" || !m.plugindata) return;
    const e: JanusEvent = { data: m.plugindata.data, ...(m.jsep ? { jsep: m.jsep } : {}) };
    const w = this.#waiters.shift();
    if (w) w(e);
    else this.#events.push(e);
  }
}

export class JanusSession {
  readonly #ws: WebSocket;
  readonly #pending = new Map<
    string,
    { want: string; resolve: (m: JanusMessage) => void; reject: (e: Error) => void }
  >();
  readonly #handles = new Map<number, JanusHandle>();
  #id = 0;
  #keepalive: NodeJS.Timeout | undefined;

  private constructor(ws: WebSocket) {
    this.#ws = ws;
    ws.on("message", (raw) => {
      const m = JSON.parse(String(raw)) as JanusMessage;
      const p = m.transaction ? this.#pending.get(m.transaction) : undefined;
      if (p && (m.janus === p.want || m.janus === "error" || m.janus === "success")) {
        this.#pending.delete(m.transaction as string);
        if (m.janus === "error") p.reject(new Error(`janus: ${m.error?.reason ?? "error"}`));
        else p.resolve(m);
        // An asynchronous request's event can carry the same transaction: fall through to the handle.
        if (m.janus !== "event") return;
      }
      if (m.sender !== undefined) this.#handles.get(m.sender)?.deliver(m);
    });
  }

  static async connect(url: string): Promise<JanusSession> {
    const ws = new WebSocket(url, "janus-protocol");
    await new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("error", reject);
    });
    const s = new JanusSession(ws);
    const created = await s.send({ janus: "create" }, "success");
    s.#id = created.data?.id ?? 0;
    s.#keepalive = setInterval(() => {
      s.send({ janus: "keepalive" }, "ack").catch(() => undefined);
    }, 15_000);
    s.#keepalive.unref();
    return s;
  }

  async attach(plugin = "janus.plugin.videoroom"): Promise<JanusHandle> {
    const m = await this.send({ janus: "attach", plugin }, "success");
    const h = new JanusHandle(this, m.data?.id ?? 0);
    this.#handles.set(h.id, h);
    return h;
  }

  send(body: Record<string, unknown>, want: string): Promise<JanusMessage> {
    const transaction = randomUUID();
    return new Promise((resolve, reject) => {
      this.#pending.set(transaction, { want, resolve, reject });
      this.#ws.send(JSON.stringify({ ...body, transaction, ...(this.#id ? { session_id: this.#id } : {}) }));
    });
  }

  close(): void {
    if (this.#keepalive) clearInterval(this.#keepalive);
    this.#ws.close();
  }
}
