import { Worker } from "node:worker_threads";
import type { MediaConfig } from "../../config/media-config.ts";
import { ErrorCode, ProtocolError } from "../../lib/errors.ts";
import type { Logger } from "../../lib/logger.ts";
import type { Metrics } from "../../metrics/metrics.ts";
import { EventHub } from "../event-hub.ts";
import type {
  IceCandidate,
  MediaEvent,
  MediaMember,
  MediaPort,
  MediaTarget,
  SessionDescription,
} from "../media-port.ts";
import type { MediaPlaneDeps } from "../werift-media-plane.ts";
import { MetricsBridge, WorkerMetricsState } from "./metrics-bridge.ts";
import {
  type FromWorker,
  fromWireError,
  type PlaneStats,
  type ToWorker,
  type WorkerInit,
  type WorkerRequest,
} from "./protocol.ts";

/** `.ts` when running from src/ (type stripping), `.js` from the tsc build in dist/. */
const workerUrl = new URL(`./media-worker.${import.meta.url.endsWith(".ts") ? "ts" : "js"}`, import.meta.url);

const METRICS_TIMEOUT_MS = 1000;
const CLOSE_TIMEOUT_MS = 5000;
/** A worker that dies within this time of its start is restarted after RESTART_DELAY_MS, not at once. */
const QUICK_CRASH_MS = 2000;
const RESTART_DELAY_MS = 1000;

export interface WorkerMediaPlane extends MediaPort {
  /** Sums of the workers' plane stats, plus how many workers run. */
  stats(): Promise<PlaneStats & { workers: number }>;
  /** Index of the worker that holds the room's media, if the room has members. */
  workerOf(roomId: string): number | undefined;
  /** Testing aid: the running Worker objects by index (undefined while one is being restarted). */
  workers(): ReadonlyArray<Worker | undefined>;
}

interface Pending {
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
}

interface Slot {
  index: number;
  worker: Worker | undefined;
  pending: Map<number, Pending>;
  metrics: WorkerMetricsState;
  /** Members in the rooms this worker holds (load for placement). */
  members: number;
  startedAt: number;
  restartTimer: NodeJS.Timeout | undefined;
  exited: Promise<void>;
}

interface RoomEntry {
  slot: Slot;
  members: Map<string, MediaMember>;
  /** Members whose publish offer was answered (told about a worker crash). */
  publishers: Set<string>;
}

/**
 * The media plane spread over `options.workers` worker threads, each running newWeriftMediaPlane.
 * A room lives on one worker, chosen least-loaded (fewest members) when its first member arrives and
 * kept until its last member leaves. Calls cross as messages with request ids; ProtocolErrors keep
 * their code. A crashed worker is logged, counted, restarted, its pending calls fail with 1328, its
 * rooms' members are added again to the new worker (so a re-publish works without re-joining), and
 * every member of those rooms is told that their publishers froze (docs/media.md, "Worker threads").
 */
export function newWorkerMediaPlane(
  config: MediaConfig,
  deps: MediaPlaneDeps,
  options: { workers: number },
): WorkerMediaPlane {
  if (!Number.isInteger(options.workers) || options.workers < 1) {
    throw new RangeError(`workers must be a positive integer, got ${options.workers}`);
  }
  const log: Logger = deps.log.child({ component: "media-workers" });
  const hub = new EventHub(log);
  const rooms = new Map<string, RoomEntry>();
  let nextId = 1;
  let closed = false;

  const slots: Slot[] = [];
  for (let index = 0; index < options.workers; index++) {
    const slot: Slot = {
      index,
      worker: undefined,
      pending: new Map(),
      metrics: new WorkerMetricsState(),
      members: 0,
      startedAt: 0,
      restartTimer: undefined,
      exited: Promise.resolve(),
    };
    slots.push(slot);
    start(slot);
  }

  const bridge = new MetricsBridge(
    deps.metrics,
    () =>
      Promise.all(
        slots.map(async (slot) => ({
          state: slot.metrics,
          snapshot: slot.worker
            ? await request<Awaited<ReturnType<Metrics["registry"]["getMetricsAsJSON"]>>>(
                slot,
                { t: "metrics" },
                METRICS_TIMEOUT_MS,
              ).catch(() => undefined)
            : undefined,
        })),
      ),
    ["webrtcsignaling_media_worker_restarts_total"],
  );

  function start(slot: Slot): void {
    const init: WorkerInit = { config, logLevel: deps.log.level, index: slot.index };
    const worker = new Worker(workerUrl, { workerData: init, name: `media-${slot.index}` });
    const wlog = log.child({ mediaWorker: slot.index, threadId: worker.threadId });
    slot.worker = worker;
    slot.startedAt = Date.now();
    slot.metrics = new WorkerMetricsState();
    let resolveExit: () => void = () => {};
    slot.exited = new Promise((r) => {
      resolveExit = r;
    });
    worker.on("message", (m: FromWorker) => {
      if (m.t === "event") hub.emit(m.event);
      else if (m.t === "result") {
        const p = slot.pending.get(m.id);
        if (!p) return;
        slot.pending.delete(m.id);
        if (m.ok) p.resolve(m.value);
        else p.reject(fromWireError(m.error));
      } else if (m.t === "log") relayLog(deps.log, slot.index, m.line);
    });
    worker.on("error", (err) => wlog.error({ err }, "media worker crashed"));
    worker.on("exit", (code) => {
      resolveExit();
      if (slot.worker !== worker) return;
      slot.worker = undefined;
      failPending(slot, "media worker stopped");
      if (closed) return;
      deps.metrics.mediaWorkerRestarts.inc();
      const quick = Date.now() - slot.startedAt < QUICK_CRASH_MS;
      wlog.error(
        { exitCode: code, restartInMs: quick ? RESTART_DELAY_MS : 0 },
        "media worker exited: restarting",
      );
      if (quick) {
        slot.restartTimer = setTimeout(() => {
          slot.restartTimer = undefined;
          restart(slot);
        }, RESTART_DELAY_MS);
      } else restart(slot);
    });
  }

  /** A fresh worker for the slot; its rooms' members are added again and learn that their publishers are gone. */
  function restart(slot: Slot): void {
    if (closed) return;
    start(slot);
    for (const [roomId, room] of rooms) {
      if (room.slot !== slot) continue;
      for (const member of room.members.values()) post(slot, { t: "addMember", member });
      for (const publisher of room.publishers) {
        hub.emit({ type: "freeze", roomId, publisher, frozen: true, durationMs: 0 });
        hub.emit({ type: "webrtcDown", roomId, to: publisher, from: "publisher" });
      }
      room.publishers.clear();
    }
  }

  function failPending(slot: Slot, why: string): void {
    const pending = [...slot.pending.values()];
    slot.pending.clear();
    for (const p of pending) p.reject(new ProtocolError(ErrorCode.network, why));
  }

  function post(slot: Slot, m: ToWorker): void {
    slot.worker?.postMessage(m);
  }

  function request<T>(slot: Slot, body: WorkerRequest, timeoutMs?: number): Promise<T> {
    const worker = slot.worker;
    if (!worker) return Promise.reject(new ProtocolError(ErrorCode.network, "media worker is restarting"));
    const id = nextId++;
    return new Promise<T>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const done = () => {
        if (timer) clearTimeout(timer);
        slot.pending.delete(id);
      };
      slot.pending.set(id, {
        resolve: (v) => {
          done();
          resolve(v as T);
        },
        reject: (err) => {
          done();
          reject(err);
        },
      });
      if (timeoutMs !== undefined) {
        timer = setTimeout(() => {
          slot.pending.delete(id);
          reject(new ProtocolError(ErrorCode.network, `media worker did not answer ${body.t} in time`));
        }, timeoutMs);
      }
      worker.postMessage({ id, ...body } satisfies ToWorker);
    });
  }

  function roomOf(roomId: string): RoomEntry {
    if (closed) throw new ProtocolError(ErrorCode.network, "media plane is closed");
    const r = rooms.get(roomId);
    if (!r) throw new ProtocolError(ErrorCode.notJoined, "not a member of this room's media");
    return r;
  }

  const leastLoaded = (): Slot => slots.reduce((best, s) => (s.members < best.members ? s : best));

  return {
    addMember(member: MediaMember): void {
      if (closed) throw new ProtocolError(ErrorCode.network, "media plane is closed");
      let room = rooms.get(member.roomId);
      if (!room) {
        room = { slot: leastLoaded(), members: new Map(), publishers: new Set() };
        rooms.set(member.roomId, room);
      }
      if (!room.members.has(member.socketId)) room.slot.members++;
      room.members.set(member.socketId, { ...member });
      post(room.slot, { t: "addMember", member: { ...member } });
    },

    removeMember(roomId: string, socketId: string): void {
      const room = rooms.get(roomId);
      if (!room || closed) return;
      if (room.members.delete(socketId)) room.slot.members--;
      room.publishers.delete(socketId);
      post(room.slot, { t: "removeMember", roomId, socketId });
      if (room.members.size === 0) rooms.delete(roomId);
    },

    async signal(
      roomId: string,
      socketId: string,
      target: MediaTarget,
      sdp: SessionDescription,
    ): Promise<void> {
      const room = roomOf(roomId);
      await request(room.slot, { t: "signal", roomId, socketId, target, sdp });
      if (target === "publisher" && room.members.has(socketId)) room.publishers.add(socketId);
    },

    async candidate(
      roomId: string,
      socketId: string,
      target: MediaTarget,
      candidate: IceCandidate,
    ): Promise<void> {
      await request(roomOf(roomId).slot, { t: "candidate", roomId, socketId, target, candidate });
    },

    onEvent(listener: (event: MediaEvent) => void): () => void {
      return hub.subscribe(listener);
    },

    async close(): Promise<void> {
      if (closed) return;
      // One last read so that /metrics keeps what the workers counted.
      await bridge.refresh().catch(() => undefined);
      closed = true;
      bridge.dispose();
      rooms.clear();
      await Promise.all(
        slots.map(async (slot) => {
          if (slot.restartTimer) clearTimeout(slot.restartTimer);
          slot.restartTimer = undefined;
          const worker = slot.worker;
          if (!worker) return;
          await request(slot, { t: "close" }, CLOSE_TIMEOUT_MS).catch((err: unknown) =>
            log.warn({ err, mediaWorker: slot.index }, "media worker did not close cleanly"),
          );
          await worker.terminate();
          await slot.exited;
          slot.worker = undefined;
          failPending(slot, "media plane is closed");
        }),
      );
      hub.clear();
    },

    async stats() {
      const all = await Promise.all(
        slots.map((s) => (s.worker ? request<PlaneStats>(s, { t: "stats" }, METRICS_TIMEOUT_MS) : undefined)),
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
      return rooms.get(roomId)?.slot.index;
    },

    workers() {
      return slots.map((s) => s.worker);
    },
  };
}

/** Re-logs one of the worker's pino JSON lines through the parent's logger (same destination and level). */
function relayLog(log: Logger, index: number, line: string): void {
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(line) as Record<string, unknown>;
  } catch {
    log.warn({ mediaWorker: index, line: line.slice(0, 500) }, "unparseable media worker log line");
    return;
  }
  const { level, time: _time, msg, ...fields } = record;
  const label = typeof level === "number" ? log.levels.labels[level] : undefined;
  const write =
    label && label in log ? (log[label as "info"] as Logger["info"]).bind(log) : log.info.bind(log);
  write({ ...fields, mediaWorker: index }, typeof msg === "string" ? msg : "");
}
