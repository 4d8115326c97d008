import assert from "node:assert/strict";
import { test } from "node:test";
import { ReplayBuffer } from "../../src/signaling/replay-buffer.ts";

test("numbers each message and replays what follows a number, in order", () => {
  const b = new ReplayBuffer(10, 10_000);
  const sent = [1, 2, 3].map((i) => b.push(JSON.stringify({ a: "e", d: i })));
  assert.deepEqual(JSON.parse(sent[0]!), { n: 1, a: "e", d: 1 });
  assert.equal(b.lastSeq, 3);
  assert.deepEqual(b.since(1), { texts: sent.slice(1), missed: 0 });
  assert.deepEqual(b.since(3), { texts: [], missed: 0 });
  // A number from the future is clamped: nothing to replay.
  assert.deepEqual(b.since(99), { texts: [], missed: 0 });
});

test("bounded by count and bytes; what fell out is reported as missed", () => {
  const byCount = new ReplayBuffer(2, 10_000);
  for (let i = 0; i < 5; i++) byCount.push(`{"i":${i}}`);
  assert.deepEqual(
    byCount.since(0).texts.map((t) => JSON.parse(t).i),
    [3, 4],
  );
  assert.equal(byCount.since(0).missed, 3);
  const byBytes = new ReplayBuffer(100, 40);
  for (let i = 0; i < 5; i++) byBytes.push(`{"pad":"xxxxxxxx${i}"}`);
  const r = byBytes.since(0);
  assert.ok(r.texts.length < 5 && r.texts.length >= 1);
  assert.equal(r.missed + r.texts.length, 5);
});

test("prune forgets what is older than the age bound, keeps the numbering", () => {
  const b = new ReplayBuffer(100, 100_000);
  b.push('{"a":1}', 0);
  b.push('{"a":2}', 1000);
  b.prune(1500, 1000);
  assert.equal(b.size, 1);
  assert.deepEqual(b.since(0), { texts: ['{"n":2,"a":2}'], missed: 1 });
});

test("a buffer may start above 0 (a member restored on another cluster node): numbering continues, the gap counts as missed", () => {
  const b = new ReplayBuffer(10, 10_000, 1000);
  assert.equal(b.lastSeq, 1000);
  const first = b.push('{"a":"e"}');
  assert.deepEqual(JSON.parse(first), { n: 1001, a: "e" });
  assert.deepEqual(b.since(1000), { texts: [first], missed: 0 });
  // A client that last read n=990 on the old node: what the new node has, and 10 lost with the old one.
  assert.deepEqual(b.since(990), { texts: [first], missed: 10 });
});
