import type { Logger } from "../../lib/logger.ts";
import { roomMaxHeight } from "../layer-selector.ts";
import { MediaError } from "../media-error.ts";
import {
  type IceCandidate,
  type MediaEvent,
  type MediaMember,
  type MediaTarget,
  PUBLISHER_TARGET,
  type SessionDescription,
  type VideoQuality,
} from "../media-port.ts";
import { offersH264ConstrainedBaseline } from "../sdp-check.ts";
import type { TranscoderPool } from "../transcode/transcoder-pool.ts";
import { codecKeyOf, type ListenerDeps, ListenerSession } from "./listener-session.ts";
import { type PublisherDeps, PublisherSession } from "./publisher-session.ts";

/** A failed listener connection is offered again at most this often per (publisher, member) pair. */
const REOFFER_MIN_INTERVAL_MS = 5000;

export interface RoomMediaDeps extends PublisherDeps {
  /** The media plane's transcoders (absent: no server-made layers). */
  transcode?: TranscoderPool;
}

/**
 * The media of one room: its members, their publisher sessions and one listener session per
 * (publisher, other member) pair. Owns them all; removing a member closes its publisher session,
 * every listener session of that publisher, and its own listener sessions.
 */
export class RoomMedia {
  readonly roomId: string;
  readonly #deps: PublisherDeps;
  readonly #listenerDeps: ListenerDeps;
  readonly #emit: (event: MediaEvent) => void;
  readonly #log: Logger;
  readonly #members = new Map<string, MediaMember>();
  readonly #publishers = new Map<string, PublisherSession>();
  /** key: `${publisher}\n${member}` */
  readonly #listeners = new Map<string, ListenerSession>();
  /** When a failed listener connection was last offered again, by pair key. */
  readonly #reoffers = new Map<string, number>();
  /** What members asked for (setVideoQuality), by pair key; kept for the pair's later connections. */
  readonly #qualities = new Map<string, VideoQuality>();

  constructor(roomId: string, deps: RoomMediaDeps, emit: (event: MediaEvent) => void) {
    this.roomId = roomId;
    this.#deps = { config: deps.config, metrics: deps.metrics, log: deps.log };
    this.#listenerDeps = {
      ...this.#deps,
      ...(deps.transcode ? { transcode: { pool: deps.transcode, roomId } } : {}),
    };
    this.#emit = emit;
    this.#log = deps.log.child({ roomId });
  }

  get isEmpty(): boolean {
    return this.#members.size === 0;
  }

  /** Listener connections that hold a transcoder now. */
  get transcodingListeners(): number {
    let n = 0;
    for (const l of this.#listeners.values()) if (l.transcoding) n++;
    return n;
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
    this.#roomSizeChanged();
    for (const publisher of this.#publishers.values()) {
      if (publisher.tracks.size > 0) this.#offerListener(publisher, member.socketId);
    }
  }

  /**
   * A member's wish for one publisher's video (maxHeight / maxLayer / paused): applies to its
   * listener connection now and to later ones of the same pair. 1298 when that publisher is not
   * (or no longer) in the room's media.
   */
  setVideoQuality(socketId: string, publisherId: string, quality: VideoQuality): void {
    this.#member(socketId);
    if (publisherId === socketId || !this.#members.has(publisherId))
      throw new MediaError("no-such-connection", `no media connection from ${publisherId}`);
    const key = pairKey(publisherId, socketId);
    this.#qualities.set(key, { ...quality });
    this.#listeners.get(key)?.setVideoQuality(quality);
  }

  /** Every listener gets the height the room's size allows (as eventUserMediaConfiguration announces). */
  #roomSizeChanged(): void {
    const height = roomMaxHeight(this.#members.size - 1);
    for (const listener of this.#listeners.values()) listener.setRoomMaxHeight(height);
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
    for (const key of this.#qualities.keys()) {
      const [p, m] = key.split("\n");
      if (p === socketId || m === socketId) this.#qualities.delete(key);
    }
    const publisher = this.#publishers.get(socketId);
    if (publisher) {
      this.#publishers.delete(socketId);
      closing.push(publisher.close());
    }
    this.#roomSizeChanged();
    await Promise.all(closing);
  }

  /** Resolves with the answer to a publish offer; undefined for a listener's answer. */
  async signal(
    socketId: string,
    target: MediaTarget,
    sdp: SessionDescription,
  ): Promise<SessionDescription | undefined> {
    this.#member(socketId);
    if (target === PUBLISHER_TARGET) return this.#publish(socketId, sdp);
    await this.#listener(target, socketId).answer(sdp);
    return undefined;
  }

  async candidate(socketId: string, target: MediaTarget, candidate: IceCandidate): Promise<void> {
    this.#member(socketId);
    if (target === PUBLISHER_TARGET) {
      const publisher = this.#publishers.get(socketId);
      if (!publisher)
        throw new MediaError(
          "no-such-connection",
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

  async #publish(socketId: string, sdp: SessionDescription): Promise<SessionDescription> {
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
    const { answer } = await publisher.offer(sdp, this.#preferH264(socketId, sdp.sdp));
    if (this.#publishers.get(socketId) !== publisher)
      throw new MediaError("not-member", "left the room while negotiating");
    this.#syncListeners(publisher);
    return answer;
  }

  /**
   * H.264 when configured, offered, and every other member that has published offered it too
   * (so it can decode it). Members that have not published are not known and do not count. Never
   * for a simulcast offer: layers are VP8 (and only VP8 gets a server-made layer), so a publisher
   * that can adapt per listener keeps VP8; H.264 is for single-encoding phones, as the original did.
   */
  #preferH264(socketId: string, offer: string): boolean {
    if (this.#deps.config.videoCodecPreference !== "h264" || !offersH264ConstrainedBaseline(offer))
      return false;
    if (/^a=simulcast:/m.test(offer)) return false;
    for (const [id, other] of this.#publishers) if (id !== socketId && !other.offeredH264) return false;
    return true;
  }

  /** Every other member gets a listener session matching the publisher's current kinds and codecs. */
  #syncListeners(publisher: PublisherSession): void {
    const key = codecKeyOf(publisher);
    for (const memberId of this.#members.keys()) {
      if (memberId === publisher.socketId) continue;
      const existing = this.#listeners.get(pairKey(publisher.socketId, memberId));
      if (existing && existing.codecKey === key) continue;
      if (existing && !this.#members.get(memberId)?.reoffer) {
        this.#endListener(existing, "codec change, and the member's client does not take re-offers");
        continue;
      }
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
    if (!this.#members.get(listener.memberId)?.reoffer) {
      this.#log.info(
        { publisher: from, member: listener.memberId },
        "listener connection failed; no re-offer to this client",
      );
      return;
    }
    const now = performance.now();
    const last = this.#reoffers.get(key);
    if (last !== undefined && now - last < REOFFER_MIN_INTERVAL_MS) return;
    this.#reoffers.set(key, now);
    if (this.#publishers.get(from) === listener.publisher && this.#members.has(listener.memberId)) {
      this.#offerListener(listener.publisher, listener.memberId);
    }
  }

  /** Closes a listener connection without a replacement and tells its member it is down. */
  #endListener(listener: ListenerSession, why: string): void {
    const key = pairKey(listener.publisher.socketId, listener.memberId);
    if (this.#listeners.get(key) !== listener) return;
    this.#listeners.delete(key);
    this.#reoffers.delete(key);
    this.#log.info(
      { publisher: listener.publisher.socketId, member: listener.memberId, why },
      "listener connection ended",
    );
    this.#emit({
      type: "webrtcDown",
      roomId: this.roomId,
      to: listener.memberId,
      from: listener.publisher.socketId,
    });
    void listener.close();
  }

  #offerListener(publisher: PublisherSession, memberId: string): void {
    const key = pairKey(publisher.socketId, memberId);
    const previous = this.#listeners.get(key);
    const from = publisher.socketId;
    const listener = new ListenerSession(memberId, publisher, this.#listenerDeps, {
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
    listener.setRoomMaxHeight(roomMaxHeight(this.#members.size - 1));
    const quality = this.#qualities.get(key);
    if (quality) listener.setVideoQuality(quality);
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
    if (!member) throw new MediaError("not-member", "not a member of this room's media");
    return member;
  }

  #listener(publisherId: string, memberId: string): ListenerSession {
    const listener = this.#listeners.get(pairKey(publisherId, memberId));
    if (!listener) throw new MediaError("no-such-connection", `no media connection from ${publisherId}`);
    return listener;
  }
}

function pairKey(publisherId: string, memberId: string): string {
  return `${publisherId}\n${memberId}`;
}
