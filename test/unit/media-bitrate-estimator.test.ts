import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { BitrateEstimator } from "../../src/media/bitrate-estimator.ts";
import { rembFeedback } from "../../src/media/werift/publisher-session.ts";

const limits = { start: 500_000, min: 100_000, max: 2_000_000, step: 100_000 };

describe("BitrateEstimator", () => {
  it("stays at start without listeners", () => {
    const e = new BitrateEstimator(limits);
    assert.equal(e.round(), 500_000);
  });

  it("follows the weakest listener's REMB and never goes below min", () => {
    const e = new BitrateEstimator(limits);
    e.addListener("a");
    e.addListener("b");
    e.remb("a", 1_500_000);
    e.remb("b", 300_000);
    assert.equal(e.round(), 300_000);
    e.remb("b", 10_000);
    assert.equal(e.round(), 100_000);
  });

  it("rises by at most one step per round", () => {
    const e = new BitrateEstimator(limits);
    e.addListener("a");
    e.remb("a", 200_000);
    assert.equal(e.round(), 200_000);
    e.remb("a", 1_800_000);
    assert.equal(e.round(), 300_000);
    assert.equal(e.round(), 400_000);
  });

  it("backs off on heavy loss and recovers without it", () => {
    const e = new BitrateEstimator(limits);
    e.addListener("a");
    e.loss("a", 0.4);
    const low = e.round();
    assert.ok(low < 500_000, `${low}`);
    const next = e.round();
    assert.ok(next > low && next <= low + 100_000);
  });

  it("forgets a listener that left", () => {
    const e = new BitrateEstimator(limits);
    e.addListener("a");
    e.remb("a", 150_000);
    assert.equal(e.round(), 150_000);
    e.removeListener("a");
    assert.equal(e.round(), 250_000);
  });
});

describe("rembFeedback", () => {
  it("encodes the bitrate as mantissa and exponent", () => {
    const p = rembFeedback(1, 1_234_567, [42]);
    const f = p.feedback as { brMantissa: number; brExp: number; ssrcFeedbacks: number[] };
    assert.ok(f.brMantissa < 2 ** 18);
    const decoded = f.brMantissa * 2 ** f.brExp;
    assert.ok(decoded <= 1_234_567 && decoded > 1_234_567 * 0.99);
    assert.deepEqual(f.ssrcFeedbacks, [42]);
    assert.ok(p.serialize().length > 0);
  });
});
