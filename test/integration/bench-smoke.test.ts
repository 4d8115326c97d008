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
  fileURLToPath(new URL("../../src/media/werift-media-plane.ts", import.meta.url)),
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
