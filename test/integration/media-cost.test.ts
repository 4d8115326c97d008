import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Worker } from "node:worker_threads";
import type { FromWorker, ToWorker } from "../helpers/werift-cost-worker.ts";
import { counterValue, TestRoom, waitFor } from "../helpers/werift-room.ts";

/**
 * CPU of the media plane's thread per forwarded packet, 1 publisher -> 10 listeners. The peers run
 * in a worker thread, so process.threadCpuUsage() on this thread is the server's share only.
 * Prints the numbers recorded in docs/media.md.
 */
describe("media plane: cost", () => {
  it("measures CPU per forwarded packet with 1 publisher and 10 listeners", async () => {
    const listeners = Array.from({ length: 10 }, (_, i) => `l${i}`);
    const room = new TestRoom("room-cost");
    const worker = new Worker(new URL("../helpers/werift-cost-worker.ts", import.meta.url), {
      workerData: { roomId: room.roomId, listeners },
    });
    const send = (m: ToWorker) => worker.postMessage(m);
    let progress = { up: 0, received: 0 };
    worker.on("message", (m: FromWorker) => {
      if (m.kind === "progress") progress = m;
      else
        void room.plane.signal(room.roomId, m.socketId, m.target, m.sdp).then((answer) => {
          // A publish answer is signal's result: hand it to the peers like the server's other descriptions.
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
    const packetsPerFrame = 12;
    send({ kind: "start", packetsPerFrame });
    await waitFor(
      "10 listeners up and receiving",
      () => progress.up === 10 && progress.received > 10 * 50,
      20_000,
      () => JSON.stringify(progress),
    );

    const out0 = await counterValue(room.metrics, "rtpPacketsOut");
    const cpu0 = process.threadCpuUsage();
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, 4000));
    const cpu = process.threadCpuUsage(cpu0);
    const wall = performance.now() - t0;
    const forwarded = (await counterValue(room.metrics, "rtpPacketsOut")) - out0;
    const usPerPacket = (cpu.user + cpu.system) / forwarded;
    const line = `media cost: ${forwarded} packets forwarded in ${(wall / 1000).toFixed(1)} s (${Math.round((forwarded * 1000) / wall)}/s), server thread CPU ${((cpu.user + cpu.system) / 1000).toFixed(0)} ms = ${usPerPacket.toFixed(1)} us/forwarded packet (incl. receiving, RTCP, SRTP), ${(((cpu.user + cpu.system) / 1000 / wall) * 100).toFixed(0)} % of a core`;
    console.log(line);

    stopEvents();
    send({ kind: "stop" });
    await new Promise((r) => worker.once("exit", r));
    await room.close();
    assert.ok(forwarded > 1000, `${forwarded}`);
    assert.ok(usPerPacket < 500, line);
  });
});
