import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { FreezeDetector } from "../../src/media/freeze-detector.ts";

describe("FreezeDetector", () => {
  it("reports a freeze once after the timeout and the recovery with its duration", () => {
    let now = 0;
    const changes: [boolean, number][] = [];
    const d = new FreezeDetector({
      timeoutMs: 1000,
      now: () => now,
      onChange: (f, ms) => changes.push([f, ms]),
    });
    d.start();
    d.frame();
    now = 900;
    d.check();
    assert.deepEqual(changes, []);
    now = 1000;
    d.check();
    now = 1500;
    d.check();
    assert.deepEqual(changes, [[true, 1000]]);
    assert.equal(d.frozen, true);
    now = 2500;
    d.frame();
    assert.deepEqual(changes, [
      [true, 1000],
      [false, 2500],
    ]);
    d.stop();
  });

  it("does not report before the first frame or while stopped", () => {
    let now = 0;
    let calls = 0;
    const d = new FreezeDetector({ timeoutMs: 10, now: () => now, onChange: () => calls++ });
    d.start();
    now = 100;
    d.check();
    d.frame();
    d.stop();
    now = 200;
    d.check();
    assert.equal(calls, 0);
  });
});
