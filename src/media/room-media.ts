import { ErrorCode, ProtocolError } from "../lib/errors.ts";
import type { Logger } from "../lib/logger.ts";
import { codecKeyOf, ListenerSession } from "./listener-session.ts";
import {
  type IceCandidate,
  type MediaEvent,
  type MediaMember,
  type MediaTarget,
  PUBLISHER_TARGET,
  type SessionDescription,
} from "./media-port.ts";
import { type PublisherDeps, PublisherSession } from "./publisher-session.ts";

/** A failed listener connection is offered again at most this often per (publisher, member) pair. */
const REOFFER_MIN_INTERVAL_MS = 5000;

/**
 * The media of one room: its members, their publisher sessions and one listener session per
 * (publisher, other member) pair. Owns them all; removing a member closes its publisher session,
 * every listener session of that publisher, and its own listener sessions.
 */
export class RoomMedia {
  readonly roomId: string;
  readonly #deps: PublisherDeps;
  readonly #emit: (event: MediaEvent) => void;
  readonly #log: Logger;
  readonly #members = new Map<string, MediaMember>();
  readonly #publishers = new Map<string, PublisherSession>();
  /** key: `${publisher}\n${member}` */
  readonly #listeners = new Map<string, ListenerSession>();
  /** When a failed listener connection was last offered again, by pair key. */
  readonly #reoffers = new Map<string, number>();

  constructor(roomId: string, deps: PublisherDeps, emit: (event: MediaEvent) => void) {
    this.roomId = roomId;
    this.#deps = deps;
    this.#emit = emit;
    this.#log = deps.log.child({ roomId });
  }

  get isEmpty(): boolean {
    return this.#members.size === 0;
  }

  get counts(): { members: number; publishers: number; listeners: number } {
    return {
      members: this.#members.size,
      publishers: this.#publishers.size,
      listeners: this.#listeners.size,
    };
  }

  addMember(member: MediaMember): void {
    if (this.#members.has(member.socketId)) return;
    this.#members.set(member.socketId, member);
    for (const publisher of this.#publishers.values()) {
      if (publisher.tracks.size > 0) this.#offerListener(publisher, member.socketId);
    }
  }

  async removeMember(socketId: string): Promise<void> {
    if (!this.#members.delete(socketId)) return;
    const closing: Promise<void>[] = [];
    for (const [key, listener] of this.#listeners) {
      if (listener.memberId === socketId || listener.publisher.socketId === socketId) {
        this.#listeners.delete(key);
        this.#reoffers.delete(key);
        closing.push(listener.close());
      }
    }
    const publisher = this.#publishers.get(socketId);
    if (publisher) {
      this.#publishers.delete(socketId);
      closing.push(publisher.close());
    }
    await Promise.all(closing);
  }

  async signal(socketId: string, target: MediaTarget, sdp: SessionDescription): Promise<void> {
    this.#member(socketId);
    if (target === PUBLISHER_TARGET) {
      await this.#publish(socketId, sdp);
      return;
    }
    await this.#listener(target, socketId).answer(sdp);
  }

  async candidate(socketId: string, target: MediaTarget, candidate: IceCandidate): Promise<void> {
    this.#member(socketId);
    if (target === PUBLISHER_TARGET) {
      const publisher = this.#publishers.get(socketId);
      if (!publisher)
        throw new ProtocolError(
          ErrorCode.noSuchTarget,
          "candidate for a publisher connection that does not exist",
        );
      await publisher.candidate(candidate);
      return;
    }
    await this.#listener(target, socketId).candidate(candidate);
  }

  async close(): Promise<void> {
    const ids = [...this.#members.keys()];
    await Promise.all(ids.map((id) => this.removeMember(id)));
  }

  async #publish(socketId: string, sdp: SessionDescription): Promise<void> {
    let publisher = this.#publishers.get(socketId);
    if (!publisher) {
      publisher = new PublisherSession(socketId, this.#deps, {
        candidate: (candidate) =>
          this.#emit({
            type: "candidate",
            roomId: this.roomId,
            to: socketId,
            from: PUBLISHER_TARGET,
            candidate,
          }),
        up: () => this.#emit({ type: "webrtcUp", roomId: this.roomId, to: socketId, from: PUBLISHER_TARGET }),
        freeze: (frozen, durationMs) =>
          this.#emit({ type: "freeze", roomId: this.roomId, publisher: socketId, frozen, durationMs }),
        down: () =>
          this.#emit({ type: "webrtcDown", roomId: this.roomId, to: socketId, from: PUBLISHER_TARGET }),
      });
      this.#publishers.set(socketId, publisher);
    }
    const { answer } = await publisher.offer(sdp);
    if (this.#publishers.get(socketId) !== publisher) return; // left while negotiating
    this.#emit({ type: "sdp", roomId: this.roomId, to: socketId, from: PUBLISHER_TARGET, sdp: answer });
    this.#syncListeners(publisher);
  }

  /** Every other member gets a listener session matching the publisher's current kinds and codecs. */
  #syncListeners(publisher: PublisherSession): void {
    const key = codecKeyOf(publisher);
    for (const memberId of this.#members.keys()) {
      if (memberId === publisher.socketId) continue;
      const existing = this.#listeners.get(pairKey(publisher.socketId, memberId));
      if (existing && existing.codecKey === key) continue;
      this.#offerListener(publisher, memberId);
    }
  }

  /**
   * A listener connection failed: tell the member it is down and offer a fresh one, at most once
   * per REOFFER_MIN_INTERVAL_MS per pair so that a connection that cannot work does not spin.
   */
  #listenerFailed(key: string, listener: ListenerSession): void {
    if (this.#listeners.get(key) !== listener) return;
    const from = listener.publisher.socketId;
    this.#emit({ type: "webrtcDown", roomId: this.roomId, to: listener.memberId, from });
    const now = performance.now();
    const last = this.#reoffers.get(key);
    if (last !== undefined && now - last < REOFFER_MIN_INTERVAL_MS) return;
    this.#reoffers.set(key, now);
    if (this.#publishers.get(from) === listener.publisher && this.#members.has(listener.memberId)) {
      this.#offerListener(listener.publisher, listener.memberId);
    }
  }

  #offerListener(publisher: PublisherSession, memberId: string): void {
    const key = pairKey(publisher.socketId, memberId);
    const previous = this.#listeners.get(key);
    const from = publisher.socketId;
    const listener = new ListenerSession(memberId, publisher, this.#deps, {
      candidate: (candidate) => {
        if (this.#listeners.get(key) === listener) {
          this.#emit({ type: "candidate", roomId: this.roomId, to: memberId, from, candidate });
        }
      },
      up: () => {
        if (this.#listeners.get(key) === listener)
          this.#emit({ type: "webrtcUp", roomId: this.roomId, to: memberId, from });
      },
      failed: () => this.#listenerFailed(key, listener),
    });
    this.#listeners.set(key, listener);
    if (previous) void previous.close();
    listener.offer().then(
      (offer) => {
        if (this.#listeners.get(key) === listener) {
          this.#emit({ type: "sdp", roomId: this.roomId, to: memberId, from, sdp: offer });
        }
      },
      (err: unknown) => {
        this.#log.error({ err, publisher: from, member: memberId }, "cannot create a listener offer");
        if (this.#listeners.get(key) === listener) this.#listeners.delete(key);
        void listener.close();
      },
    );
  }

  #member(socketId: string): MediaMember {
    const member = this.#members.get(socketId);
    if (!member) throw new ProtocolError(ErrorCode.notJoined, "not a member of this room's media");
    return member;
  }

  #listener(publisherId: string, memberId: string): ListenerSession {
    const listener = this.#listeners.get(pairKey(publisherId, memberId));
    if (!listener) throw new ProtocolError(ErrorCode.noSuchTarget, `no media connection from ${publisherId}`);
    return listener;
  }
}

function pairKey(publisherId: string, memberId: string): string {
  return `${publisherId}\n${memberId}`;
}
