import type { Worker } from "node:worker_threads";
import type { MediaConfig } from "../../config/media-config.ts";
import type { Metrics } from "../../metrics/metrics.ts";
import { EventHub } from "../event-hub.ts";
import { MediaError } from "../media-error.ts";
import type { MediaMember, MediaPort } from "../media-port.ts";
import type { MediaPlaneDeps } from "../werift/werift-media-plane.ts";
import { MetricsBridge } from "./metrics-bridge.ts";
import type { PlaneStats } from "./protocol.ts";
import { RoomPlacement } from "./room-placement.ts";
import { WorkerSupervisor } from "./worker-supervisor.ts";

const METRICS_TIMEOUT_MS = 1000;

export interface WorkerMediaPlane extends MediaPort {
  /** Sums of the workers' plane stats, plus how many workers run. */
  stats(): Promise<PlaneStats & { workers: number }>;
  /** Index of the worker that holds the room's media, if the room has members. */
  workerOf(roomId: string): number | undefined;
  /** Testing aid: the running Worker objects by index (undefined while one is being restarted). */
  workers(): ReadonlyArray<Worker | undefined>;
}

type MetricsSnapshot = Awaited<ReturnType<Metrics["registry"]["getMetricsAsJSON"]>>;

/**
 * The media plane spread over `options.workers` worker threads, each running newWeriftMediaPlane,
 * in the shape of mediasoup's Worker/Channel: WorkerSupervisor (one thread's lifetime and restart),
 * RpcChannel (typed calls with ids and deadlines), RoomPlacement (which worker holds a room, and the
 * one record of its media members). A crashed worker is restarted, its calls in flight fail
 * ("unavailable", wire 1328), its rooms' members are added again to the new worker (so a re-publish
 * works without re-joining), and its publishers are told (eventWebrtcDown) and their listeners see
 * them freeze (docs/media.md, "Worker threads").
 */
export function newWorkerMediaPlane(
  config: MediaConfig,
  deps: MediaPlaneDeps,
  options: { workers: number },
): WorkerMediaPlane {
  if (!Number.isInteger(options.workers) || options.workers < 1) {
    throw new RangeError(`workers must be a positive integer, got ${options.workers}`);
  }
  const log = deps.log.child({ component: "media-workers" });
  const hub = new EventHub(log);
  const placement = new RoomPlacement(options.workers);
  let closed = false;

  // TRANSCODE_MAX is per node: each worker's pool gets its share (rounded up).
  const workerConfig: MediaConfig = Object.freeze({
    ...config,
    transcode: Object.freeze({
      ...config.transcode,
      max: Math.ceil(config.transcode.max / options.workers),
    }),
  });
  const supervisors: WorkerSupervisor[] = [];
  const restarted = (index: number): void => {
    const supervisor = supervisors[index];
    if (!supervisor) return;
    for (const room of placement.roomsOn(index)) {
      for (const member of room.members) supervisor.post({ t: "addMember", member });
      for (const publisher of room.publishers) {
        hub.emit({ type: "freeze", roomId: room.roomId, publisher, frozen: true, durationMs: 0 });
        hub.emit({ type: "webrtcDown", roomId: room.roomId, to: publisher, from: "publisher" });
      }
    }
    placement.clearPublishers(index);
  };
  for (let index = 0; index < options.workers; index++) {
    supervisors.push(
      new WorkerSupervisor({
        index,
        config: workerConfig,
        log: deps.log,
        onEvent: (event) => hub.emit(event),
        onRestarted: restarted,
        onCrash: () => deps.metrics.mediaWorkerRestarts.inc(),
      }),
    );
  }

  const bridge = new MetricsBridge(
    deps.metrics,
    () =>
      Promise.all(
        supervisors.map(async (s) => ({
          state: s.metrics,
          snapshot: s.worker
            ? await s
                .request<MetricsSnapshot>({ t: "metrics" }, { timeoutMs: METRICS_TIMEOUT_MS })
                .catch(() => undefined)
            : undefined,
        })),
      ),
    ["webrtcsignaling_media_worker_restarts_total"],
  );

  const supervisorOf = (roomId: string): WorkerSupervisor => {
    if (closed) throw new MediaError("unavailable", "media plane is closed");
    const slot = placement.slotOf(roomId);
    const s = slot === undefined ? undefined : supervisors[slot];
    if (!s) throw new MediaError("not-member", "not a member of this room's media");
    return s;
  };

  return {
    addMember(member: MediaMember): void {
      if (closed) throw new MediaError("unavailable", "media plane is closed");
      const slot = placement.add(member);
      supervisors[slot]?.post({ t: "addMember", member: { ...member } });
    },

    removeMember(roomId: string, socketId: string): void {
      if (closed) return;
      const slot = placement.remove(roomId, socketId);
      if (slot !== undefined) supervisors[slot]?.post({ t: "removeMember", roomId, socketId });
    },

    async signal(roomId, socketId, target, sdp, callOptions) {
      const answer = await supervisorOf(roomId).request<Awaited<ReturnType<MediaPort["signal"]>>>(
        { t: "signal", roomId, socketId, target, sdp },
        callOptions?.signal ? { signal: callOptions.signal } : {},
      );
      if (target === "publisher") placement.markPublisher(roomId, socketId);
      return answer;
    },

    async candidate(roomId, socketId, target, candidate, callOptions) {
      await supervisorOf(roomId).request(
        { t: "candidate", roomId, socketId, target, candidate },
        callOptions?.signal ? { signal: callOptions.signal } : {},
      );
    },

    async setVideoQuality(roomId, socketId, publisher, quality, callOptions) {
      await supervisorOf(roomId).request(
        { t: "videoQuality", roomId, socketId, publisher, quality: { ...quality } },
        callOptions?.signal ? { signal: callOptions.signal } : {},
      );
    },

    onEvent(listener) {
      return hub.subscribe(listener);
    },

    async close(): Promise<void> {
      if (closed) return;
      // One last read so that /metrics keeps what the workers counted.
      await bridge.refresh().catch(() => undefined);
      closed = true;
      bridge.dispose();
      placement.clear();
      await Promise.all(supervisors.map((s) => s.close()));
      hub.clear();
    },

    async stats() {
      const all = await Promise.all(
        supervisors.map((s) =>
          s.worker ? s.request<PlaneStats>({ t: "stats" }, { timeoutMs: METRICS_TIMEOUT_MS }) : undefined,
        ),
      );
      const sum = { rooms: 0, members: 0, publishers: 0, listeners: 0, workers: 0 };
      for (const s of all) {
        if (!s) continue;
        sum.workers++;
        sum.rooms += s.rooms;
        sum.members += s.members;
        sum.publishers += s.publishers;
        sum.listeners += s.listeners;
      }
      return sum;
    },

    workerOf(roomId: string): number | undefined {
      return placement.slotOf(roomId);
    },

    workers() {
      return supervisors.map((s) => s.worker);
    },
  };
}
