import assert from "node:assert/strict";
import { test } from "node:test";
import { RateLimiter } from "../../src/signaling/rate-limiter.ts";

test("allows the burst, then the sustained rate", () => {
  const rl = new RateLimiter(10, 5, 0);
  for (let i = 0; i < 5; i++) assert.ok(rl.take(0));
  assert.equal(rl.take(0), false);
  assert.equal(rl.take(50), false);
  assert.ok(rl.take(100));
  assert.equal(rl.take(100), false);
  assert.ok(rl.take(10_000));
});
