import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { RtpRewriter, seqNewer } from "../../src/media/werift/rtp-rewriter.ts";

/** A rewriter whose random starting values are chosen by the test. */
const rewriter = (clockRate: number, seqStart: number, tsStart: number) =>
  new RtpRewriter(clockRate, (max) => (max === 0x10000 ? seqStart : tsStart));

describe("RtpRewriter", () => {
  it("starts at the chosen values and wraps sequence numbers and timestamps", () => {
    const rw = rewriter(90000, 65534, 0xffffff00);
    const out: [number, number][] = [];
    for (let i = 0; i < 4; i++) {
      rw.rewrite(111, 1000 + i, 5000 + i * 0x80, i * 33);
      out.push([rw.seq, rw.timestamp]);
    }
    assert.deepEqual(out, [
      [65534, 0xffffff00],
      [65535, 0xffffff80],
      [0, 0],
      [1, 0x80],
    ]);
  });

  it("maps a retransmission or reordered packet with the same offsets and does not move 'last'", () => {
    const rw = rewriter(90000, 100, 1000);
    rw.rewrite(1, 50, 0, 0);
    rw.rewrite(1, 52, 3000, 66);
    rw.rewrite(1, 51, 3000, 70);
    assert.equal(rw.seq, 101);
    assert.equal(rw.lastTimestamp, 4000);
    assert.equal(rw.lastAtMs, 66);
  });

  it("continues after a re-publish: next seq = last + 1, timestamp gap = wall-clock gap", () => {
    const rw = rewriter(90000, 500, 10_000);
    for (let i = 0; i < 10; i++) assert.equal(rw.rewrite(7, 65530 + i, 90000 + i * 3000, i * 33), false);
    const lastSeq = rw.seq;
    const lastTs = rw.timestamp;
    // New SSRC, arbitrary numbering, 200 ms later.
    assert.equal(rw.rewrite(8, 12, 777, 9 * 33 + 200), true, "a new source is reported");
    assert.equal(rw.seq, (lastSeq + 1) % 0x10000);
    assert.equal(rw.timestamp, lastTs + 200 * 90);
    assert.equal(rw.rewrite(8, 13, 777 + 3000, 9 * 33 + 233), false);
    assert.equal(rw.seq, (lastSeq + 2) % 0x10000);
    assert.equal(rw.timestamp, lastTs + 200 * 90 + 3000);
  });

  it("re-publish across the 16- and 32-bit wrap", () => {
    const rw = rewriter(48000, 65535, 0xffffffff);
    rw.rewrite(1, 0, 0, 0);
    assert.deepEqual([rw.seq, rw.timestamp], [65535, 0xffffffff]);
    rw.rewrite(2, 40000, 123456, 20);
    assert.deepEqual([rw.seq, rw.timestamp], [0, 20 * 48 - 1]);
  });

  it("seqNewer is serial-number arithmetic", () => {
    assert.ok(seqNewer(1, 0));
    assert.ok(seqNewer(0, 65535));
    assert.ok(!seqNewer(65535, 0));
    assert.ok(!seqNewer(5, 5));
    assert.ok(!seqNewer(0x8000, 0));
  });
});
