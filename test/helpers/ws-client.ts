import WebSocket from "ws";
import { waitFor } from "./wait-for.ts";

export interface WireMessage {
  a: string;
  s?: boolean;
  e?: number;
  d?: Record<string, unknown> & { [key: string]: unknown };
}

/** A protocol client for tests: sends requests, records everything received, waits on conditions. */
export class TestClient {
  readonly ws: WebSocket;
  readonly received: WireMessage[] = [];
  closed: { code: number; reason: string } | undefined;
  private cursor = 0;

  private constructor(ws: WebSocket) {
    this.ws = ws;
    ws.on("message", (data) => this.received.push(JSON.parse(data.toString()) as WireMessage));
    ws.on("close", (code, reason) => {
      this.closed = { code, reason: reason.toString() };
    });
    ws.on("error", () => {});
  }

  static async connect(url: string, options: WebSocket.ClientOptions = {}): Promise<TestClient> {
    const ws = new WebSocket(url, options);
    await new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("error", reject);
      ws.once("unexpected-response", (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    });
    return new TestClient(ws);
  }

  send(a: string, d?: unknown): void {
    this.ws.send(JSON.stringify(d === undefined ? { a } : { a, d }));
  }

  sendRaw(text: string | Buffer): void {
    this.ws.send(text);
  }

  /** Sends `a` and waits for its `aR` reply. */
  async request(a: string, d?: unknown, timeoutMs = 5000): Promise<WireMessage> {
    const from = this.received.length;
    this.send(a, d);
    return waitFor(`${a}R`, () => this.received.slice(from).find((m) => m.a === `${a}R`), timeoutMs);
  }

  async join(roomId: string, bearer: string, extra: Record<string, unknown> = {}): Promise<WireMessage> {
    const reply = await this.request("join", {
      roomId,
      bearer,
      platform: "Web",
      deviceName: "test",
      networkType: "wifi",
      version: "1",
      appVersion: "1",
      orientation: 90,
      camera: "front",
      capabilities: ["reoffer"],
      ...extra,
    });
    if (!reply.s) throw new Error(`join failed with ${reply.e}`);
    return reply;
  }

  /** Waits for the next message (after the previous `next`) named `a` and matching `filter`. */
  async next(
    a: string,
    filter: (m: WireMessage) => boolean = () => true,
    timeoutMs = 5000,
  ): Promise<WireMessage> {
    const found = await waitFor(
      `message ${a}`,
      () => {
        for (let i = this.cursor; i < this.received.length; i++) {
          const m = this.received[i];
          if (m && m.a === a && filter(m)) return { m, i };
        }
        return undefined;
      },
      timeoutMs,
    );
    this.cursor = found.i + 1;
    return found.m;
  }

  all(a: string): WireMessage[] {
    return this.received.filter((m) => m.a === a);
  }

  async waitClosed(timeoutMs = 5000): Promise<{ code: number; reason: string }> {
    return waitFor("socket close", () => this.closed, timeoutMs);
  }

  close(code = 1000): void {
    this.ws.close(code);
  }

  /** Drops the TCP connection without a close frame (what a lost network looks like). */
  drop(): void {
    this.ws.terminate();
  }
}
