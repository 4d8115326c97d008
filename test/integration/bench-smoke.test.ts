import assert from "node:assert/strict";
import { test } from "node:test";
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
