import { RtpPacket } from "werift";
import type { TranscodeCodec } from "../transcode/transcoder.ts";
import type { TranscodedLayer, TranscodeSource } from "../transcode/transcoder-pool.ts";
import type { PacketSink, PublishedTrack } from "./published-track.ts";

type LayeredSink = (packet: RtpPacket, nowMs: number, layer: number) => void;

/** The transcoder's name for a negotiated video codec, or undefined when it cannot decode it. */
export function transcodeCodecOf(mimeType: string): TranscodeCodec | undefined {
  const m = mimeType.toLowerCase();
  return m === "video/vp8" ? "VP8" : m === "video/h264" ? "H264" : undefined;
}

/**
 * A publisher's video track as a transcoder input: each packet serialised back to bytes (the
 * publisher's numbering, RTX already unwrapped by werift), keyframe requests through the caller's
 * throttled requester (the publisher session's KeyframeRequester).
 */
export class PublishedTrackSource implements TranscodeSource {
  readonly id: string;
  readonly #track: PublishedTrack;
  readonly #requestKeyframe: () => void;

  constructor(id: string, track: PublishedTrack, requestKeyframe: () => void) {
    if (track.kind !== "video")
      throw new Error(`PublishedTrackSource needs a video track, got ${track.kind}`);
    this.id = id;
    this.#track = track;
    this.#requestKeyframe = requestKeyframe;
  }

  /** The codec the publisher sends now; a codec the transcoder cannot decode reads as VP8 and is refused earlier. */
  get codec(): TranscodeCodec {
    return transcodeCodecOf(this.#track.codec.mimeType) ?? "VP8";
  }

  /** true when the track's current codec can be transcoded at all (check before acquiring). */
  get decodable(): boolean {
    return transcodeCodecOf(this.#track.codec.mimeType) !== undefined;
  }

  subscribe(sink: (rtp: Uint8Array) => void): () => void {
    return this.#track.subscribe((packet) => sink(packet.serialize()));
  }

  requestKeyframe(): void {
    this.#requestKeyframe();
  }
}

/**
 * A transcoded layer as the forwarders see a published track: kind "video", VP8, subscribe(sink)
 * with werift RtpPackets (parsed once per packet for all sinks) and the arrival time. A restarted
 * transcoder has a new SSRC, which a forwarder treats as a re-publish (continuous numbering, keyframe
 * wanted); a keyframe comes at least every TRANSCODE_KEYFRAME_INTERVAL_MS, and a keyframe request
 * (sendPli) makes the layer's encoder produce one now where the pipeline runner is installed.
 */
export class TranscodedTrack {
  readonly kind = "video" as const;
  readonly codec = { mimeType: "video/VP8", clockRate: 90000 } as const;
  readonly layer: TranscodedLayer;
  #sinks: PacketSink[] = [];
  #unsubscribe: (() => void) | undefined;

  constructor(layer: TranscodedLayer) {
    this.layer = layer;
  }

  get ssrc(): number | undefined {
    return this.layer.ssrc;
  }

  get sinkCount(): number {
    return this.#sinks.length;
  }

  subscribe(sink: PacketSink): () => void {
    this.#sinks = [...this.#sinks, sink];
    this.#unsubscribe ??= this.layer.subscribe((rtp) => {
      const packet = RtpPacket.deSerialize(rtp);
      const now = performance.now();
      const sinks = this.#sinks;
      // Layer 0: a simulcast-aware sink sees the transcoded stream as a single encoding.
      for (let i = 0; i < sinks.length; i++) (sinks[i] as LayeredSink)(packet, now, 0);
    });
    return () => {
      this.#sinks = this.#sinks.filter((s) => s !== sink);
      if (this.#sinks.length === 0) {
        this.#unsubscribe?.();
        this.#unsubscribe = undefined;
      }
    };
  }

  /** Asks the layer's encoder for a keyframe (throttled by the layer; periodic only under gst-launch-1.0). */
  sendPli(): boolean {
    this.layer.requestKeyframe();
    return true;
  }

  close(): void {
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    this.#sinks = [];
  }
}
