/**
 * A raw protocol client for fuzzing: sends any frame (text, invalid UTF-8, binary), records what
 * comes back without assuming it is well-formed, and checks each reply against the documented
 * protocol (error codes, close codes, server event names).
 */
import WebSocket from "ws";
import { waitFor } from "../helpers/wait-for.ts";

/** Error codes a client may legitimately get. 1280 (internal) is a server bug and never allowed. */
export const DOCUMENTED_ERRORS: ReadonlySet<number> = new Set([
  1282, 1286, 1289, 1296, 1297, 1298, 1299, 1315, 1316, 1317, 1319, 1320, 1321, 1322, 1328, 1330,
]);

/**
 * Close codes the server (or the WebSocket layer it configures) may end a hostile socket with
 * (docs/protocol.md "Close codes", plus ws's own 1002 protocol error and 1007 invalid UTF-8).
 */
export const DOCUMENTED_CLOSES: ReadonlySet<number> = new Set([
  1002, 1003, 1007, 1008, 1009, 1013, 4000, 4001,
]);

export const SERVER_EVENTS: ReadonlySet<string> = new Set([
  "eventExchangeCandidate",
  "eventExchangeSdp",
  "eventLeave",
  "eventMessage",
  "eventOrientationChange",
  "eventUserMediaConfiguration",
  "eventWebrtcUp",
]);

export type Frame =
  | { kind: "text"; text: string }
  | { kind: "bytes-as-text"; bytes: Uint8Array }
  | { kind: "binary"; bytes: Uint8Array };

export interface Incoming {
  raw: string;
  message: { a?: unknown; s?: unknown; e?: unknown; d?: unknown } | undefined;
}

/** Every received frame must be a JSON object naming a reply (`xR`) or a known server event. */
export function protocolViolation(m: Incoming): string | undefined {
  const msg = m.message;
  if (!msg || typeof msg.a !== "string") return `not a protocol message: ${m.raw.slice(0, 200)}`;
  if (msg.a.endsWith("R")) {
    if (msg.s === true) return undefined;
    if (msg.s !== false) return `reply without s: ${m.raw.slice(0, 200)}`;
    if (typeof msg.e !== "number" || !DOCUMENTED_ERRORS.has(msg.e)) return `undocumented error: ${m.raw}`;
    return undefined;
  }
  return SERVER_EVENTS.has(msg.a) ? undefined : `unknown server message: ${m.raw.slice(0, 200)}`;
}

export class FuzzSocket {
  readonly ws: WebSocket;
  readonly received: Incoming[] = [];
  socketId = "";
  closed: { code: number; reason: string } | undefined;

  private constructor(ws: WebSocket) {
    this.ws = ws;
    ws.on("message", (data, isBinary) => {
      const raw = isBinary ? `<binary ${String(data)}>` : data.toString();
      let message: Incoming["message"];
      try {
        message = JSON.parse(raw) as Incoming["message"];
      } catch {
        message = undefined;
      }
      this.received.push({ raw, message });
    });
    ws.on("close", (code, reason) => {
      this.closed = { code, reason: reason.toString() };
    });
    ws.on("error", () => {});
  }

  static async connect(url: string): Promise<FuzzSocket> {
    const ws = new WebSocket(url, { maxPayload: 1024 * 1024 });
    await new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("error", reject);
      ws.once("unexpected-response", (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    });
    return new FuzzSocket(ws);
  }

  get open(): boolean {
    return this.closed === undefined && this.ws.readyState === WebSocket.OPEN;
  }

  send(frame: Frame): void {
    if (!this.open) return;
    if (frame.kind === "text") this.ws.send(frame.text);
    else this.ws.send(Buffer.from(frame.bytes), { binary: frame.kind === "binary" });
  }

  sendJson(a: string, d?: unknown): void {
    if (this.open) this.ws.send(JSON.stringify(d === undefined ? { a } : { a, d }));
  }

  /** Waits for a reply named `a` received after index `from`, or for the socket to close. */
  async replyOrClose(a: string, from: number, timeoutMs = 5000): Promise<Incoming | "closed"> {
    return waitFor(
      `${a} or close`,
      () => {
        for (let i = from; i < this.received.length; i++) {
          if (this.received[i]?.message?.a === a) return this.received[i];
        }
        return this.closed ? "closed" : undefined;
      },
      timeoutMs,
    );
  }

  async join(roomId: string, bearer: string): Promise<void> {
    const from = this.received.length;
    this.sendJson("join", { roomId, bearer });
    const r = await this.replyOrClose("joinR", from);
    if (r === "closed" || r.message?.s !== true) throw new Error(`join failed: ${JSON.stringify(r)}`);
    this.socketId = String((r.message.d as { socketId?: unknown }).socketId);
  }

  close(): void {
    if (this.open) this.ws.close(1000);
    else this.ws.terminate();
  }
}

/** Heap used after a full GC, in bytes (exposes gc for this process if needed). */
export async function heapAfterGc(): Promise<number> {
  const { setFlagsFromString } = await import("node:v8");
  const { runInNewContext } = await import("node:vm");
  setFlagsFromString("--expose-gc");
  const gc = runInNewContext("gc") as () => void;
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((r) => setImmediate(r));
  }
  return process.memoryUsage().heapUsed;
}
