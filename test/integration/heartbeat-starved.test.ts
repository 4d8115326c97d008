import assert from "node:assert/strict";
import { test } from "node:test";
import { Worker } from "node:worker_threads";
import { startTestServer } from "../helpers/server.ts";

/**
 * A starved server (its event loop blocked longer than the heartbeat timeout, again and again) must
 * not take live sockets for dead: their pongs wait in the socket and are read before the verdict.
 * The client runs in its own thread, so it answers pings while the server's thread is blocked.
 */
test("a server whose event loop is blocked 1 s at a time (timeout 0.9 s) keeps its live sockets", async (t) => {
  const server = await startTestServer({ HEARTBEAT_INTERVAL_MS: "300", HEARTBEAT_TIMEOUT_MS: "900" });
  t.after(() => server.close());
  const client = new Worker(
    `const { WebSocket } = require("ws");
     const { parentPort, workerData } = require("node:worker_threads");
     const ws = new WebSocket(workerData.url);
     ws.on("open", () => parentPort.postMessage("open"));
     ws.on("close", (code) => parentPort.postMessage("closed " + code));`,
    { eval: true, workerData: { url: server.url } },
  );
  t.after(() => client.terminate());
  const events: string[] = [];
  client.on("message", (m: string) => events.push(m));
  while (!events.includes("open")) await new Promise((r) => setTimeout(r, 10));
  await new Promise((r) => setTimeout(r, 700)); // pings and pongs flowing
  for (let round = 0; round < 8; round++) {
    const until = performance.now() + 1000; // longer than the 900 ms timeout
    while (performance.now() < until) {
      // starved: nothing else runs on this thread
    }
    await new Promise((r) => setTimeout(r, 30));
  }
  await new Promise((r) => setTimeout(r, 300));
  assert.deepEqual(events, ["open"], "the client's socket stayed open");
  assert.equal((await server.metrics.heartbeatTimeouts.get()).values[0]?.value ?? 0, 0);
  assert.equal(server.hub.size, 1);
});
