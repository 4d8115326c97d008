/**
 * Simulcast through the werift media plane: a werift publisher sends three VP8 layers (rids q, h, f),
 * three werift listeners get different layers from their bandwidth feedback (REMB they send) or
 * their wish (setVideoQuality), switch when it changes, and see one continuous stream: one SSRC,
 * sequence numbers +1, picture ID / TL0PICIDX +1 per frame, a keyframe first after every switch.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { loadMediaConfig } from "../../src/config/media-config.ts";
import { newVp8Info, parseVp8 } from "../../src/media/vp8-descriptor.ts";
import { rembFeedback } from "../../src/media/werift/publisher-session.ts";
import { LAYER_MARKERS, SimulcastTestPublisher } from "../helpers/simulcast-publisher.ts";
import type { TestListener } from "../helpers/werift-peers.ts";
import { TestRoom, waitFor } from "../helpers/werift-room.ts";

interface Seen {
  at: number;
  seq: number;
  ts: number;
  ssrc: number;
  /** 0, 1, 2 from the payload's fill byte. */
  layer: number;
  frameStart: boolean;
  keyframe: boolean;
  pictureId: number;
  tl0: number;
}

const ROOM = "simulcast";
const LISTENERS = ["hi", "lo", "small"] as const;

/** What each listener received of the publisher's video, recorded from its own werift receiver. */
const seen = new Map<string, Seen[]>();
const audioCount = new Map<string, number>();

function record(memberId: string, from: string, l: TestListener): void {
  if (from !== "pub") return;
  const videos: Seen[] = [];
  seen.set(memberId, videos);
  audioCount.set(memberId, 0);
  const info = newVp8Info();
  for (const t of l.pc.getTransceivers()) {
    for (const track of t.receiver.tracks) {
      track.onReceiveRtp.subscribe((p) => {
        if (t.kind === "audio") {
          audioCount.set(memberId, (audioCount.get(memberId) ?? 0) + 1);
          return;
        }
        if (p.header.payloadType !== 96) return;
        parseVp8(p.payload, info);
        const fill = p.payload[p.payload.length - 1] as number;
        videos.push({
          at: performance.now(),
          seq: p.header.sequenceNumber,
          ts: p.header.timestamp,
          ssrc: p.header.ssrc,
          layer: LAYER_MARKERS.indexOf(fill as (typeof LAYER_MARKERS)[number]),
          frameStart: info.frameStart,
          keyframe: info.keyframe,
          pictureId: info.pictureId,
          tl0: info.tl0PicIdx,
        });
      });
    }
  }
}

/** The layer of the last `n` packets if they all agree, else undefined. */
function currentLayer(memberId: string, n = 15): number | undefined {
  const v = seen.get(memberId) ?? [];
  if (v.length < n) return undefined;
  const tail = v.slice(-n);
  const layer = tail[0]?.layer;
  return tail.every((s) => s.layer === layer) ? layer : undefined;
}

/** Everything a decoder sees in order: the assertions of "no decoder-visible gap". */
function assertContinuous(memberId: string, maxTsStep = 9000): { switches: number } {
  const v = seen.get(memberId) ?? [];
  assert.ok(v.length > 50, `${memberId} received video`);
  assert.equal(new Set(v.map((s) => s.ssrc)).size, 1, `${memberId}: one SSRC`);
  let switches = 0;
  let lastFrame: Seen | undefined;
  for (let i = 1; i < v.length; i++) {
    const a = v[i - 1] as Seen;
    const b = v[i] as Seen;
    assert.equal(
      (b.seq - a.seq + 0x10000) % 0x10000,
      1,
      `${memberId}: seq ${a.seq} -> ${b.seq} at packet ${i}`,
    );
    if (b.layer !== a.layer) {
      switches++;
      assert.ok(b.keyframe, `${memberId}: layer ${a.layer} -> ${b.layer} starts on a keyframe (packet ${i})`);
    }
  }
  for (const s of v) {
    if (!s.frameStart) continue;
    if (lastFrame) {
      assert.equal((s.pictureId - lastFrame.pictureId + 0x8000) % 0x8000, 1, `${memberId}: picture ID +1`);
      assert.equal((s.tl0 - lastFrame.tl0 + 0x100) % 0x100, 1, `${memberId}: TL0PICIDX +1`);
      const dts = (s.ts - lastFrame.ts + 2 ** 32) % 2 ** 32;
      assert.ok(dts > 0 && dts <= maxTsStep, `${memberId}: timestamp step ${dts} within (0, ${maxTsStep}]`);
    }
    lastFrame = s;
  }
  return { switches };
}

describe("simulcast: per-listener layers", { timeout: 90_000 }, () => {
  let room: TestRoom;
  let pub: SimulcastTestPublisher;
  let answerSdp = "";
  const rembs = new Map<string, number>([
    ["hi", 5_000_000],
    ["lo", 100_000],
    ["small", 5_000_000],
  ]);
  let rembTimer: NodeJS.Timeout | undefined;

  before(async () => {
    room = new TestRoom(ROOM, {}, (m, from, l) => record(m.socketId, from, l));
    room.join("pub");
    for (const id of LISTENERS) room.join(id);
    pub = new SimulcastTestPublisher();
    const answer = await room.plane.signal(ROOM, "pub", "publisher", await pub.offer());
    assert.ok(answer);
    answerSdp = answer.sdp;
    await pub.pc.setRemoteDescription(answer as { type: "answer"; sdp: string });
    await room.plane.setVideoQuality(ROOM, "small", "pub", { maxHeight: 180 });
    // hi shows it full size; lo says nothing, so the room size caps it (4 members: 290 px, 360p).
    await room.plane.setVideoQuality(ROOM, "hi", "pub", { maxHeight: 720 });
    pub.start();
    // Each listener reports its bandwidth as a browser would: REMB every 300 ms.
    rembTimer = setInterval(() => {
      for (const [id, bps] of rembs) {
        const l = room.member(id).listeners.get("pub");
        const ssrc = seen.get(id)?.at(-1)?.ssrc;
        const t = l?.pc.getTransceivers().find((x) => x.kind === "video");
        if (!t || ssrc === undefined) continue;
        void t.receiver.dtlsTransport
          .sendRtcp([rembFeedback(t.receiver.rtcpSsrc, bps, [ssrc])])
          .catch(() => undefined);
      }
    }, 300);
  });

  after(async () => {
    clearInterval(rembTimer);
    await pub?.close();
    await room?.close();
  });

  it("the answer accepts the three rids and negotiates no RTX for the simulcast video", () => {
    const video = answerSdp.slice(answerSdp.indexOf("m=video"));
    assert.match(video, /a=simulcast:recv q;h;f/);
    for (const rid of ["q", "h", "f"]) assert.match(video, new RegExp(`a=rid:${rid} recv`));
    assert.match(video, /urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id/);
    assert.doesNotMatch(video, /rtx\/90000/);
  });

  it("listeners get the layer of their bandwidth or wish: 5 Mbit/s -> 720p, 100 kbit/s -> 180p, maxHeight 180 -> 180p", async () => {
    for (const id of LISTENERS) await room.receiving(id, "pub", 10);
    const want: Record<string, number> = { hi: 2, lo: 0, small: 0 };
    await waitFor(
      "each listener on its layer",
      () => LISTENERS.every((id) => currentLayer(id, 30) === want[id]),
      15_000,
      () => JSON.stringify(Object.fromEntries(LISTENERS.map((id) => [id, currentLayer(id, 30) ?? "mixed"]))),
    );
    // The publisher was asked for keyframes per layer, and its layers were never NACKed for the
    // gaps between them (werift's one NACK state per receiver would NACK hundreds per second).
    assert.ok(
      pub.layers.every((l) => l.plis >= 1),
      `PLIs per layer: ${pub.layers.map((l) => l.plis)}`,
    );
    const nacked = pub.layers.reduce((n, l) => n + l.nacked, 0);
    assert.ok(nacked < 20, `NACKed sequence numbers at the publisher: ${nacked}`);
  });

  it("a listener whose bandwidth rises climbs to the room-size layer (360p), then 720p when it asks; one whose bandwidth falls drops to 180p within 1.5 s; no decoder-visible gap", async () => {
    rembs.set("lo", 5_000_000);
    await waitFor(
      "lo on 360p",
      () => currentLayer("lo") === 1,
      8000,
      () => String(currentLayer("lo")),
    );
    await new Promise((r) => setTimeout(r, 2500));
    assert.equal(currentLayer("lo"), 1, "the room size (290 px for 3 others) keeps lo on 360p");
    await room.plane.setVideoQuality(ROOM, "lo", "pub", { maxHeight: 720 });
    await waitFor(
      "lo on 720p",
      () => currentLayer("lo") === 2,
      3000,
      () => String(currentLayer("lo")),
    );
    rembs.set("hi", 100_000);
    const t0 = performance.now();
    await waitFor("hi on 180p", () => currentLayer("hi", 5) === 0, 3000);
    const hi = seen.get("hi") ?? [];
    const firstLow = hi.find((s) => s.at >= t0 && s.layer === 0);
    assert.ok(
      firstLow && firstLow.at - t0 < 1500,
      `hi down after ${firstLow ? Math.round(firstLow.at - t0) : "?"} ms`,
    );
    const lo = assertContinuous("lo");
    const hiSwitches = assertContinuous("hi");
    assertContinuous("small");
    assert.ok(lo.switches >= 2, `lo switched ${lo.switches} times (180p -> 360p -> 720p)`);
    assert.ok(hiSwitches.switches >= 1);
    const switches = await room.metrics.layerSwitches.get();
    const by = (direction: string) =>
      switches.values.filter((v) => v.labels.direction === direction).reduce((n, v) => n + v.value, 0);
    assert.ok(by("up") >= 2 && by("down") >= 1, JSON.stringify(switches.values));
    const gauge = await room.metrics.simulcastListeners.get();
    const onLayer = (layer: string) => gauge.values.find((v) => v.labels.layer === layer)?.value ?? 0;
    assert.equal(onLayer("0"), 2, "hi and small on layer 0");
    assert.equal(onLayer("2"), 1, "lo on layer 2");
  });

  it("paused stops the video (audio goes on); resuming brings a keyframe within 500 ms", async () => {
    await room.plane.setVideoQuality(ROOM, "small", "pub", { paused: true });
    await new Promise((r) => setTimeout(r, 300));
    const videoBefore = seen.get("small")?.length ?? 0;
    const audioBefore = audioCount.get("small") ?? 0;
    const outBefore = room.metrics.packetCounts.videoPacketsOut;
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(seen.get("small")?.length, videoBefore, "no video while paused");
    assert.ok((audioCount.get("small") ?? 0) > audioBefore + 30, "audio continues");
    // Server counters: hi and lo still get ~25 and ~125 packets/s; small none.
    const outPerSecond = room.metrics.packetCounts.videoPacketsOut - outBefore;
    assert.ok(
      outPerSecond < 25 + 125 + 40,
      `video packets out in 1 s while small is paused: ${outPerSecond}`,
    );
    const gauge = await room.metrics.simulcastListeners.get();
    assert.equal(gauge.values.find((v) => v.labels.layer === "none")?.value, 1);
    const t0 = performance.now();
    await room.plane.setVideoQuality(ROOM, "small", "pub", { maxHeight: 180 });
    await waitFor("video again", () => (seen.get("small")?.length ?? 0) > videoBefore, 2000);
    const first = seen.get("small")?.[videoBefore] as Seen;
    assert.ok(first.keyframe, "the first packet after resuming starts a keyframe");
    assert.ok(first.at - t0 < 500, `keyframe ${Math.round(first.at - t0)} ms after resuming`);
    assert.equal(first.layer, 0);
  });

  it("a layer that stops sends its listeners to the best remaining layer within ~1 s", async () => {
    (pub.layers[2] as { enabled: boolean }).enabled = false;
    const t0 = performance.now();
    await waitFor(
      "lo on 360p after 720p stopped",
      () => currentLayer("lo", 10) === 1,
      5000,
      () => String(currentLayer("lo", 10)),
    );
    const lo = seen.get("lo") ?? [];
    const first = lo.find((s) => s.at >= t0 && s.layer === 1) as Seen;
    assert.ok(first.at - t0 < 1200, `360p after ${Math.round(first.at - t0)} ms`);
    // The timestamp gap over the pause is the wall-clock gap (up to that time).
    assertContinuous("lo", 90 * 1200);
  });

  it("upstream, the publisher is capped only by the configured maximum (REMB = BITRATE_VIDEO_MAX + BITRATE_AUDIO_MAX on every layer's SSRC, with a listener at 100 kbit/s) and gets the server's receiver reports on each layer", async () => {
    const before = rembs.get("small");
    rembs.set("small", 100_000);
    try {
      const { bitrate, bitrateIntervalMs } = loadMediaConfig({ PUBLIC_IPV4: "127.0.0.1" });
      // Two REMB rounds after the listener's REMB went out.
      await new Promise((r) => setTimeout(r, 300 + 2 * bitrateIntervalMs));
      const remb = pub.lastRemb;
      assert.ok(remb, "the server sends REMB to a simulcast publisher");
      const want = bitrate.video.max + bitrate.audio.max;
      // REMB carries an 18-bit mantissa: within 0.01 %.
      assert.ok(Math.abs(remb.bitrate - want) <= want * 1e-4, `REMB ${remb.bitrate}, want ${want}`);
      for (const l of pub.layers.filter((x) => x.enabled))
        assert.ok(remb.ssrcs.includes(l.ssrc), `REMB names layer ${l.rid}'s SSRC`);
      const reports = pub.layers.map((l) => l.reports);
      await waitFor(
        "a receiver report on every layer's SSRC",
        () => pub.layers.every((l, i) => l.reports > (reports[i] ?? 0) || !l.enabled),
        5000,
        () => JSON.stringify(pub.layers.map((l) => [l.rid, l.reports])),
      );
    } finally {
      if (before !== undefined) rembs.set("small", before);
    }
  });
});
