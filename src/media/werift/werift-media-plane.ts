import type { MediaConfig } from "../../config/media-config.ts";
import type { Logger } from "../../lib/logger.ts";
import type { Metrics } from "../../metrics/metrics.ts";
import { EventHub } from "../event-hub.ts";
import { MediaError, withDeadline } from "../media-error.ts";
import type { MediaMember, MediaPort } from "../media-port.ts";
import { TranscoderPool } from "../transcode/transcoder-pool.ts";
import { installWeriftCompat } from "./compat.ts";
import { RoomMedia } from "./room-media.ts";

export interface MediaPlaneDeps {
  log: Logger;
  metrics: Metrics;
  /**
   * Import werift's SRTP session keys once per session as KeyObjects (src/media/werift/srtp-key-cache.ts);
   * default true. false leaves werift's SRTP as shipped (the benchmark's `--stock-srtp`). It is
   * process-wide: once installed by one plane, it stays for every connection of the process.
   */
  srtpKeyCache?: boolean;
}

/** A MediaPort with introspection for tests and /state. */
export interface WeriftMediaPlane extends MediaPort {
  /** Open rooms and the sessions in them. */
  stats(): { rooms: number; members: number; publishers: number; listeners: number };
  /** Listener connections that hold a transcoder now (their gate targets or forwards the server-made layer). */
  transcodingListeners(): number;
}

/**
 * The werift-based MCU media plane: rooms -> publisher and listener sessions -> forwarders.
 * Everything it takes and emits is plain data (MediaPort), so it can be moved behind a
 * worker_threads boundary without changing callers (docs/media.md).
 */
export function newWeriftMediaPlane(config: MediaConfig, deps: MediaPlaneDeps): WeriftMediaPlane {
  const log = deps.log.child({ component: "media" });
  // Before any RTCPeerConnection exists; idempotent, and a no-op with a warning on an unexpected werift.
  // The SRTP key cache (a wrap of werift's cipher classes) only for paths where werift's SRTP carries
  // media: on the own paths werift encrypts nothing but a few RTCP packets per second.
  const werift = config.forwarding === "werift" || config.receive === "werift";
  installWeriftCompat(log, { srtpKeyCache: deps.srtpKeyCache !== false && werift });
  const hub = new EventHub(log);
  // Looks for GStreamer once (logged: on, or off and why; webrtcsignaling_media_transcode_available).
  const transcode = new TranscoderPool({ config: config.transcode, metrics: deps.metrics, log });
  const rooms = new Map<string, RoomMedia>();
  const removals = new Set<Promise<void>>();
  let closed = false;

  const room = (roomId: string): RoomMedia => {
    if (closed) throw new MediaError("unavailable", "media plane is closed");
    const r = rooms.get(roomId);
    if (!r) throw new MediaError("not-member", "not a member of this room's media");
    return r;
  };

  const track = (p: Promise<void>): void => {
    removals.add(p);
    p.catch((err: unknown) => log.error({ err }, "media cleanup failed")).finally(() => removals.delete(p));
  };

  return {
    addMember(member: MediaMember): void {
      if (closed) throw new MediaError("unavailable", "media plane is closed");
      let r = rooms.get(member.roomId);
      if (!r) {
        r = new RoomMedia(member.roomId, { config, metrics: deps.metrics, log, transcode }, (e) =>
          hub.emit(e),
        );
        rooms.set(member.roomId, r);
      }
      r.addMember(member);
    },

    removeMember(roomId: string, socketId: string): void {
      const r = rooms.get(roomId);
      if (!r) return;
      track(r.removeMember(socketId));
      if (r.isEmpty) rooms.delete(roomId);
    },

    signal(roomId, socketId, target, sdp, options) {
      try {
        return withDeadline(room(roomId).signal(socketId, target, sdp), options?.signal, "signal");
      } catch (err) {
        return Promise.reject(err);
      }
    },

    candidate(roomId, socketId, target, candidate, options) {
      try {
        return withDeadline(
          room(roomId).candidate(socketId, target, candidate),
          options?.signal,
          "candidate",
        );
      } catch (err) {
        return Promise.reject(err);
      }
    },

    setVideoQuality(roomId, socketId, publisher, quality) {
      try {
        room(roomId).setVideoQuality(socketId, publisher, quality);
        return Promise.resolve();
      } catch (err) {
        return Promise.reject(err);
      }
    },

    onEvent(listener) {
      return hub.subscribe(listener);
    },

    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      const all = [...rooms.values()];
      rooms.clear();
      await Promise.all([...all.map((r) => r.close()), ...removals]);
      // After the listeners: their leases are released, then every transcoder process is waited for.
      await transcode.close();
      hub.clear();
    },

    transcodingListeners() {
      let n = 0;
      for (const r of rooms.values()) n += r.transcodingListeners;
      return n;
    },

    stats() {
      const s = { rooms: rooms.size, members: 0, publishers: 0, listeners: 0 };
      for (const r of rooms.values()) {
        const c = r.counts;
        s.members += c.members;
        s.publishers += c.publishers;
        s.listeners += c.listeners;
      }
      return s;
    },
  };
}
