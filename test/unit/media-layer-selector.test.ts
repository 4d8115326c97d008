import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  LayerSelector,
  type LayerView,
  layerForHeight,
  roomMaxHeight,
} from "../../src/media/layer-selector.ts";
import { userMediaConfiguration } from "../../src/rooms/user-media-configuration.ts";

/** Three layers as a 1280x720 camera sends them: 180p 150 kbit/s, 360p 500 kbit/s, 720p 1.5 Mbit/s. */
const layers = (): LayerView[] => [
  { active: true, bitrate: 150_000, height: 180 },
  { active: true, bitrate: 500_000, height: 360 },
  { active: true, bitrate: 1_500_000, height: 720 },
];

const selector = () =>
  new LayerSelector({
    startBitrate: 500_000,
    minBitrate: 100_000,
    maxBitrate: 8_000_000,
    step: 100_000,
    upHoldMs: 2000,
    probeFailMs: 4000,
    maxProbeBackoffMs: 6000,
  });

/** Calls decide every 250 ms from `from` to `to` (ms); returns the layers chosen, deduplicated. */
function drive(s: LayerSelector, l: LayerView[], from: number, to: number): number[] {
  const seen: number[] = [];
  for (let t = from; t <= to; t += 250) {
    const layer = s.decide(l, t);
    if (seen[seen.length - 1] !== layer) seen.push(layer);
  }
  return seen;
}

describe("LayerSelector", () => {
  it("starts with the best layer the start estimate carries, then follows a high REMB up one layer at a time, after the hold", () => {
    const s = selector();
    const l = layers();
    assert.equal(s.decide(l, 0), 1, "500 kbit/s start estimate: 360p");
    s.remb(5_000_000);
    assert.equal(s.decide(l, 250), 1, "not before the hold");
    assert.equal(s.decide(l, 1999), 1);
    assert.equal(s.decide(l, 2250), 2, "up after 2 s");
    assert.equal(s.reason, "bandwidth");
  });

  it("goes down at once when the REMB falls below the current layer, to the best layer it carries", () => {
    const s = selector();
    const l = layers();
    s.remb(5_000_000);
    drive(s, l, 0, 3000);
    assert.equal(s.layer, 2);
    s.remb(300_000);
    assert.equal(s.decide(l, 3250), 0, "straight to 180p, not one step");
    assert.equal(s.reason, "bandwidth");
  });

  it("goes down one layer on high loss even when the REMB is high", () => {
    const s = selector();
    const l = layers();
    s.remb(5_000_000);
    drive(s, l, 0, 3000);
    s.loss(0.2, 3100);
    assert.equal(s.decide(l, 3250), 1);
  });

  it("loss-based estimate: without REMB it grows by step per clean second and is cut by the worst loss of the second", () => {
    const s = selector();
    assert.equal(s.estimate, 500_000);
    s.loss(0, 0);
    s.loss(0.01, 1000);
    assert.equal(s.estimate, 700_000);
    s.loss(0, 1500);
    assert.equal(s.estimate, 700_000, "at most one step per second: reports come with every NACK and REMB");
    s.loss(0.4, 2000);
    assert.equal(s.estimate, 560_000, "the round's worst loss");
    s.remb(200_000);
    assert.equal(s.estimate, 200_000, "the smaller of REMB and the loss estimate");
  });

  it("probes with padding (the picture never moves on a guess); a probe the link carries for 2.5 s switches up, and its rate stands in for the REMB", () => {
    const s = selector();
    const l = layers();
    s.remb(200_000); // 180p (150k) fits, 360p (500k) does not; 200k >= 1.1 x 150k
    assert.equal(s.decide(l, 0), 0);
    assert.equal(s.decide(l, 250), 0);
    assert.equal(s.probeBps, 500_000 - 150_000, "padding up to the next layer's bitrate");
    for (let t = 500; t < 2750; t += 250) {
      assert.equal(s.decide(l, t), 0, `still 180p at ${t}`);
      assert.ok(s.probeBps > 0);
    }
    assert.equal(s.decide(l, 2750), 1, "no REMB drop, no loss for 2.5 s: up");
    assert.equal(s.reason, "probe");
    assert.equal(s.probeBps, 0);
    assert.equal(s.estimate, 575_000, "the probed rate (+15 %) stands in for the lagging REMB");
    assert.equal(s.decide(l, 3000), 1, "and keeps the listener there");
    s.remb(160_000); // the REMB falls 20 %: the probed rate no longer counts
    assert.equal(s.decide(l, 3250), 0);
  });

  it("a probe fails on a REMB drop or on loss; the next one waits 2, 4, then 6 s", () => {
    const s = selector();
    const l = layers();
    s.remb(200_000);
    s.decide(l, 0);
    s.decide(l, 250);
    assert.ok(s.probeBps > 0, "probe 1 at 250");
    s.remb(160_000); // -20 %: the bottleneck is full
    s.decide(l, 500);
    assert.equal(s.probeBps, 0, "probe 1 failed");
    s.remb(200_000);
    assert.equal(s.layer, 0, "the picture never moved");
    for (let t = 750; t < 4500; t += 250) {
      s.decide(l, t);
      assert.equal(s.probeBps, 0, `no probe at ${t} (backoff 4 s from 500)`);
    }
    s.decide(l, 4500);
    assert.ok(s.probeBps > 0, "probe 2 at 4500");
    s.loss(0.05, 4600);
    s.decide(l, 4750);
    assert.equal(s.probeBps, 0, "probe 2 failed on loss");
    // Backoff 6 s (the maximum) from 4750; no probe within 4 s of the loss either.
    for (let t = 5000; t < 10_750; t += 250) {
      s.decide(l, t);
      assert.equal(s.probeBps, 0, `no probe at ${t}`);
    }
    s.decide(l, 10_750);
    assert.ok(s.probeBps > 0, "probe 3");
    assert.equal(s.layer, 0);
  });

  it("a probe fails as soon as the REMB falls 3 % below its highest since the probe began (the bottleneck's queue grows)", () => {
    const s = selector();
    const l = layers();
    s.remb(200_000);
    s.decide(l, 0);
    s.decide(l, 250);
    assert.ok(s.probeBps > 0, "probing");
    s.remb(230_000); // the link carries more: the estimate grows
    s.decide(l, 500);
    assert.ok(s.probeBps > 0, "a growing REMB keeps the probe going");
    s.remb(225_000); // -2 % of the peak: noise
    s.decide(l, 750);
    assert.ok(s.probeBps > 0, "a 2 % dip is not overuse");
    s.remb(215_000); // -6.5 % of the peak, though still above the REMB at the start
    s.decide(l, 1000);
    assert.equal(s.probeBps, 0, "overuse: the probe failed before any loss");
    assert.equal(s.layer, 0);
  });

  it("a NACK fails a running probe at once; outside a probe it changes nothing", () => {
    const s = selector();
    const l = layers();
    s.remb(200_000);
    s.nack(0);
    s.decide(l, 0);
    s.decide(l, 250);
    assert.ok(s.probeBps > 0, "a NACK before the probe does not prevent it");
    s.nack(300);
    assert.equal(s.probeBps, 0, "the padding stops before the next decision");
    s.decide(l, 500);
    assert.equal(s.probeBps, 0, "and the probe is over (backoff)");
    assert.equal(s.layer, 0);
  });

  it("does not probe without headroom over the current layer or while there was loss in the last 4 s", () => {
    const s = selector();
    const l = layers();
    s.remb(160_000); // < 1.1 x 150k
    drive(s, l, 0, 5000);
    assert.equal(s.probeBps, 0);
    const t = selector();
    t.remb(200_000);
    t.loss(0.05, 0);
    for (let at = 0; at < 4000; at += 250) {
      t.decide(l, at);
      assert.equal(t.probeBps, 0, `loss at 0: no probe at ${at}`);
    }
    t.decide(l, 4000);
    assert.ok(t.probeBps > 0);
  });

  it("a REMB that is low but climbing (not falling) keeps the layer the listener takes without loss; a fall takes it down", () => {
    const s = selector();
    const l = layers();
    s.remb(5_000_000);
    drive(s, l, 0, 3000);
    assert.equal(s.layer, 2);
    // A receiver's estimate after a fall climbs back from below what it receives (seen in Chromium:
    // 645 -> 1,100 kbit/s over 10 s on a 760 kbit/s layer): each value above the last is no congestion.
    s.remb(1_000_000);
    assert.equal(s.decide(l, 3250), 1, "a fall (-80 %): down at once, to the layer it carries");
    const t = selector();
    t.remb(5_000_000);
    drive(t, l, 0, 3000);
    t.remb(1_600_000); // a fall, but 1.6 Mbit/s still carries the 1.5 Mbit/s layer
    assert.deepEqual(drive(t, l, 3250, 5000), [2]);
    (l[2] as LayerView).bitrate = 2_000_000; // the top layer grows past the REMB
    for (let at = 5250, bps = 1_700_000; at < 9000; at += 250, bps += 10_000) {
      t.remb(bps);
      assert.equal(t.decide(l, at), 2, `REMB ${bps} climbing back, no loss: still 720p at ${at}`);
    }
    t.remb(1_500_000); // -19 % from the highest: a fall
    assert.equal(t.decide(l, 9000), 1);
    assert.equal(t.reason, "bandwidth");
    // A fall whose REMB stays where it fell keeps its evidence: a layer that fits, offered later, is taken.
    const u = selector();
    const m = layers();
    (m[0] as LayerView).active = false;
    (m[1] as LayerView).active = false;
    u.remb(5_000_000);
    drive(u, m, 0, 3000);
    assert.equal(u.layer, 2);
    u.remb(400_000);
    assert.deepEqual(drive(u, m, 3250, 8000), [2], "nothing under 720p is active");
    (m[1] as LayerView).active = true;
    (m[1] as LayerView).bitrate = 350_000;
    u.remb(400_000);
    assert.equal(u.decide(m, 8250), 1, "5 s after the fall, the REMB still there: down");
  });

  it("a REMB fall right after the server's own stall is ignored unless loss confirms it; no decision on the stalled tick", () => {
    const s = selector();
    const l = layers();
    s.remb(5_000_000);
    drive(s, l, 0, 3000);
    assert.equal(s.layer, 2);
    // The server's event loop stalls for 900 ms: its next decision comes late, on stale layer views.
    const stale = l.map((x) => ({ ...x, active: false, bitrate: 0 }));
    assert.equal(s.decide(stale, 3900), 2, "no decision on what the stall left (layers look stopped)");
    s.remb(600_000); // the receiver read the burst after the stall as overuse
    assert.equal(s.decide(l, 4150), 2, "the stall's echo: no loss, no move");
    assert.deepEqual(drive(s, l, 4400, 9000), [2], "nor later: the low REMB then climbs, it does not fall");
    // The same fall with loss moves the listener.
    const t = selector();
    t.remb(5_000_000);
    drive(t, l, 0, 3000);
    t.decide(l, 3900);
    t.loss(0.05, 4000);
    t.remb(600_000);
    assert.equal(t.decide(l, 4150), 1, "a fall with loss after a stall counts");
    // Without a stall the same fall counts at once, and so does one more than 1 s after the stall.
    const u = selector();
    u.remb(5_000_000);
    drive(u, l, 0, 3000);
    u.remb(600_000);
    assert.equal(u.decide(l, 3250), 1);
    const v = selector();
    v.remb(5_000_000);
    drive(v, l, 0, 3000);
    v.decide(l, 3900);
    drive(v, l, 4150, 4900);
    v.remb(600_000);
    assert.equal(v.decide(l, 5150), 1, "1.25 s after the stall: the link's");
  });

  it("probes from a layer whose REMB is climbing back below it (no fall, no loss for 4 s), not right after a fall", () => {
    const s = selector();
    const l = layers();
    s.remb(200_000);
    drive(s, l, 0, 1000);
    assert.equal(s.layer, 0);
    s.remb(40_000); // a fall to 40 kbit/s on a 150 kbit/s layer
    s.decide(l, 1250);
    let at = 1500;
    for (let bps = 41_000; at < 5250; at += 250, bps += 1000) {
      s.remb(bps);
      s.decide(l, at);
      assert.equal(s.probeBps, 0, `no probe within 4 s of the fall (${at})`);
    }
    s.remb(60_000);
    s.decide(l, 5250);
    assert.ok(s.probeBps > 0, "4 s after the fall, REMB still under the layer and climbing: probe");
    assert.equal(s.layer, 0);
  });

  it("without any REMB, the start estimate alone never takes a listener down; loss does", () => {
    const s = selector();
    const l = layers();
    assert.equal(s.decide(l, 0), 1, "500 kbit/s start: 360p");
    (l[1] as LayerView).bitrate = 700_000; // the layer grows past the guess
    assert.deepEqual(drive(s, l, 250, 5000), [1]);
    s.loss(0.05, 5100);
    assert.equal(s.decide(l, 5250), 0, "with loss as evidence, the estimate counts");
  });

  it("honours maxLayer, maxHeight (lowest layer at least that tall) and paused", () => {
    const s = selector();
    const l = layers();
    s.remb(5_000_000);
    s.setPreference({ maxLayer: 0 });
    assert.equal(s.decide(l, 0), 0);
    s.setPreference({ maxHeight: 180 });
    assert.deepEqual(drive(s, l, 250, 5000), [0]);
    s.setPreference({ maxHeight: 300 });
    assert.deepEqual(drive(s, l, 5250, 10_000), [1], "a larger tile: up at once");
    s.setPreference({ paused: true });
    assert.equal(s.decide(l, 10_250), -1);
    assert.equal(s.reason, "paused");
    s.setPreference({});
    assert.equal(s.decide(l, 10_500), 2, "resume: the best layer the estimate carries, at once");
  });

  it("caps by the room size like eventUserMediaConfiguration (580 px with two others keeps 720p, 290 px takes 360p), unless the member set its own", () => {
    const s = selector();
    const l = layers();
    s.remb(5_000_000);
    s.setRoomMaxHeight(roomMaxHeight(2));
    assert.equal(s.decide(l, 0), 2);
    s.setRoomMaxHeight(roomMaxHeight(4));
    assert.equal(s.decide(l, 250), 1, "down at once to the new ceiling");
    s.setRoomMaxHeight(roomMaxHeight(1));
    assert.equal(s.decide(l, 500), 2, "a raised ceiling: up at once when the estimate carries it");
    s.setRoomMaxHeight(roomMaxHeight(6));
    assert.equal(s.decide(l, 750), 1, "193 px: 360p");
    s.setPreference({ maxHeight: 720 });
    assert.equal(s.decide(l, 1000), 2, "a member that says what it shows is not capped by the room size");
  });

  it("room height table equals the one rooms/ announces", () => {
    for (let others = 0; others <= 12; others++) {
      assert.equal(
        roomMaxHeight(others),
        Number(userMediaConfiguration(others).video.height.max),
        `others=${others}`,
      );
    }
  });

  it("leaves a layer that stops for the best active one, and skips missing layers", () => {
    const s = selector();
    const l = layers();
    s.remb(5_000_000);
    drive(s, l, 0, 3000);
    assert.equal(s.layer, 2);
    (l[2] as LayerView).active = false;
    assert.equal(s.decide(l, 3250), 1);
    assert.equal(s.reason, "layer-stopped");
    // The middle layer stops too: only 180p remains.
    (l[1] as LayerView).active = false;
    assert.equal(s.decide(l, 3500), 0);
    // Nothing at all: -1.
    (l[0] as LayerView).active = false;
    assert.equal(s.decide(l, 3750), -1);
    // A ceiling below every active layer: the lowest active layer above it.
    (l[2] as LayerView).active = true;
    s.setPreference({ maxLayer: 0 });
    assert.equal(s.decide(l, 4000), 2);
  });

  it("layerForHeight: lowest layer at least that tall; the top one when none is or heights are unknown", () => {
    const l = layers();
    assert.equal(layerForHeight(l, 1), 0);
    assert.equal(layerForHeight(l, 181), 1);
    assert.equal(layerForHeight(l, 1080), 2);
    assert.equal(
      layerForHeight(
        l.map((x) => ({ ...x, height: 0 })),
        180,
      ),
      2,
    );
  });
});
