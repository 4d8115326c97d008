/**
 * Scenario 6: the cost of simulcast (issue 12). CPU of the media plane's thread per forwarded
 * packet, 1 publisher -> L listeners (default 10), for a single-encoding publisher (the baseline:
 * 5 packets of 1000 bytes per frame, 25 fps) and for a 3-layer simulcast publisher whose top layer
 * is the same (plus 1 x 500 and 2 x 800 bytes per frame on the lower layers, received, decrypted,
 * bookkept and not forwarded), every listener on the top layer (start estimate 4 Mbit/s, no REMB:
 * nobody moves). The plane runs in this process (WeriftMediaPlane, as in a media worker); the
 * werift peers run in a worker thread (test/helpers/werift-cost-worker.ts), so
 * process.threadCpuUsage() is the plane's share alone. Each round measures both, the order
 * alternating round by round; each measurement sets its room up afresh.
 */
import { Worker } from "node:worker_threads";
import type { FromWorker, ToWorker } from "../../test/helpers/werift-cost-worker.ts";
import { counterValue, TestRoom, waitFor } from "../../test/helpers/werift-room.ts";
import { fmt, ratio, SPREAD_HEADER, spread, spreadRow, table, verdict } from "../lib/stats.ts";

export interface SimulcastOptions {
  listeners: number;
  rounds: number;
  /** Measured window per run (after 1 s of settling). */
  windowMs: number;
  log?: (line: string) => void;
}

export interface SimulcastWindow {
  forwarded: number;
  wallMs: number;
  cpuUs: number;
  usPerPacket: number;
  packetsPerSec: number;
}

/** The ratio simulcast / single encoding of the median CPU per forwarded packet must stay under this. */
export const SIMULCAST_COST_TARGET = 1.1;

/** One publisher and `listeners` listeners in a fresh room; one measured window. */
export async function measureSimulcastCost(
  simulcast: boolean,
  listenerCount: number,
  windowMs: number,
): Promise<SimulcastWindow> {
  const listeners = Array.from({ length: listenerCount }, (_, i) => `l${i}`);
  const room = new TestRoom(`room-simulcast-cost-${simulcast}`, {
    BITRATE_VIDEO_START: "4000000",
    BITRATE_VIDEO_MAX: "8000000",
  });
  const worker = new Worker(new URL("../../test/helpers/werift-cost-worker.ts", import.meta.url), {
    workerData: { roomId: room.roomId, listeners, simulcast },
  });
  const send = (m: ToWorker) => worker.postMessage(m);
  let progress = { up: 0, received: 0 };
  worker.on("message", (m: FromWorker) => {
    if (m.kind === "progress") progress = m;
    else
      void room.plane.signal(room.roomId, m.socketId, m.target, m.sdp).then((answer) => {
        if (answer)
          send({
            kind: "event",
            event: { type: "sdp", roomId: room.roomId, to: m.socketId, from: "publisher", sdp: answer },
          });
      });
  });
  const stopEvents = room.plane.onEvent((event) => send({ kind: "event", event }));
  for (const id of ["pub", ...listeners])
    room.plane.addMember({ roomId: room.roomId, socketId: id, userId: id, reoffer: true });
  send({ kind: "publish" });
  send({ kind: "start", packetsPerFrame: 5 });
  try {
    await waitFor(
      `${listenerCount} listeners up and receiving`,
      () => progress.up === listenerCount && progress.received > listenerCount * 100,
      60_000,
      () => JSON.stringify(progress),
    );
    if (simulcast) {
      // The room size alone would cap a large room at the low layer: the listeners ask for the top.
      for (const id of listeners) await room.plane.setVideoQuality(room.roomId, id, "pub", { maxLayer: 2 });
      const onTop = async () =>
        (await room.metrics.simulcastListeners.get()).values.find((v) => v.labels.layer === "2")?.value ?? 0;
      const deadline = Date.now() + 15_000;
      while ((await onTop()) < listenerCount) {
        if (Date.now() > deadline) throw new Error(`listeners on the top layer: ${await onTop()}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    await new Promise((r) => setTimeout(r, 1000));
    const out0 = await counterValue(room.metrics, "rtpPacketsOut");
    const cpu0 = process.threadCpuUsage();
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, windowMs));
    const cpu = process.threadCpuUsage(cpu0);
    const wallMs = performance.now() - t0;
    const forwarded = (await counterValue(room.metrics, "rtpPacketsOut")) - out0;
    const cpuUs = cpu.user + cpu.system;
    return {
      forwarded,
      wallMs,
      cpuUs,
      usPerPacket: cpuUs / Math.max(1, forwarded),
      packetsPerSec: (forwarded * 1000) / wallMs,
    };
  } finally {
    stopEvents();
    send({ kind: "stop" });
    await Promise.race([new Promise((r) => worker.once("exit", r)), new Promise((r) => setTimeout(r, 5000))]);
    await worker.terminate();
    await room.close();
  }
}

export async function runSimulcast(
  o: SimulcastOptions,
): Promise<{ single: SimulcastWindow[]; simulcast: SimulcastWindow[]; ratio: number }> {
  const log = o.log ?? ((l: string) => console.log(l));
  log(
    `\n## 6. Simulcast cost: 1 publisher -> ${o.listeners} listeners, media plane thread CPU per forwarded packet; baseline: single encoding (5 x 1000 B per frame, 25 fps); simulcast: 3 layers (1 x 500, 2 x 800, 5 x 1000 B per frame), top layer forwarded; ${o.rounds} rounds x ${o.windowMs} ms windows, order alternated`,
  );
  const single: SimulcastWindow[] = [];
  const simulcast: SimulcastWindow[] = [];
  for (let r = 0; r < o.rounds; r++) {
    for (const s of r % 2 === 0 ? [false, true] : [true, false]) {
      const w = await measureSimulcastCost(s, o.listeners, o.windowMs);
      (s ? simulcast : single).push(w);
      log(
        `  round ${r + 1} ${s ? "simulcast" : "single   "}: ${w.forwarded} packets in ${fmt(w.wallMs / 1000, 1)} s, CPU ${fmt(w.cpuUs / 1000, 0)} ms = ${fmt(w.usPerPacket, 1)} us/packet`,
      );
    }
  }
  const row = (name: string, unit: string, w: SimulcastWindow[], f: (x: SimulcastWindow) => number) =>
    spreadRow(name, unit, w.map(f));
  log(
    table(SPREAD_HEADER, [
      row("single: CPU per forwarded packet", "us", single, (w) => w.usPerPacket),
      row("simulcast: CPU per forwarded packet", "us", simulcast, (w) => w.usPerPacket),
      row("single: forwarded packets/s", "1/s", single, (w) => w.packetsPerSec),
      row("simulcast: forwarded packets/s", "1/s", simulcast, (w) => w.packetsPerSec),
      row("single: plane thread CPU", "%", single, (w) => (w.cpuUs / (w.wallMs * 1000)) * 100),
      row("simulcast: plane thread CPU", "%", simulcast, (w) => (w.cpuUs / (w.wallMs * 1000)) * 100),
    ]),
  );
  const med = (w: SimulcastWindow[]) => spread(w.map((x) => x.usPerPacket)).median;
  const k = ratio(med(simulcast), med(single));
  log(
    `SUMMARY simulcast: ${fmt(med(simulcast), 1)} vs ${fmt(med(single), 1)} us per forwarded packet (medians) = ${fmt(k, 3)}x single encoding (target <= ${SIMULCAST_COST_TARGET}x: ${verdict(k <= SIMULCAST_COST_TARGET)})`,
  );
  return { single, simulcast, ratio: k };
}
