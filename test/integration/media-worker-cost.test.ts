import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { Worker } from "node:worker_threads";
import { loadMediaConfig } from "../../src/config/media-config.ts";
import { newSilentLogger } from "../../src/lib/logger.ts";
import { newWorkerMediaPlane, type WorkerMediaPlane } from "../../src/media/worker/worker-media-plane.ts";
import { newMetrics } from "../../src/metrics/metrics.ts";
import type { FromWorker, ToWorker } from "../helpers/werift-cost-worker.ts";
import { counterValue, waitFor } from "../helpers/werift-room.ts";

/**
 * Opt-in measurement (MEDIA_WORKER_COST=1): two rooms of 1 publisher + 10 listeners, with the
 * media plane in 1 then 2 worker threads, at two loads. Reports forwarded packets/s and the CPU of
 * the media threads (from /proc/self/task/<tid>/stat, threads named media-*) per forwarded packet.
 * The peers run in their own worker threads (one per room) on the same cores, so at high load they
 * compete with the media workers: the figures are a floor, not a capacity.
 */
const ROOMS = 2;
const LISTENERS = 10;
const MEASURE_MS = 4000;

function mediaThreadTicks(): number {
  let ticks = 0;
  for (const t of readdirSync("/proc/self/task")) {
    try {
      const stat = readFileSync(`/proc/self/task/${t}/stat`, "utf8");
      const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      if (!comm.startsWith("media-")) continue;
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      ticks += Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15 of stat)
    } catch {
      // thread gone
    }
  }
  return ticks;
}

async function run(workers: number, packetsPerFrame: number): Promise<string> {
  const metrics = newMetrics({ processMetrics: false });
  const plane: WorkerMediaPlane = newWorkerMediaPlane(
    loadMediaConfig({ PUBLIC_IPV4: "127.0.0.1" }),
    { log: newSilentLogger(), metrics },
    { workers },
  );
  const listeners = Array.from({ length: LISTENERS }, (_, i) => `l${i}`);
  const peers = Array.from({ length: ROOMS }, (_, r) => {
    const roomId = `cost-${workers}-${packetsPerFrame}-${r}`;
    const worker = new Worker(new URL("../helpers/werift-cost-worker.ts", import.meta.url), {
      workerData: { roomId, listeners },
    });
    const state = { roomId, worker, progress: { up: 0, received: 0 } };
    worker.on("message", (m: FromWorker) => {
      if (m.kind === "progress") state.progress = m;
      else {
        const target = m.target === "publisher" ? m.target : `${roomId}/${m.target}`;
        void plane
          .signal(roomId, `${roomId}/${m.socketId}`, target, m.sdp)
          .then((answer) => {
            // A publish answer is signal's result: hand it to the peers like the server's other descriptions.
            if (answer)
              worker.postMessage({
                kind: "event",
                event: { type: "sdp", roomId, to: m.socketId, from: "publisher", sdp: answer },
              } satisfies ToWorker);
          })
          .catch(() => {});
      }
    });
    return state;
  });
  // Socket ids are unique per server: prefix them with the room, strip the prefix for the peers.
  const stop = plane.onEvent((event) => {
    for (const p of peers) {
      if (event.roomId !== p.roomId) continue;
      const strip = (id: string) => (id.startsWith(`${p.roomId}/`) ? id.slice(p.roomId.length + 1) : id);
      const e =
        event.type === "freeze"
          ? { ...event, publisher: strip(event.publisher) }
          : { ...event, to: strip(event.to), from: strip(event.from) };
      p.worker.postMessage({ kind: "event", event: e } satisfies ToWorker);
    }
  });
  for (const p of peers) {
    for (const id of ["pub", ...listeners])
      plane.addMember({ roomId: p.roomId, socketId: `${p.roomId}/${id}`, userId: id, reoffer: true });
    p.worker.postMessage({ kind: "publish" } satisfies ToWorker);
    p.worker.postMessage({ kind: "start", packetsPerFrame } satisfies ToWorker);
  }
  await waitFor(
    "every listener up and receiving",
    () => peers.every((p) => p.progress.up === LISTENERS && p.progress.received > LISTENERS * 50),
    30_000,
    () => JSON.stringify(peers.map((p) => p.progress)),
  );
  const placement = peers.map((p) => plane.workerOf(p.roomId)).join(",");
  const out0 = await counterValue(metrics, "rtpPacketsOut");
  const ticks0 = mediaThreadTicks();
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, MEASURE_MS));
  const ticks = mediaThreadTicks() - ticks0;
  const wall = performance.now() - t0;
  const forwarded = (await counterValue(metrics, "rtpPacketsOut")) - out0;
  const cpuMs = ticks * 10; // CLK_TCK = 100
  stop();
  for (const p of peers) p.worker.postMessage({ kind: "stop" } satisfies ToWorker);
  await Promise.all(peers.map((p) => new Promise((r) => p.worker.once("exit", r))));
  await plane.close();
  assert.ok(forwarded > 1000, `${forwarded}`);
  return `workers=${workers} ppf=${packetsPerFrame} rooms on [${placement}]: ${Math.round((forwarded * 1000) / wall)} forwarded/s, media threads ${((cpuMs / wall) * 100).toFixed(0)} % of a core, ${((cpuMs * 1000) / forwarded).toFixed(1)} us/forwarded packet`;
}

describe("media workers: cost", { skip: !process.env.MEDIA_WORKER_COST && "set MEDIA_WORKER_COST=1" }, () => {
  for (const ppf of [12, 40]) {
    for (const workers of [1, 2]) {
      it(`2 rooms x (1 publisher + 10 listeners), ${workers} worker(s), ${ppf} packets/frame`, async () => {
        console.log(`media worker cost: ${await run(workers, ppf)}`);
      });
    }
  }
});
