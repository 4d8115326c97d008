import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { LayerSwitch } from "../../src/media/layer-switch.ts";
import { SimulcastLayers } from "../../src/media/simulcast-layers.ts";
import { newVp8Info, parseVp8 } from "../../src/media/vp8-descriptor.ts";

/** A VP8 packet: 15-bit picture ID, TL0PICIDX; first packet of a frame or not, keyframe or not. */
function vp8(pictureId: number, o: { start?: boolean; key?: boolean; height?: number } = {}): Buffer {
  const start = o.start ?? true;
  const b = Buffer.alloc(40, 0x55);
  b[0] = 0x80 | (start ? 0x10 : 0);
  b[1] = 0xc0;
  b[2] = 0x80 | (pictureId >> 8);
  b[3] = pictureId & 0xff;
  b[4] = pictureId & 0xff;
  if (start) {
    b[5] = o.key ? 0x00 : 0x01;
    if (o.key) {
      b.set([0x00, 0x00, 0x9d, 0x01, 0x2a], 6);
      b.writeUInt16LE(((o.height ?? 180) * 16) / 9, 11);
      b.writeUInt16LE(o.height ?? 180, 13);
    }
  }
  return b;
}

function setup() {
  const plis: number[] = [];
  const layers = new SimulcastLayers(["q", "h", "f"], 0, (ssrc) => {
    plis.push(ssrc);
    return true;
  });
  const switches: string[] = [];
  const sw = new LayerSwitch(
    layers,
    { startBitrate: 500_000, minBitrate: 100_000, maxBitrate: 8_000_000, step: 100_000 },
    {
      switched: (from, to, reason) => switches.push(`${from}->${to} ${reason}`),
      keyframeRequested: () => undefined,
    },
  );
  // Each layer sends a keyframe (known heights) and a delta frame; 1000 packets/s so all are active.
  const ssrcs = [11, 22, 33];
  for (let i = 0; i < 3; i++) {
    layers.packet(i, ssrcs[i] as number, vp8(1, { key: true, height: [180, 360, 720][i] as number }), 0);
    layers.packet(i, ssrcs[i] as number, vp8(2), 1);
  }
  return { layers, sw, plis, switches, ssrcs };
}

describe("LayerSwitch", () => {
  it("passes nothing until the target layer's keyframe, then only that layer; a switch waits for the new layer's keyframe while the old one keeps flowing", () => {
    const { sw, plis, switches } = setup();
    sw.setPreference({ maxLayer: 0 }, 10);
    assert.equal(sw.target, 0);
    assert.deepEqual(plis, [11], "PLI on the target layer's SSRC");
    assert.equal(sw.admit(0, 11, vp8(3)), false, "a delta frame of the target: not yet");
    assert.equal(sw.admit(1, 22, vp8(3, { key: true })), false, "another layer: never");
    assert.equal(sw.admit(0, 11, vp8(4, { key: true })), true, "the target's keyframe starts it");
    assert.equal(sw.switched, true);
    assert.equal(sw.admit(0, 11, vp8(4, { start: false })), true);
    assert.equal(sw.switched, false);
    sw.setPreference({ maxLayer: 2 }, 20);
    assert.equal(sw.target, 2);
    assert.deepEqual(plis, [11, 33]);
    assert.equal(sw.admit(0, 11, vp8(5)), true, "the old layer flows until the switch");
    assert.equal(sw.admit(2, 33, vp8(5)), false);
    assert.equal(sw.admit(2, 33, vp8(6, { key: true, height: 720 })), true);
    assert.equal(sw.current, 2);
    assert.equal(sw.admit(0, 11, vp8(6)), false, "the old layer stops at the switch");
    assert.deepEqual(switches, ["-1->0 start", "0->2 preference"]);
  });

  it("rewrites picture IDs across the switch so that they continue by one", () => {
    const { sw } = setup();
    sw.setPreference({ maxLayer: 0 }, 10);
    const info = newVp8Info();
    const sent: number[] = [];
    const forward = (layer: number, ssrc: number, p: Buffer) => {
      if (!sw.admit(layer, ssrc, p)) return;
      const patched = sw.rewriter.patch(p, ssrc);
      parseVp8(p, info);
      sent.push(info.pictureId);
      if (patched) sw.rewriter.restore(p);
    };
    forward(0, 11, vp8(100, { key: true }));
    forward(0, 11, vp8(101));
    sw.setPreference({ maxLayer: 1 }, 20);
    forward(1, 22, vp8(7000, { key: true, height: 360 }));
    forward(1, 22, vp8(7001));
    assert.deepEqual(sent, [100, 101, 102, 103]);
  });

  it("the same layer from a new SSRC (re-publish) waits for that source's keyframe and asks for it once", () => {
    const { sw, plis } = setup();
    sw.setPreference({ maxLayer: 0 }, 10);
    assert.equal(sw.admit(0, 11, vp8(1, { key: true })), true);
    plis.length = 0;
    assert.equal(sw.admit(0, 99, vp8(1)), false, "new source, delta frame: dropped");
    assert.equal(sw.admit(0, 99, vp8(2)), false);
    assert.equal(plis.length, 1, "one keyframe request for the new source");
    assert.equal(sw.admit(0, 99, vp8(3, { key: true })), true);
    assert.equal(sw.switched, true);
    assert.equal(sw.admit(0, 99, vp8(3, { start: false })), true);
  });

  it("paused drops everything at once; resuming asks for the keyframe again", () => {
    const { sw, plis, switches } = setup();
    sw.setPreference({ maxLayer: 0 }, 10);
    sw.admit(0, 11, vp8(1, { key: true }));
    sw.setPreference({ paused: true }, 20);
    assert.equal(sw.current, -1);
    assert.equal(sw.admit(0, 11, vp8(2)), false);
    assert.equal(sw.admit(0, 11, vp8(3, { key: true })), false, "even a keyframe");
    plis.length = 0;
    sw.setPreference({ maxLayer: 0 }, 30);
    assert.deepEqual(plis, [11]);
    assert.equal(sw.admit(0, 11, vp8(4, { key: true })), true);
    assert.deepEqual(switches, ["-1->0 start", "0->-1 paused", "-1->0 preference"]);
  });

  it("a publisher that goes quiet keeps its layer: its packets pass again as they come back, without waiting for a keyframe", () => {
    const { layers, sw, plis, switches } = setup();
    sw.setPreference({ maxLayer: 0 }, 10);
    assert.equal(sw.admit(0, 11, vp8(3, { key: true })), true);
    layers.packet(0, 11, vp8(3, { key: true }), 10);
    // No packet of any layer for 2 s (LAYER_ACTIVE_MS is 600): the selector has nothing to choose.
    for (let t = 260; t <= 2010; t += 250) sw.decide(t);
    assert.equal(sw.target, -1);
    assert.equal(sw.current, 0, "still the forwarded layer");
    plis.length = 0;
    assert.equal(sw.admit(0, 11, vp8(4)), true, "a delta frame right after the pause passes");
    layers.packet(0, 11, vp8(4), 2020);
    sw.decide(2260);
    assert.equal(sw.target, 0);
    assert.deepEqual(plis, [], "no keyframe asked for: the decoder missed nothing");
    assert.deepEqual(switches, ["-1->0 start"], "no pause counted");
    // The listener's own pause still stops video at once.
    sw.setPreference({ paused: true }, 2300);
    assert.equal(sw.current, -1);
    assert.equal(sw.admit(0, 11, vp8(5)), false);
  });
});
