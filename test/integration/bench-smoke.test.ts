import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { runJoinStorm } from "../../bench/scenarios/join-storm.ts";
import { runRelay } from "../../bench/scenarios/relay.ts";

// Every benchmark scenario at tiny size, so the bench code cannot rot. The figures are not checked
// against targets here (that is `npm run bench`), only that each scenario runs and measures something.
const quiet = () => {};

test("bench scenario 1 (relay) runs against the server and the bare ws baseline", async () => {
  for (const action of ["sendMessage", "exchangeCandidate"] as const) {
    const r = await runRelay({
      pairs: 2,
      window: 2,
      roundMs: 200,
      rounds: 1,
      payloadBytes: 10,
      action,
      log: quiet,
    });
    assert.equal(r.server.length, 1);
    assert.ok((r.server[0]?.msgsPerSec ?? 0) > 0, "server relayed messages");
    assert.ok((r.baseline[0]?.msgsPerSec ?? 0) > 0, "baseline forwarded messages");
    assert.ok(Number.isFinite(r.ratio));
  }
});

test("bench scenario 2 (join storm) joins, measures memory and leaves", async () => {
  const r = await runJoinStorm({
    sizes: [24],
    rounds: 1,
    rate: 200,
    concurrency: 8,
    roomSize: 8,
    idleMs: 0,
    log: quiet,
  });
  const round = r.get(24)?.[0];
  assert.ok(round);
  assert.ok(round.joinsPerSec > 0);
  assert.ok(Number.isFinite(round.pacedP99Ms));
  assert.ok(Number.isFinite(round.rssPerMemberKiB));
});

// The media scenarios need the werift media plane (src/media); skipped on a checkout without it.
const mediaPlane = existsSync(
  fileURLToPath(new URL("../../src/media/werift/werift-media-plane.ts", import.meta.url)),
);

test("bench scenarios 3 and 4 (media fan-out, rooms) forward packets and measure both paths", {
  skip: mediaPlane ? false : "no media plane in this checkout",
  timeout: 120_000,
}, async () => {
  const { runFanout, runRooms } = await import("../../bench/scenarios/media.ts");
  const f = await runFanout({
    listeners: [2],
    rounds: 1,
    durationMs: 300,
    bitrate: 300_000,
    idleMs: 200,
    settleMs: 200,
    srtpPackets: 500,
    log: quiet,
  });
  const point = f.points[0];
  assert.ok(point);
  assert.ok((point.server[0]?.received ?? 0) > 0, "listeners received media through the server");
  assert.ok((point.bare[0]?.received ?? 0) > 0, "listeners received media from the bare senders");
  assert.ok(f.srtp.cm > 0 && f.srtp.gcm > 0 && f.srtp.gcmKeyObject > 0);
  const rooms = await runRooms({
    roomCounts: [1],
    rounds: 1,
    durationMs: 300,
    bitrate: 300_000,
    idleMs: 200,
    settleMs: 200,
    log: quiet,
  });
  assert.ok((rooms[0]?.server[0]?.received ?? 0) > 0, "members received each other's media");
});

test("bench scenario 5 (peers: Janus) runs in its namespace, or says why it cannot", {
  timeout: 180_000,
}, async (t) => {
  const peers = await import("../../bench/scenarios/peers.ts");
  const why = peers.peersUnavailable();
  if (why) {
    // Without Debian's janus the scenario is skipped with the reason (and how to install it).
    assert.match(why, /janus|root|iproute2/);
    t.skip(why);
    return;
  }
  const { spawn } = await import("node:child_process");
  const script = fileURLToPath(new URL("../../bench/run.ts", import.meta.url));
  const child = spawn(
    process.execPath,
    [script, "--only", "peers", "--peer-listeners", "2", "--rounds", "1", "--fanout-ms", "500"],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let out = "";
  child.stdout.on("data", (d) => {
    out += d;
  });
  child.stderr.on("data", (d) => {
    out += d;
  });
  const code = await new Promise<number | null>((r) => child.once("exit", r));
  assert.equal(code, 0, out.slice(-3000));
  assert.match(out, /SUMMARY peers L=2: ours [\d.,]+ us\/packet, Janus [\d.,]+ us\/packet/, out.slice(-3000));
});

test("bench scenario 6 (simulcast cost) forwards the top layer and the single encoding", {
  skip: mediaPlane ? false : "no media plane in this checkout",
  timeout: 120_000,
}, async () => {
  const { runSimulcast } = await import("../../bench/scenarios/simulcast.ts");
  const r = await runSimulcast({ listeners: 2, rounds: 1, windowMs: 500, log: quiet });
  assert.ok((r.single[0]?.forwarded ?? 0) > 0, "the single encoding was forwarded");
  assert.ok((r.simulcast[0]?.forwarded ?? 0) > 0, "the top layer was forwarded");
  assert.ok(Number.isFinite(r.ratio));
});

async function runLoad(args: string[]): Promise<{ code: number | null; out: string }> {
  const { spawn } = await import("node:child_process");
  const script = fileURLToPath(new URL("../../bench/load.ts", import.meta.url));
  const child = spawn(process.execPath, [script, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout.on("data", (d) => {
    out += d;
  });
  child.stderr.on("data", (d) => {
    out += d;
  });
  const code = await new Promise<number | null>((r) => child.once("exit", r));
  return { code, out };
}

test("npm run load drives a running server with JWTs and reports a summary", async () => {
  const { startTestServer } = await import("../helpers/server.ts");
  const server = await startTestServer({ JWT_SECRET: "bench-smoke-secret" });
  try {
    const r = await runLoad([
      ...["--url", server.url, "--rooms", "2", "--members", "3", "--duration", "1", "--rate", "5"],
      ...["--jwt-secret", "bench-smoke-secret", "--json"],
    ]);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /SUMMARY load: 6\/6 joined/);
    const wrong = await runLoad(["--url", server.url, "--rooms", "1", "--members", "2", "--duration", "0"]);
    assert.equal(wrong.code, 1, "development-mode bearers against a JWT server fail the run");
  } finally {
    await server.close();
  }
});

test("npm run load --media publishes and receives through an MCU server", {
  skip: mediaPlane ? false : "no media plane in this checkout",
  timeout: 120_000,
}, async () => {
  const { startTestServer } = await import("../helpers/server.ts");
  const { newWeriftMediaPlane } = await import("../../src/media/werift/werift-media-plane.ts");
  const { loadMediaConfig } = await import("../../src/config/media-config.ts");
  const { newSilentLogger } = await import("../../src/lib/logger.ts");
  const { newMetrics } = await import("../../src/metrics/metrics.ts");
  const media = newWeriftMediaPlane(loadMediaConfig({ PUBLIC_IPV4: "127.0.0.1" }), {
    log: newSilentLogger(),
    metrics: newMetrics({ processMetrics: false }),
  });
  const server = await startTestServer({ ROOM_MODE: "mcu" }, { media });
  try {
    const r = await runLoad([
      ...["--url", server.url, "--media", "--rooms", "1", "--members", "2", "--duration", "1"],
      ...["--bitrate", "200000"],
    ]);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /SUMMARY load --media: 2\/2 streams received/);
  } finally {
    await server.close();
  }
});
