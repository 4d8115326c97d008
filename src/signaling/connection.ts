import type { Duplex } from "node:stream";
import type { RawData, WebSocket } from "ws";
import type { Config } from "../config/config.ts";
import type { ConnectionContext } from "../lib/context.ts";
import { ErrorCode } from "../lib/errors.ts";
import type { Metrics } from "../metrics/metrics.ts";
import { parseClientMessage } from "../protocol/parse.ts";
import { errorReply, type ServerMessage } from "../protocol/replies.ts";
import type { Member } from "../rooms/member.ts";
import { CLOSE_STATUS, type CloseReason } from "./close-reason.ts";
import { RateLimiter } from "./rate-limiter.ts";
import type { SignalingConnection, SignalingHandlers } from "./signaling-connection.ts";

export type ConnectionHandlers = SignalingHandlers<Connection>;

export interface ConnectionOptions {
  ws: WebSocket;
  /** The TCP (or TLS) stream under `ws`: corked within one event-loop turn so replies and events share a write. */
  socket: Duplex;
  ctx: ConnectionContext;
  limits: Config["socket"];
  metrics: Metrics;
  handlers: ConnectionHandlers;
}

/** One client WebSocket: parses frames at the edge, enforces limits, writes replies and events. */
export class Connection implements SignalingConnection {
  readonly ctx: ConnectionContext;
  member: Member | undefined;
  lastSeen = performance.now();
  /** Pings sent since the last pong or frame. */
  #unansweredPings = 0;
  readonly #ws: WebSocket;
  readonly #o: ConnectionOptions;
  readonly #limiter: RateLimiter;
  #strikes = 0;
  /** A close is queued behind pending replies: further frames are ignored. */
  #closing = false;
  #reason: CloseReason | undefined;
  #chain: Promise<void> = Promise.resolve();
  #corked = false;
  readonly #uncork = () => {
    this.#corked = false;
    this.#o.socket.uncork();
  };

  constructor(o: ConnectionOptions) {
    this.#o = o;
    this.#ws = o.ws;
    this.ctx = o.ctx;
    this.#limiter = new RateLimiter(o.limits.ratePerSecond, o.limits.rateBurst);
    this.#ws.on("message", (data, isBinary) => this.#onFrame(data, isBinary));
    this.#ws.on("pong", () => {
      this.lastSeen = performance.now();
      this.#unansweredPings = 0;
    });
    this.#ws.on("error", (err) => this.#onError(err));
    this.#ws.on("close", (code) => this.#onClose(code));
  }

  get socketId(): string {
    return this.ctx.socketId;
  }

  get open(): boolean {
    return this.#reason === undefined && this.#ws.readyState === this.#ws.OPEN;
  }

  send(message: ServerMessage): void {
    this.sendText(JSON.stringify(message));
  }

  sendText(text: string): void {
    if (!this.open) return;
    if (this.#ws.bufferedAmount > this.#o.limits.sendBufferMaxBytes) {
      this.ctx.log.warn({ bufferedAmount: this.#ws.bufferedAmount }, "client does not read: closing");
      this.close("slow-consumer");
      return;
    }
    if (!this.#corked) {
      this.#corked = true;
      this.#o.socket.cork();
      process.nextTick(this.#uncork);
    }
    this.#ws.send(text);
    this.#o.metrics.messagesOut.inc();
  }

  replace(): void {
    this.close("replaced");
  }

  supersede(): void {
    this.close("superseded");
  }

  /** Ends the connection for a server-side reason (idempotent). */
  close(reason: Exclude<CloseReason, "client-leave" | "dropped">): void {
    if (this.#reason !== undefined) return;
    this.#reason = reason;
    if (reason === "heartbeat-timeout") {
      this.#ws.terminate();
      return;
    }
    const [status, text] = CLOSE_STATUS[reason];
    this.#ws.close(status, text);
    // A peer that never answers the close handshake must not hold the socket.
    setTimeout(() => this.#ws.terminate(), 2000).unref();
  }

  /** Heartbeat tick: ping, or terminate when the peer has been silent too long. */
  heartbeat(now: number): void {
    if (this.#reason !== undefined) return;
    // Dead only when silent for the timeout *and* two pings went unanswered: a starved server
    // visits each socket less often than the timeout, and must not blame the client for that.
    if (now - this.lastSeen > this.#o.limits.heartbeatTimeoutMs && this.#unansweredPings >= 2) {
      this.#o.metrics.heartbeatTimeouts.inc();
      this.ctx.log.info("heartbeat timeout");
      this.close("heartbeat-timeout");
      return;
    }
    this.#ws.ping();
    this.#unansweredPings++;
  }

  #onFrame(data: RawData, isBinary: boolean): void {
    if (this.#reason !== undefined || this.#closing) return;
    this.lastSeen = performance.now();
    this.#unansweredPings = 0;
    if (isBinary) {
      this.#o.metrics.errors.inc({ code: String(ErrorCode.invalidMessage) });
      this.send(errorReply("general", ErrorCode.invalidMessage));
      this.close("binary-frame");
      return;
    }
    if (!this.#limiter.take()) {
      this.#o.metrics.rateLimited.inc();
      this.#reject("general", ErrorCode.rateLimited, "rate limited");
      if (++this.#strikes >= this.#o.limits.rateStrikes) {
        // Read nothing more; close once the replies before it (1322s included) are written.
        this.#closing = true;
        this.#chain = this.#chain.then(() => this.close("rate-limited"));
        setTimeout(() => this.close("rate-limited"), 1000).unref(); // even if a handler hangs
      }
      return;
    }
    const parsed = parseClientMessage(data.toString());
    if (!parsed.ok) {
      this.#reject(parsed.action, parsed.error.code, parsed.error.message);
      return;
    }
    this.#o.metrics.messagesIn.inc({ action: parsed.message.a });
    // One message at a time per socket, so a slow join is not overtaken by what follows it.
    this.#chain = this.#chain
      .then(() => this.#o.handlers.message(this, parsed.message))
      .catch((err: unknown) => this.ctx.log.error({ err }, "message handler threw"));
  }

  /**
   * Answers a frame that never reaches a handler. The reply waits behind the replies to earlier
   * frames, so that every reply leaves in request order, errors included.
   */
  #reject(action: string, code: (typeof ErrorCode)[keyof typeof ErrorCode], why: string): void {
    this.#o.metrics.errors.inc({ code: String(code) });
    this.ctx.log.debug({ code, why }, "rejected message");
    const reply = errorReply(action, code);
    this.#chain = this.#chain.then(() => this.send(reply));
  }

  #onError(err: Error & { code?: string }): void {
    if (err.code === "WS_ERR_UNSUPPORTED_MESSAGE_LENGTH") {
      this.#o.metrics.errors.inc({ code: "1009" });
      this.#reason ??= "too-big";
    }
    this.ctx.log.info({ err: err.message, code: err.code }, "websocket error");
  }

  #onClose(code: number): void {
    const reason: CloseReason = this.#reason ?? (code === 1000 || code === 1001 ? "client-leave" : "dropped");
    this.#reason = reason;
    this.#o.metrics.wsClosed.inc({ reason });
    this.ctx.log.info({ reason, code }, "connection closed");
    // At once, not behind the message queue: a handler stuck on a slow call cannot keep a dead member.
    this.#o.handlers.closed(this, reason);
  }
}
