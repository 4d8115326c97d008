import assert from "node:assert/strict";
import { test } from "node:test";
import { newBackoff } from "../../src/events/backoff.ts";

test("delays double from min to max, with jitter in [d/2, d]", () => {
  const low = newBackoff({ minMs: 100, maxMs: 1000, random: () => 0 });
  assert.deepEqual(
    [1, 2, 3, 4, 5, 6].map(() => low.next()),
    [50, 100, 200, 400, 500, 500],
  );
  const high = newBackoff({ minMs: 100, maxMs: 1000, random: () => 0.999999 });
  assert.deepEqual(
    [1, 2, 3, 4, 5].map(() => high.next()),
    [100, 200, 400, 800, 1000],
  );
  assert.equal(high.attempts, 5);
});

test("reset starts over; huge attempt counts stay bounded", () => {
  const b = newBackoff({ minMs: 10, maxMs: 50, random: () => 0.5 });
  for (let i = 0; i < 10_000; i++) assert.ok(b.next() <= 50);
  b.reset();
  assert.equal(b.attempts, 0);
  assert.equal(b.next(), 8);
});
