/**
 * A werift publisher that sends VP8 simulcast as a browser does: the offer lists three rids
 * (a=rid ... send, a=simulcast), and each layer is a stream of its own SSRC whose packets carry the
 * RID header extension, with real VP8 payload descriptors (15-bit picture ID, TL0PICIDX) and
 * keyframe headers (start code and size), no RTX (the server does not negotiate it for simulcast).
 * werift sends one SSRC per sender, so the layers' packets
 * are written to the transport directly. Each layer's payload bytes are filled with its own marker
 * (0x11, 0x22, 0x33) so that a listener can tell which layer it receives.
 */
import {
  GenericNack,
  MediaStreamTrack,
  PictureLossIndication,
  ReceiverEstimatedMaxBitrate,
  type RTCRtpTransceiver,
  RtcpPayloadSpecificFeedback,
  RtcpRrPacket,
  RtcpTransportLayerFeedback,
  RtpHeader,
  RtpPacket,
} from "werift";
import { weriftPeerConnection } from "./werift-config.ts";

export interface TestLayer {
  rid: string;
  ssrc: number;
  width: number;
  height: number;
  packetsPerFrame: number;
  packetSize: number;
  /** Fill byte of the payload after the VP8 header. */
  marker: number;
  seq: number;
  ts: number;
  pictureId: number;
  tl0: number;
  keyframeWanted: boolean;
  /** PLIs received for this layer's SSRC. */
  plis: number;
  /** NACKed sequence numbers received for this layer's SSRC. */
  nacked: number;
  keyframesSent: number;
  /** Receiver-report blocks the server sent about this layer's SSRC (its receive statistics: loss, jitter). */
  reports: number;
  /** false: the layer is not sent (a browser stopping a layer). */
  enabled: boolean;
}

export const LAYER_MARKERS = [0x11, 0x22, 0x33] as const;

export class SimulcastTestPublisher {
  readonly pc = weriftPeerConnection({
    address: "127.0.0.1",
    rtx: false,
    bundlePolicy: "max-bundle",
    rid: true,
  });
  readonly audio = new MediaStreamTrack({ kind: "audio" });
  readonly layers: TestLayer[];
  readonly #video: RTCRtpTransceiver;
  #timer: NodeJS.Timeout | undefined;
  #aSeq = Math.floor(Math.random() * 60000);
  #aTs = Math.floor(Math.random() * 2 ** 31);
  #rtcpSubscribed = false;
  #extIds: { mid: number; rid: number } | undefined;
  /** The last REMB the server sent (bps) and the SSRCs it named; undefined before the first. */
  lastRemb: { bitrate: number; ssrcs: number[] } | undefined = undefined;

  /** 320x180 1 x 500 B, 640x360 2 x 800 B, 1280x720 5 x 1000 B per frame at 25 fps (~100k, 320k, 1M bit/s). */
  constructor() {
    this.pc.addTransceiver(this.audio, { direction: "sendonly" });
    this.#video = this.pc.addTransceiver("video", {
      direction: "sendonly",
      sendEncodings: [{ rid: "q" }, { rid: "h" }, { rid: "f" }],
    });
    const spec = [
      { rid: "q", width: 320, height: 180, packetsPerFrame: 1, packetSize: 500 },
      { rid: "h", width: 640, height: 360, packetsPerFrame: 2, packetSize: 800 },
      { rid: "f", width: 1280, height: 720, packetsPerFrame: 5, packetSize: 1000 },
    ];
    this.layers = spec.map((s, i) => ({
      ...s,
      ssrc: 0x10000000 + Math.floor(Math.random() * 0x0fffffff) + i,
      marker: LAYER_MARKERS[i] as number,
      seq: Math.floor(Math.random() * 60000),
      ts: Math.floor(Math.random() * 2 ** 31),
      pictureId: Math.floor(Math.random() * 0x7000),
      tl0: Math.floor(Math.random() * 200),
      keyframeWanted: true,
      plis: 0,
      nacked: 0,
      keyframesSent: 0,
      reports: 0,
      enabled: true,
    }));
  }

  async offer(): Promise<{ type: "offer"; sdp: string }> {
    await this.pc.setLocalDescription(await this.pc.createOffer());
    return { type: "offer", sdp: this.pc.localDescription?.sdp ?? "" };
  }

  /** 25 fps video on every enabled layer and 50 pps audio, until stop(). */
  start(): void {
    let tick = 0;
    this.#timer = setInterval(() => {
      tick++;
      this.#sendAudio();
      if (tick % 2 === 0) for (const layer of this.layers) if (layer.enabled) this.#sendFrame(layer);
    }, 20);
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  async close(): Promise<void> {
    this.stop();
    await this.pc.close();
  }

  #sendAudio(): void {
    this.audio.writeRtp(
      new RtpPacket(
        new RtpHeader({ payloadType: 111, sequenceNumber: this.#aSeq, timestamp: this.#aTs, marker: true }),
        Buffer.alloc(60, 0xab),
      ),
    );
    this.#aSeq = (this.#aSeq + 1) & 0xffff;
    this.#aTs = (this.#aTs + 960) >>> 0;
  }

  #sendFrame(layer: TestLayer): void {
    const transport = this.#video.sender.dtlsTransport;
    if (transport?.state !== "connected") return;
    this.#watchRtcp();
    const ids = this.#ids();
    if (!ids) return;
    const key = layer.keyframeWanted;
    layer.keyframeWanted = false;
    if (key) layer.keyframesSent++;
    for (let i = 0; i < layer.packetsPerFrame; i++) {
      const payload = Buffer.alloc(layer.packetSize, layer.marker);
      // Descriptor: X, S on the first packet; I (15-bit picture ID), L (TL0PICIDX).
      payload[0] = 0x80 | (i === 0 ? 0x10 : 0);
      payload[1] = 0xc0;
      payload[2] = 0x80 | (layer.pictureId >> 8);
      payload[3] = layer.pictureId & 0xff;
      payload[4] = layer.tl0;
      if (i === 0) {
        // VP8 payload header: P bit clear on keyframes, which carry the start code and their size.
        payload[5] = key ? 0x00 : 0x01;
        if (key) {
          payload.set([0x00, 0x00, 0x9d, 0x01, 0x2a], 6);
          payload.writeUInt16LE(layer.width, 11);
          payload.writeUInt16LE(layer.height, 13);
        }
      }
      const header = new RtpHeader({
        payloadType: 96,
        sequenceNumber: layer.seq,
        timestamp: layer.ts,
        ssrc: layer.ssrc,
        marker: i === layer.packetsPerFrame - 1,
        extension: true,
        extensionProfile: 0xbede,
        extensions: [
          { id: ids.mid, payload: Buffer.from(this.#video.mid ?? "1") },
          { id: ids.rid, payload: Buffer.from(layer.rid) },
        ],
      });
      void transport.sendRtp(payload, header);
      layer.seq = (layer.seq + 1) & 0xffff;
    }
    layer.ts = (layer.ts + 3600) >>> 0;
    layer.pictureId = (layer.pictureId + 1) & 0x7fff;
    layer.tl0 = (layer.tl0 + 1) & 0xff;
  }

  #ids(): { mid: number; rid: number } | undefined {
    if (this.#extIds) return this.#extIds;
    const ext = this.#video.headerExtensions;
    const mid = ext.find((e) => e.uri === "urn:ietf:params:rtp-hdrext:sdes:mid")?.id;
    const rid = ext.find((e) => e.uri === "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id")?.id;
    if (mid === undefined || rid === undefined) return undefined;
    this.#extIds = { mid, rid };
    return this.#extIds;
  }

  /** PLIs for a layer's SSRC (werift's router knows only the sender's own SSRC: read them off the transport). */
  #watchRtcp(): void {
    if (this.#rtcpSubscribed) return;
    this.#rtcpSubscribed = true;
    this.#video.sender.dtlsTransport.onRtcp.subscribe((packet) => {
      if (packet instanceof RtcpTransportLayerFeedback && packet.feedback instanceof GenericNack) {
        const nacked = this.layers.find((l) => l.ssrc === packet.feedback.mediaSourceSsrc);
        if (nacked) nacked.nacked += packet.feedback.lost.length;
        return;
      }
      if (packet instanceof RtcpRrPacket) {
        for (const r of packet.reports) {
          const layer = this.layers.find((l) => l.ssrc === r.ssrc);
          if (layer) layer.reports++;
        }
        return;
      }
      if (!(packet instanceof RtcpPayloadSpecificFeedback)) return;
      if (packet.feedback instanceof ReceiverEstimatedMaxBitrate) {
        this.lastRemb = {
          bitrate: Number(packet.feedback.bitrate),
          ssrcs: [...packet.feedback.ssrcFeedbacks],
        };
        return;
      }
      if (!(packet.feedback instanceof PictureLossIndication)) return;
      const layer = this.layers.find((l) => l.ssrc === packet.feedback.mediaSsrc);
      if (!layer) return;
      layer.plis++;
      layer.keyframeWanted = true;
    });
  }
}
