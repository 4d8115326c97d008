import type { ConnectionContext } from "../lib/context.ts";
import type { ServerMessage } from "../signaling/protocol/replies.ts";
import type { ReplayBuffer } from "./replay-buffer.ts";

/** What a member needs from its current connection; rooms never see the WebSocket itself. */
export interface MemberLink {
  /** Writes one already serialised message. */
  sendText(text: string): void;
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
  replay: ReplayBuffer;
}

/**
 * A room member. It outlives its connection during the reconnect grace; every event it is sent
 * is numbered and kept in a bounded replay buffer, so a reconnect resumes exactly where the
 * client stopped reading.
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
  private readonly replay: ReplayBuffer;
  private detachedAt = 0;
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
    this.replay = o.replay;
  }

  get connected(): boolean {
    return this.link !== undefined;
  }

  /** Number of the last event sent to this member. */
  get lastSeq(): number {
    return this.replay.lastSeq;
  }

  send(message: ServerMessage): void {
    const text = this.replay.push(JSON.stringify(message));
    this.link?.sendText(text);
  }

  /** The connection dropped: keep the membership for `graceMs`, then call `expire`. */
  detach(graceMs: number, expire: () => void): void {
    this.link = undefined;
    this.detachedAt = this.replay.lastSeq;
    this.clearGrace();
    this.graceTimer = setTimeout(expire, graceMs);
  }

  /**
   * A reconnect: the old link (if still open) is replaced, then the events after `lastSeq`
   * (default: those sent since the drop was noticed) are replayed in order. Returns how many
   * of them were no longer kept.
   */
  attach(link: MemberLink, lastSeq?: number): number {
    this.clearGrace();
    const old = this.link;
    const from = lastSeq ?? (old ? this.replay.lastSeq : this.detachedAt);
    this.link = link;
    if (old && old !== link) old.replace();
    const { texts, missed } = this.replay.since(from);
    for (const text of texts) link.sendText(text);
    return missed;
  }

  /**
   * While connected, events older than `maxAgeMs` are forgotten: had the socket died, the heartbeat
   * would have noticed by then. After a drop nothing is forgotten by age until the grace ends.
   */
  prune(now: number, maxAgeMs: number): void {
    if (this.link) this.replay.prune(now, maxAgeMs);
  }

  isLinkedTo(link: MemberLink): boolean {
    return this.link === link;
  }

  close(): void {
    this.clearGrace();
    this.link = undefined;
    this.replay.clear();
  }

  private clearGrace(): void {
    if (this.graceTimer) clearTimeout(this.graceTimer);
    this.graceTimer = undefined;
  }
}
