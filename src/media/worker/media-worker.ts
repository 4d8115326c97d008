/**
 * Entry point of one media worker thread: a werift media plane with its own logger (records are
 * forwarded to the parent's logger) and its own metrics registry (read by the parent on scrape).
 */
import { parentPort, threadId, workerData } from "node:worker_threads";
import { pino } from "pino";
import { newMetrics } from "../../metrics/metrics.ts";
import { newWeriftMediaPlane } from "../werift/werift-media-plane.ts";
import { type FromWorker, type ToWorker, toWireError, type WorkerInit } from "./protocol.ts";

const port = parentPort;
if (!port) throw new Error("media-worker.ts must run in a worker thread");
const init = workerData as WorkerInit;
const post = (m: FromWorker): void => port.postMessage(m);

// Each record is one JSON line; the parent re-logs it through its own logger and destination.
const log = pino({ level: init.logLevel, base: null }, { write: (line: string) => post({ t: "log", line }) });
const metrics = newMetrics({ processMetrics: false });
const plane = newWeriftMediaPlane(init.config, { log, metrics });
plane.onEvent((event) => post({ t: "event", event }));
log.info({ component: "media", threadId }, "media worker started");

function answer(id: number, work: () => Promise<unknown>): void {
  let p: Promise<unknown>;
  try {
    p = work();
  } catch (err) {
    p = Promise.reject(err);
  }
  p.then(
    (value) => post({ t: "result", id, ok: true, value }),
    (err: unknown) => post({ t: "result", id, ok: false, error: toWireError(err) }),
  );
}

port.on("message", (m: ToWorker) => {
  switch (m.t) {
    case "addMember":
      try {
        plane.addMember(m.member);
      } catch (err) {
        log.warn({ err, roomId: m.member.roomId }, "addMember failed in media worker");
      }
      return;
    case "removeMember":
      plane.removeMember(m.roomId, m.socketId);
      return;
    case "signal":
      answer(m.id, () => plane.signal(m.roomId, m.socketId, m.target, m.sdp));
      return;
    case "candidate":
      answer(m.id, () => plane.candidate(m.roomId, m.socketId, m.target, m.candidate));
      return;
    case "videoQuality":
      answer(m.id, () => plane.setVideoQuality(m.roomId, m.socketId, m.publisher, m.quality));
      return;
    case "metrics":
      answer(m.id, () => metrics.registry.getMetricsAsJSON());
      return;
    case "stats":
      answer(m.id, async () => plane.stats());
      return;
    case "close":
      answer(m.id, async () => {
        await plane.close();
        // Nothing else keeps this thread alive once the port is closed (the parent terminates it anyway).
        setImmediate(() => port.close());
      });
      return;
    case "crash":
      // Uncaught: the worker dies here, before it handles any later message.
      throw new Error("media worker crash requested");
  }
});
