import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { MediaStreamTrack, type RTCRtpTransceiver, RtpHeader, RtpPacket } from "werift";
import { newSilentLogger } from "../../src/lib/logger.ts";
import { LayerSwitch } from "../../src/media/layer-switch.ts";
import { detectGstreamerOnce } from "../../src/media/transcode/gstreamer.ts";
import { TranscoderPool } from "../../src/media/transcode/transcoder-pool.ts";
import { PublishedTrack } from "../../src/media/werift/published-track.ts";
import { SERVER_LAYER, SOURCE_LAYER, TranscodeLayers } from "../../src/media/werift/transcode-layers.ts";
import { newMetrics } from "../../src/metrics/metrics.ts";
import { gstreamerUnavailable, processGone, startVp8Source, vp8KeyframeSize } from "../helpers/gstreamer.ts";
import { waitFor } from "../helpers/wait-for.ts";
import { newTestPeerConnection } from "../helpers/werift-peers.ts";

/**
 * The server-made layer inside the simulcast machinery: a werift publisher sends one 640x480 VP8
 * encoding (GStreamer-made) to a werift peer playing the server; one listener's LayerSwitch (the
 * simulcast gate, real selector) sees TranscodeLayers: layer 0 made by the pool on demand, layer 1
 * the publisher's own. What the gate admits is what the listener's forwarder would send.
 */
describe("a server-made layer for a single-encoding publisher", {
  skip: gstreamerUnavailable(),
  timeout: 60_000,
}, () => {
  it("maxHeight 180 starts a transcoder and switches to its 240x180 keyframes; back up to 640x480; stopped after the linger", async () => {
    const pub = newTestPeerConnection();
    const server = newTestPeerConnection();
    const video = new MediaStreamTrack({ kind: "video" });
    const sender = pub.addTransceiver(video, { direction: "sendonly" }).sender;
    let plis = 0;
    sender.onPictureLossIndication.subscribe(() => plis++);
    const received = new Promise<{ track: MediaStreamTrack; transceiver: RTCRtpTransceiver }>((resolve) =>
      server.onTrack.subscribe((track) => {
        const transceiver = server.getTransceivers().find((t) => t.receiver.tracks.includes(track));
        if (transceiver) resolve({ track, transceiver });
      }),
    );
    await pub.setLocalDescription(await pub.createOffer());
    await server.setRemoteDescription(pub.localDescription as NonNullable<typeof pub.localDescription>);
    await server.setLocalDescription(await server.createAnswer());
    await pub.setRemoteDescription(server.localDescription as NonNullable<typeof server.localDescription>);
    // Keyframes every 2 s only (a browser sends them when asked): switching back up needs the PLI.
    const gst = startVp8Source({
      width: 640,
      height: 480,
      fps: 15,
      keyframeEvery: 30,
      onPacket: (rtp) => video.writeRtp(RtpPacket.deSerialize(rtp)),
    });
    const metrics = newMetrics({ processMetrics: false });
    const lingerMs = 1000;
    // With the runner (keyframes on demand) the periodic ones are 10 s apart, so a keyframe within
    // 500 ms of a listener's PLI is the one it asked for.
    const onDemand = detectGstreamerOnce().runner !== undefined;
    const pool = new TranscoderPool({
      config: { max: 2, lingerMs, bitrateBps: 150_000, keyframeIntervalMs: onDemand ? 10_000 : 1000 },
      metrics,
      log: newSilentLogger(),
    });
    const published = new PublishedTrack("video", { mimeType: "video/VP8", clockRate: 90000 }, () => {});
    let layers: TranscodeLayers | undefined;
    let timer: NodeJS.Timeout | undefined;
    try {
      const { track, transceiver } = await received;
      published.attach(track, transceiver.receiver);
      await waitFor(
        "publisher connected and sending",
        () => server.connectionState === "connected" && published.ssrc !== undefined,
        5000,
      );
      assert.equal(TranscodeLayers.possible(published, pool), true);
      layers = new TranscodeLayers(published, pool, {
        sourceId: "room/alice",
        height: 180,
        bitrateBps: 150_000,
        keyframeMinIntervalMs: 200,
        requestSourceKeyframe: () => published.sendPli(),
      });
      const switches: Array<[number, number]> = [];
      const gate = new LayerSwitch(
        layers,
        { startBitrate: 500_000, minBitrate: 100_000, maxBitrate: 8_000_000, step: 100_000, upHoldMs: 500 },
        { switched: (from, to) => switches.push([from, to]), keyframeRequested: () => {} },
      );
      layers.attach(gate);
      // What the forwarder would send: admitted packets, with their layer and keyframe size.
      const sent: Array<{ layer: number; size?: { width: number; height: number } }> = [];
      const unsubscribe = layers.source.subscribe((packet, _now, layer) => {
        if (!gate.admit(layer, packet.header.ssrc, packet.payload)) return;
        const size = vp8KeyframeSize(packet.serialize());
        sent.push({ layer, ...(size ? { size } : {}) });
      });
      timer = setInterval(() => gate.decide(performance.now()), 250);
      // A listener with no preference and a good estimate gets the source; no transcoder.
      gate.selector.remb(5_000_000);
      await waitFor("forwarding the source layer", () => gate.current === SOURCE_LAYER, 6000);
      await new Promise((r) => setTimeout(r, 1000));
      assert.equal(pool.size, 0, "no transcoder for a listener who can take the source");
      assert.equal(layers.transcoding, false);

      // The listener shows a 180-line tile.
      gate.setPreference({ maxHeight: 180 }, performance.now());
      await waitFor("switched to the server layer", () => gate.current === SERVER_LAYER, 10_000);
      assert.equal(layers.transcoding, true);
      assert.equal(pool.pids.length, 1);
      const pid = pool.pids[0] as number;
      await waitFor(
        "a few packets of it",
        () => sent.filter((p) => p.layer === SERVER_LAYER).length > 10,
        5000,
      );
      const firstServer = sent.find((p) => p.layer === SERVER_LAYER);
      assert.deepEqual(firstServer?.size, { width: 240, height: 180 }, "the switch starts on its keyframe");
      const afterSwitch = sent.slice(sent.indexOf(firstServer as (typeof sent)[number]));
      assert.ok(
        afterSwitch.every((p) => p.layer === SERVER_LAYER),
        "nothing of the source passes after the switch",
      );

      if (onDemand) {
        // The listener lost what NACK could not repair: its PLI gets a keyframe of the server layer now.
        await new Promise((r) => setTimeout(r, 1000));
        const sentBeforePli = sent.length;
        const askedAt = performance.now();
        gate.keyframeNeeded();
        await waitFor(
          "a server-layer keyframe after the listener's PLI",
          () => sent.slice(sentBeforePli).some((p) => p.layer === SERVER_LAYER && p.size !== undefined),
          500,
        );
        console.log(
          `# server-layer keyframe ${Math.round(performance.now() - askedAt)} ms after the listener's PLI`,
        );
      }

      // The tile grows again: back to the source, on a keyframe the publisher was asked for.
      const plisBefore = plis;
      const sentBefore = sent.length;
      gate.setPreference({}, performance.now());
      await waitFor("switched back to the source", () => gate.current === SOURCE_LAYER, 10_000);
      const back = sent.slice(sentBefore).find((p) => p.layer === SOURCE_LAYER);
      assert.deepEqual(back?.size, { width: 640, height: 480 });
      await waitFor("the publisher got a PLI for it", () => plis > plisBefore, 3000);
      await waitFor("lease given back", () => !layers?.transcoding, 2000);
      await waitFor(
        "transcoder stopped after the linger",
        () => pool.size === 0 && processGone(pid),
        lingerMs + 5000,
      );
      assert.deepEqual(switches, [
        [-1, SOURCE_LAYER],
        [SOURCE_LAYER, SERVER_LAYER],
        [SERVER_LAYER, SOURCE_LAYER],
      ]);
      unsubscribe();
    } finally {
      clearInterval(timer);
      layers?.close();
      published.close();
      await pool.close();
      await gst.close();
      await Promise.all([pub.close(), server.close()]);
    }
  });

  it("a low estimate (REMB) for 3 s brings the server layer in; a high one takes the listener back", async () => {
    const rig = await setUp({ max: 2, lingerMs: 500 });
    try {
      // The source sends ~600 kbit/s; the listener says it can take 100 kbit/s.
      await waitFor(
        "the source's bitrate measured",
        () => (rig.layers.views(performance.now())[1]?.bitrate ?? 0) > 300_000,
        5000,
      );
      rig.gate.selector.remb(100_000);
      const lowAt = performance.now();
      await waitFor(
        "switched to the server layer for bandwidth",
        () => rig.gate.current === SERVER_LAYER,
        15_000,
      );
      assert.ok(performance.now() - lowAt >= 3000, "not before the estimate stayed low for 3 s");
      const first = rig.sent.find((p) => p.layer === SERVER_LAYER);
      assert.deepEqual(first?.size, { width: 240, height: 180 });
      assert.equal(rig.gate.selector.reason, "bandwidth");
      const pid = rig.pool.pids[0] as number;
      rig.gate.selector.remb(5_000_000);
      await waitFor("back on the source", () => rig.gate.current === SOURCE_LAYER, 10_000);
      await waitFor(
        "transcoder stopped after the linger",
        () => rig.pool.size === 0 && processGone(pid),
        6000,
      );
    } finally {
      await rig.close();
    }
  });

  it("refused at TRANSCODE_MAX (counted): the listener stays on the source layer", async () => {
    const rig = await setUp({ max: 1, lingerMs: 0 });
    const holder = rig.pool.acquire(
      { id: "room/other", codec: "VP8", subscribe: () => () => {}, requestKeyframe: () => {} },
      180,
    );
    try {
      assert.ok(holder.ok);
      const switchedAt = rig.switches.length;
      rig.gate.setPreference({ maxHeight: 180 }, performance.now());
      await waitFor(
        "the refusal",
        async () =>
          (
            await rig.metrics.registry.getSingleMetricAsString(
              "webrtcsignaling_media_transcode_refused_total",
            )
          ).includes('reason="max"} 1'),
        5000,
      );
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal(rig.gate.current, SOURCE_LAYER);
      assert.equal(rig.layers.transcoding, false);
      assert.deepEqual(rig.switches.slice(switchedAt), [], "no switch away from the source");
      assert.equal(rig.pool.size, 1, "only the holder's slot");
      holder.lease.release();
    } finally {
      await rig.close();
    }
  });

  it("is not possible without a usable pool, for simulcast tracks or for H.264", async () => {
    const metrics = newMetrics({ processMetrics: false });
    const off = new TranscoderPool({
      config: { max: 0, lingerMs: 0, bitrateBps: 150_000, keyframeIntervalMs: 1000 },
      metrics,
      log: newSilentLogger(),
    });
    const on = new TranscoderPool({
      config: { max: 1, lingerMs: 0, bitrateBps: 150_000, keyframeIntervalMs: 1000 },
      metrics,
      log: newSilentLogger(),
    });
    const vp8 = new PublishedTrack("video", { mimeType: "video/VP8", clockRate: 90000 }, () => {});
    const h264 = new PublishedTrack("video", { mimeType: "video/H264", clockRate: 90000 }, () => {});
    const simulcast = new PublishedTrack("video", { mimeType: "video/VP8", clockRate: 90000 }, () => {});
    simulcast.setLayers(["q", "h", "f"], 500);
    assert.equal(TranscodeLayers.possible(vp8, undefined), false);
    assert.equal(TranscodeLayers.possible(vp8, off), false);
    assert.equal(TranscodeLayers.possible(vp8, on), true);
    assert.equal(TranscodeLayers.possible(h264, on), false);
    assert.equal(TranscodeLayers.possible(simulcast, on), false);
    for (const t of [vp8, h264, simulcast]) t.close();
    await Promise.all([off.close(), on.close()]);
  });
});

describe("when the server layer is offered (simulated time, no process)", () => {
  /** A VP8 keyframe start: descriptor (S bit), frame tag with P clear, and, if sized, the start code and size. */
  const keyframe = (sized: boolean): Buffer => {
    const p = Buffer.alloc(1000, 0x55);
    p[0] = 0x10;
    p[1] = 0x00;
    if (sized) {
      p.set([0x9d, 0x01, 0x2a], 4);
      p.writeUInt16LE(640, 7);
      p.writeUInt16LE(480, 9);
    }
    return p;
  };

  for (const sized of [true, false]) {
    it(`a low estimate for 3 s ${sized ? "offers it for a 640x480 source" : "never offers it for a source of unknown size (synthetic VP8)"}`, async () => {
      const metrics = newMetrics({ processMetrics: false });
      // GStreamer "absent": an acquire is refused and counted, which shows the selector targeted layer 0.
      const pool = new TranscoderPool({
        config: { max: 1, lingerMs: 0, bitrateBps: 150_000, keyframeIntervalMs: 1000 },
        metrics,
        log: newSilentLogger(),
        gst: { available: false, reason: "test", codecs: new Set(), gstLaunch: "gst-launch-1.0" },
      });
      const track = new PublishedTrack("video", { mimeType: "video/VP8", clockRate: 90000 }, () => {});
      const layers = new TranscodeLayers(track, pool, {
        sourceId: "r/p",
        height: 180,
        bitrateBps: 150_000,
        keyframeMinIntervalMs: 200,
        requestSourceKeyframe: () => {},
      });
      const gate = new LayerSwitch(
        layers,
        { startBitrate: 500_000, minBitrate: 100_000, maxBitrate: 8_000_000, step: 100_000 },
        { switched: () => {}, keyframeRequested: () => {} },
      );
      layers.attach(gate);
      gate.selector.remb(100_000);
      const targets = new Set<number>();
      // 2 Mbit/s of source packets (25 fps x 10 packets), 6 s of simulated time, a decision every 250 ms.
      const t0 = performance.now();
      for (let frame = 0; frame < 150; frame++) {
        const now = t0 + frame * 40;
        for (let i = 0; i < 10; i++)
          layers.packet(1, 1234, i === 0 ? keyframe(sized) : Buffer.alloc(1000, 0x55), now);
        if (frame % 6 === 0) {
          gate.decide(now);
          targets.add(gate.target);
        }
      }
      const refused = (
        await metrics.registry.getSingleMetricAsString("webrtcsignaling_media_transcode_refused_total")
      ).includes('reason="unavailable"} 1');
      assert.equal(refused, sized, sized ? "the selector targeted the server layer" : "never targeted");
      assert.equal(targets.has(0), sized);
      layers.close();
      track.close();
      await pool.close();
    });
  }
});

describe("a re-publish under a gate", () => {
  it("a new source SSRC asks the publisher for a keyframe (a gate-less forwarder would)", async () => {
    const metrics = newMetrics({ processMetrics: false });
    const pool = new TranscoderPool({
      config: { max: 1, lingerMs: 0, bitrateBps: 150_000, keyframeIntervalMs: 1000 },
      metrics,
      log: newSilentLogger(),
      gst: { available: false, reason: "test", codecs: new Set(), gstLaunch: "gst-launch-1.0" },
    });
    const pc = newTestPeerConnection();
    const receiver = pc.addTransceiver("video", { direction: "recvonly" }).receiver;
    const track = new PublishedTrack("video", { mimeType: "video/VP8", clockRate: 90000 }, () => {});
    let requests = 0;
    const layers = new TranscodeLayers(track, pool, {
      sourceId: "r/p",
      height: 180,
      bitrateBps: 150_000,
      keyframeMinIntervalMs: 200,
      requestSourceKeyframe: () => requests++,
    });
    const seen: Array<[number, number]> = [];
    const unsubscribe = layers.source.subscribe((packet, _now, layer) =>
      seen.push([packet.header.ssrc, layer]),
    );
    const send = (t: MediaStreamTrack, ssrc: number, seq: number) =>
      t.onReceiveRtp.execute(
        new RtpPacket(
          new RtpHeader({ payloadType: 96, ssrc, sequenceNumber: seq, timestamp: seq * 3000 }),
          Buffer.from([0x10, 0, 0]),
        ),
        {},
      );
    try {
      const first = new MediaStreamTrack({ kind: "video", remote: true });
      track.attach(first, receiver);
      send(first, 1111, 1);
      send(first, 1111, 2);
      assert.equal(requests, 0, "the first source needs no request (the gate asks for its layer)");
      const second = new MediaStreamTrack({ kind: "video", remote: true });
      track.attach(second, receiver);
      send(second, 2222, 1);
      send(second, 2222, 2);
      assert.equal(requests, 1);
      assert.deepEqual(seen, [
        [1111, SOURCE_LAYER],
        [1111, SOURCE_LAYER],
        [2222, SOURCE_LAYER],
        [2222, SOURCE_LAYER],
      ]);
    } finally {
      unsubscribe();
      layers.close();
      track.close();
      await pool.close();
      await pc.close();
    }
  });
});

interface Rig {
  pool: TranscoderPool;
  metrics: ReturnType<typeof newMetrics>;
  layers: TranscodeLayers;
  gate: LayerSwitch;
  sent: Array<{ layer: number; size?: { width: number; height: number } }>;
  switches: Array<[number, number]>;
  close(): Promise<void>;
}

/** A werift publisher (GStreamer VP8, 640x480, keyframe every 2 s) to a werift peer; one listener's gate on the source layer. */
async function setUp(pool: { max: number; lingerMs: number }): Promise<Rig> {
  const pub = newTestPeerConnection();
  const server = newTestPeerConnection();
  const video = new MediaStreamTrack({ kind: "video" });
  pub.addTransceiver(video, { direction: "sendonly" });
  const received = new Promise<{ track: MediaStreamTrack; transceiver: RTCRtpTransceiver }>((resolve) =>
    server.onTrack.subscribe((track) => {
      const transceiver = server.getTransceivers().find((t) => t.receiver.tracks.includes(track));
      if (transceiver) resolve({ track, transceiver });
    }),
  );
  await pub.setLocalDescription(await pub.createOffer());
  await server.setRemoteDescription(pub.localDescription as NonNullable<typeof pub.localDescription>);
  await server.setLocalDescription(await server.createAnswer());
  await pub.setRemoteDescription(server.localDescription as NonNullable<typeof server.localDescription>);
  const gst = startVp8Source({
    width: 640,
    height: 480,
    fps: 15,
    keyframeEvery: 30,
    pattern: "smpte",
    onPacket: (rtp) => video.writeRtp(RtpPacket.deSerialize(rtp)),
  });
  const metrics = newMetrics({ processMetrics: false });
  const transcoders = new TranscoderPool({
    config: { ...pool, bitrateBps: 150_000, keyframeIntervalMs: 1000 },
    metrics,
    log: newSilentLogger(),
  });
  const published = new PublishedTrack("video", { mimeType: "video/VP8", clockRate: 90000 }, () => {});
  const { track, transceiver } = await received;
  published.attach(track, transceiver.receiver);
  await waitFor(
    "publisher connected and sending",
    () => server.connectionState === "connected" && published.ssrc !== undefined,
    5000,
  );
  const layers = new TranscodeLayers(published, transcoders, {
    sourceId: "room/alice",
    height: 180,
    bitrateBps: 150_000,
    keyframeMinIntervalMs: 200,
    requestSourceKeyframe: () => published.sendPli(),
  });
  const switches: Array<[number, number]> = [];
  const gate = new LayerSwitch(
    layers,
    { startBitrate: 500_000, minBitrate: 100_000, maxBitrate: 8_000_000, step: 100_000, upHoldMs: 500 },
    { switched: (from, to) => switches.push([from, to]), keyframeRequested: () => {} },
  );
  layers.attach(gate);
  const sent: Rig["sent"] = [];
  const unsubscribe = layers.source.subscribe((packet, _now, layer) => {
    if (!gate.admit(layer, packet.header.ssrc, packet.payload)) return;
    const size = vp8KeyframeSize(packet.serialize());
    sent.push({ layer, ...(size ? { size } : {}) });
  });
  const timer = setInterval(() => gate.decide(performance.now()), 250);
  gate.selector.remb(5_000_000);
  await waitFor("forwarding the source layer", () => gate.current === SOURCE_LAYER, 6000);
  return {
    pool: transcoders,
    metrics,
    layers,
    gate,
    sent,
    switches,
    async close() {
      clearInterval(timer);
      unsubscribe();
      layers.close();
      published.close();
      await transcoders.close();
      await gst.close();
      await Promise.all([pub.close(), server.close()]);
    },
  };
}
