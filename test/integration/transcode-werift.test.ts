import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { MediaStreamTrack, type RTCRtpTransceiver, RtpPacket } from "werift";
import { newSilentLogger } from "../../src/lib/logger.ts";
import { TranscoderPool } from "../../src/media/transcode/transcoder-pool.ts";
import { PublishedTrack } from "../../src/media/werift/published-track.ts";
import {
  PublishedTrackSource,
  TranscodedTrack,
  transcodeCodecOf,
} from "../../src/media/werift/transcode-adapter.ts";
import { newMetrics } from "../../src/metrics/metrics.ts";
import { gstreamerUnavailable, processGone, startVp8Source, vp8KeyframeSize } from "../helpers/gstreamer.ts";
import { waitFor } from "../helpers/wait-for.ts";
import { newTestPeerConnection } from "../helpers/werift-peers.ts";

/**
 * The werift side of transcoding: a werift publisher sends real VP8 (made by GStreamer) over
 * DTLS/SRTP on loopback to a werift peer playing the server, whose PublishedTrack feeds the pool
 * through PublishedTrackSource; the layer comes back as werift RtpPackets through TranscodedTrack,
 * the forwarders' source type.
 */
describe("transcoding a werift-received track", { skip: gstreamerUnavailable(), timeout: 30_000 }, () => {
  it("maps codecs", () => {
    assert.equal(transcodeCodecOf("video/VP8"), "VP8");
    assert.equal(transcodeCodecOf("video/H264"), "H264");
    assert.equal(transcodeCodecOf("video/AV1"), undefined);
  });

  it("a published 640x480 track becomes a 180-line layer; the publisher is asked for a keyframe", async () => {
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
    const gst = startVp8Source({
      width: 640,
      height: 480,
      fps: 15,
      onPacket: (rtp) => video.writeRtp(RtpPacket.deSerialize(rtp)),
    });
    const metrics = newMetrics({ processMetrics: false });
    const pool = new TranscoderPool({
      config: { max: 2, lingerMs: 0, bitrateBps: 150_000, keyframeIntervalMs: 1000 },
      metrics,
      log: newSilentLogger(),
    });
    const published = new PublishedTrack("video", { mimeType: "video/VP8", clockRate: 90000 }, () => {});
    try {
      const { track, transceiver } = await received;
      published.attach(track, transceiver.receiver);
      // A listener needs the lower layer of a publisher that is connected and sending.
      await waitFor(
        "publisher connected and sending",
        () => server.connectionState === "connected" && published.ssrc !== undefined,
        5000,
      );
      const source = new PublishedTrackSource("room/alice", published, () => published.sendPli());
      assert.equal(source.codec, "VP8");
      const got = pool.acquire(source, 180);
      assert.ok(got.ok);
      const layerTrack = new TranscodedTrack(got.lease.layer);
      const sizes: Array<{ width: number; height: number }> = [];
      const ssrcs = new Set<number>();
      const unsubscribe = layerTrack.subscribe((packet, nowMs) => {
        assert.ok(packet instanceof RtpPacket);
        assert.equal(typeof nowMs, "number");
        ssrcs.add(packet.header.ssrc);
        const size = vp8KeyframeSize(packet.serialize());
        if (size) sizes.push(size);
      });
      await waitFor("two keyframes of the layer", () => sizes.length >= 2, 10_000);
      assert.deepEqual(sizes[0], { width: 240, height: 180 });
      assert.deepEqual([...ssrcs], [layerTrack.ssrc]);
      await waitFor(
        "the pool's keyframe request reaches the werift publisher (PLI over SRTCP)",
        () => plis >= 1,
        3000,
      );
      assert.equal(published.sinkCount, 1, "one subscription of the transcoder to the published track");
      const pid = pool.pids[0] as number;
      unsubscribe();
      assert.equal(layerTrack.sinkCount, 0);
      got.lease.release();
      await waitFor(
        "the transcoder stops (linger 0) and unsubscribes",
        () => processGone(pid) && published.sinkCount === 0,
      );
    } finally {
      published.close();
      await pool.close();
      await gst.close();
      await Promise.all([pub.close(), server.close()]);
    }
  });
});
