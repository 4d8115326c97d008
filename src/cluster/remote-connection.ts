import type { ConnectionContext } from "../lib/context.ts";
import type { ServerMessage } from "../protocol/replies.ts";
import type { Member } from "../rooms/member.ts";
import type { CloseReason } from "../signaling/close-reason.ts";
import type { SignalingConnection } from "../signaling/signaling-connection.ts";
import type { EndReason, Frame } from "./wire.ts";

/**
 * The home node's stand-in for a member's WebSocket held by another node (its edge). Handlers and
 * rooms use it like a local connection; what they write goes, verbatim, to the edge's inbox, which
 * writes it to the socket. Messages from the edge are handled one at a time, in order, as a local
 * connection does.
 */
export class RemoteConnection implements SignalingConnection {
  readonly ctx: ConnectionContext;
  /** The node holding the WebSocket. */
  readonly edge: string;
  member: Member | undefined;
  readonly #self: string;
  readonly #out: (edge: string, frame: Frame) => void;
  #ended = false;
  #chain: Promise<void> = Promise.resolve();

  constructor(o: {
    self: string;
    edge: string;
    ctx: ConnectionContext;
    out: (edge: string, frame: Frame) => void;
  }) {
    this.#self = o.self;
    this.edge = o.edge;
    this.ctx = o.ctx;
    this.#out = o.out;
  }

  get socketId(): string {
    return this.ctx.socketId;
  }

  get open(): boolean {
    return !this.#ended;
  }

  send(message: ServerMessage): void {
    this.sendText(JSON.stringify(message));
  }

  sendText(text: string): void {
    if (!this.#ended) this.#out(this.edge, { t: "out", n: this.#self, s: this.socketId, x: text });
  }

  replace(): void {
    this.close("replaced");
  }

  supersede(): void {
    this.close("superseded");
  }

  /** Asks the edge to close the socket (idempotent). Other reasons are the edge's own business. */
  close(reason: Exclude<CloseReason, "client-leave" | "dropped">): void {
    if (this.#ended) return;
    this.#ended = true;
    const r: EndReason = reason === "replaced" || reason === "superseded" ? reason : "shutdown";
    this.#out(this.edge, { t: "end", n: this.#self, s: this.socketId, r });
  }

  /** The edge says the socket is gone (or the edge died): nothing more is written. */
  edgeClosed(): void {
    this.#ended = true;
  }

  /** Runs `task` after every earlier one of this connection. */
  enqueue(task: () => Promise<void> | void): Promise<void> {
    this.#chain = this.#chain
      .then(task)
      .catch((err: unknown) => this.ctx.log.error({ err }, "bridged message handler threw"));
    return this.#chain;
  }
}
