import type { ConnectionContext } from "../lib/context.ts";
import type { ServerMessage } from "../signaling/protocol/replies.ts";

/** What a member needs from its current connection; rooms never see the WebSocket itself. */
export interface MemberLink {
  send(message: ServerMessage): void;
  /** Ends the link without leaving the room (used when a reconnect replaces it). */
  replace(): void;
}

export interface MemberInfo {
  platform: string;
  deviceName: string;
  networkType: string;
  version: string;
  appVersion: string;
  ip: string;
  bitrate: number;
}

export interface MemberOptions {
  roomId: string;
  socketId: string;
  userId: string;
  info: MemberInfo;
  orientation: number;
  camera: string;
  link: MemberLink;
  ctx: ConnectionContext;
  queueMax: number;
  onQueueDrop: () => void;
}

/**
 * A room member. It outlives its connection during the reconnect grace: messages
 * sent meanwhile wait in a bounded queue and are replayed, in order, on reconnect.
 */
export class Member {
  readonly roomId: string;
  readonly socketId: string;
  readonly userId: string;
  readonly info: MemberInfo;
  orientation: number;
  camera: string;
  readonly ctx: ConnectionContext;
  private link: MemberLink | undefined;
  private readonly queue: ServerMessage[] = [];
  private readonly queueMax: number;
  private readonly onQueueDrop: () => void;
  private graceTimer: NodeJS.Timeout | undefined;

  constructor(o: MemberOptions) {
    this.roomId = o.roomId;
    this.socketId = o.socketId;
    this.userId = o.userId;
    this.info = { ...o.info };
    this.orientation = o.orientation;
    this.camera = o.camera;
    this.link = o.link;
    this.ctx = o.ctx;
    this.queueMax = o.queueMax;
    this.onQueueDrop = o.onQueueDrop;
  }

  get connected(): boolean {
    return this.link !== undefined;
  }

  get queued(): number {
    return this.queue.length;
  }

  send(message: ServerMessage): void {
    if (this.link) {
      this.link.send(message);
      return;
    }
    if (this.queue.length >= this.queueMax) {
      this.queue.shift();
      this.onQueueDrop();
    }
    this.queue.push(message);
  }

  /** The connection dropped: keep the membership for `graceMs`, then call `expire`. */
  detach(graceMs: number, expire: () => void): void {
    this.link = undefined;
    this.clearGrace();
    this.graceTimer = setTimeout(expire, graceMs);
  }

  /** A reconnect: the old link (if still open) is replaced, then the queue is replayed in order. */
  attach(link: MemberLink): void {
    this.clearGrace();
    const old = this.link;
    this.link = link;
    if (old && old !== link) old.replace();
    for (const message of this.queue.splice(0)) link.send(message);
  }

  isLinkedTo(link: MemberLink): boolean {
    return this.link === link;
  }

  close(): void {
    this.clearGrace();
    this.link = undefined;
    this.queue.length = 0;
  }

  private clearGrace(): void {
    if (this.graceTimer) clearTimeout(this.graceTimer);
    this.graceTimer = undefined;
  }
}
