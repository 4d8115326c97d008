import type { ServerEventName, ServerEvents } from "../protocol/wire.ts";
import type { MemberSink } from "../rooms/member.ts";
import { ReplayBuffer } from "./replay-buffer.ts";

/** What a member's channel writes to: its current connection. */
export interface ChannelLink {
  /** Writes one already serialised message. */
  sendText(text: string): void;
  /** Ends the link without leaving the room (a reconnect replaced it): close 4000. */
  replace(): void;
  /** Ends the link because a newer join of the same user took the member's place: close 4001. */
  supersede(): void;
}

export interface ChannelLimits {
  /** Messages kept for a reconnect's replay. */
  queueMax: number;
  /** Bytes kept for a reconnect's replay. */
  bufferBytes: number;
}

/**
 * The signaling side of one member: every event it is sent is serialised once, numbered (`n`),
 * kept in a bounded replay buffer and written to the member's current connection, if any. It
 * outlives connections: a reconnect attaches a new one and replays exactly what the client did not
 * read. Rooms see it only as a MemberSink.
 */
export class MemberChannel implements MemberSink {
  readonly #replay: ReplayBuffer;
  #link: ChannelLink | undefined;
  #detachedAt = 0;
  #closed = false;

  constructor(link: ChannelLink, limits: ChannelLimits, firstSeq = 0) {
    this.#link = link;
    this.#replay = new ReplayBuffer(limits.queueMax, limits.bufferBytes, firstSeq);
  }

  get closed(): boolean {
    return this.#closed;
  }

  get connected(): boolean {
    return this.#link !== undefined;
  }

  /** Number of the last event sent to this member. */
  get lastSeq(): number {
    return this.#replay.lastSeq;
  }

  send<K extends ServerEventName>(name: K, data: ServerEvents[K]): void {
    const text = this.#replay.push(JSON.stringify({ a: name, d: data }));
    this.#link?.sendText(text);
  }

  isLinkedTo(link: ChannelLink): boolean {
    return this.#link === link;
  }

  /** The connection dropped: events are kept (not written) until a reconnect or the member leaves. */
  detach(): void {
    this.#link = undefined;
    this.#detachedAt = this.#replay.lastSeq;
  }

  /**
   * A reconnect: the old link (if still open) is replaced, then the events after `lastSeq`
   * (default: those sent since the drop was noticed) are replayed in order. Returns how many
   * of them were no longer kept.
   */
  attach(link: ChannelLink, lastSeq?: number): number {
    const old = this.#link;
    const from = lastSeq ?? (old ? this.#replay.lastSeq : this.#detachedAt);
    this.#link = link;
    if (old && old !== link) old.replace();
    const { texts, missed } = this.#replay.since(from);
    for (const text of texts) link.sendText(text);
    return missed;
  }

  /**
   * While connected, events older than `maxAgeMs` are forgotten: had the socket died, the heartbeat
   * would have noticed by then. After a drop nothing is forgotten by age until the grace ends.
   */
  prune(now: number, maxAgeMs: number): void {
    if (this.#link) this.#replay.prune(now, maxAgeMs);
  }

  supersede(): void {
    const link = this.#link;
    this.#link = undefined;
    link?.supersede();
  }

  close(): void {
    this.#closed = true;
    this.#link = undefined;
    this.#replay.clear();
  }
}
