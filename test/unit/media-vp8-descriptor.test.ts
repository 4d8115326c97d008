import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { newVp8Info, parseVp8, Vp8PictureRewriter } from "../../src/media/vp8-descriptor.ts";

/** A VP8 RTP payload: descriptor with a 15-bit (or 7-bit) picture ID and TL0PICIDX, then the VP8 header. */
function vp8(o: {
  pictureId: number;
  tl0?: number;
  start?: boolean;
  key?: boolean;
  bits?: 7 | 15;
  width?: number;
  height?: number;
  tid?: boolean;
}): Buffer {
  const bytes: number[] = [0x80 | (o.start === false ? 0 : 0x10)];
  bytes.push(0x80 | (o.tl0 !== undefined ? 0x40 : 0) | (o.tid ? 0x20 : 0));
  if (o.bits === 7) bytes.push(o.pictureId & 0x7f);
  else bytes.push(0x80 | ((o.pictureId >> 8) & 0x7f), o.pictureId & 0xff);
  if (o.tl0 !== undefined) bytes.push(o.tl0 & 0xff);
  if (o.tid) bytes.push(0x40);
  if (o.start !== false) {
    if (o.key) {
      const w = o.width ?? 640;
      const h = o.height ?? 360;
      bytes.push(0x00, 0x00, 0x00, 0x9d, 0x01, 0x2a, w & 0xff, w >> 8, h & 0xff, h >> 8);
    } else bytes.push(0x01, 0x00, 0x00);
  }
  for (let i = 0; i < 20; i++) bytes.push(0xee);
  return Buffer.from(bytes);
}

describe("parseVp8", () => {
  it("reads picture ID, TL0PICIDX, keyframe start and size", () => {
    const info = newVp8Info();
    assert.ok(
      parseVp8(vp8({ pictureId: 0x1234, tl0: 7, key: true, width: 1280, height: 720, tid: true }), info),
    );
    assert.equal(info.pictureId, 0x1234);
    assert.equal(info.pictureIdBits, 15);
    assert.equal(info.tl0PicIdx, 7);
    assert.equal(info.descriptorSize, 6);
    assert.equal(info.keyframe, true);
    assert.equal(info.width, 1280);
    assert.equal(info.height, 720);
    assert.ok(parseVp8(vp8({ pictureId: 5, bits: 7 }), info));
    assert.deepEqual([info.pictureId, info.pictureIdBits, info.keyframe, info.tl0PicIdx], [5, 7, false, -1]);
    assert.ok(parseVp8(vp8({ pictureId: 9, start: false }), info));
    assert.equal(info.frameStart, false);
    assert.equal(info.keyframe, false);
  });

  it("refuses truncated descriptors", () => {
    const info = newVp8Info();
    assert.equal(parseVp8(Buffer.from([0x90]), info), false);
    assert.equal(parseVp8(Buffer.from([0x90, 0x80, 0x81]), info), false);
    assert.equal(parseVp8(Buffer.alloc(0), info), false);
    assert.equal(info.descriptorSize, 0);
  });
});

/** Sends `frames` frames of one source through the rewriter; returns the picture IDs / TL0s seen. */
function run(
  rw: Vp8PictureRewriter,
  ssrc: number,
  startPic: number,
  startTl0: number,
  frames: number,
  firstKey = true,
): { pics: number[]; tl0s: number[] } {
  const info = newVp8Info();
  const pics: number[] = [];
  const tl0s: number[] = [];
  for (let f = 0; f < frames; f++) {
    const payload = vp8({
      pictureId: (startPic + f) % 0x8000,
      tl0: (startTl0 + f) % 256,
      key: firstKey && f === 0,
    });
    const original = Buffer.from(payload);
    const changed = rw.patch(payload, ssrc);
    parseVp8(payload, info);
    pics.push(info.pictureId);
    tl0s.push(info.tl0PicIdx);
    if (changed) {
      assert.notDeepEqual(payload, original);
      rw.restore(payload);
    }
    assert.deepEqual(payload, original, "restore puts back the shared payload");
  }
  return { pics, tl0s };
}

describe("Vp8PictureRewriter", () => {
  it("leaves the first source as it is", () => {
    const rw = new Vp8PictureRewriter();
    const { pics, tl0s } = run(rw, 1, 100, 10, 3);
    assert.deepEqual(pics, [100, 101, 102]);
    assert.deepEqual(tl0s, [10, 11, 12]);
  });

  it("continues picture ID and TL0PICIDX by one across switches (A -> B -> A) and wraps", () => {
    const rw = new Vp8PictureRewriter();
    const a = run(rw, 1, 0x7ffe, 254, 3); // wraps 0x7fff -> 0, 255 -> 0
    assert.deepEqual(a.pics, [0x7ffe, 0x7fff, 0]);
    assert.deepEqual(a.tl0s, [254, 255, 0]);
    rw.switchTo(2);
    const b = run(rw, 2, 9000, 77, 3);
    assert.deepEqual(b.pics, [1, 2, 3]);
    assert.deepEqual(b.tl0s, [1, 2, 3]);
    rw.switchTo(1);
    // Back to A, whose own numbering went on meanwhile: it continues after B, not where A stopped.
    const a2 = run(rw, 1, 5, 3, 2);
    assert.deepEqual(a2.pics, [4, 5]);
    assert.deepEqual(a2.tl0s, [4, 5]);
    assert.equal(rw.lastPictureId, 5);
    assert.equal(rw.lastTl0PicIdx, 5);
  });

  it("maps a retransmission of the current source with the same offset, and leaves an unmapped one alone", () => {
    const rw = new Vp8PictureRewriter();
    run(rw, 1, 10, 0, 2);
    rw.switchTo(2);
    run(rw, 2, 500, 50, 2); // 500 -> 12, 501 -> 13
    const info = newVp8Info();
    const resend = vp8({ pictureId: 500, tl0: 50 });
    assert.ok(rw.patch(resend, 2, true));
    parseVp8(resend, info);
    assert.equal(info.pictureId, 12);
    rw.restore(resend);
    const stale = vp8({ pictureId: 40, tl0: 4 });
    assert.equal(rw.patch(stale, 99, true), false, "a retransmission of an unknown source is sent as it is");
    assert.equal(rw.lastPictureId, 13, "retransmissions do not move the newest value");
  });

  it("wraps 7-bit picture IDs within 7 bits", () => {
    const rw = new Vp8PictureRewriter();
    const info = newVp8Info();
    for (const id of [126, 127]) rw.patch(vp8({ pictureId: id, bits: 7 }), 1);
    rw.switchTo(2);
    const p = vp8({ pictureId: 40, bits: 7, key: true });
    rw.patch(p, 2);
    parseVp8(p, info);
    assert.equal(info.pictureIdBits, 7);
    assert.equal(info.pictureId, 0);
  });
});
