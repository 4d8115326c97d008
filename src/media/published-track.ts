import type { MediaStreamTrack, RTCRtpReceiver, RtpPacket } from "werift";
import type { NegotiatedCodec } from "./codec-policy.ts";

export type MediaKind = "audio" | "video";

/** Receives every packet of a published track, in arrival order (retransmissions included). */
export type PacketSink = (packet: RtpPacket) => void;

/**
 * One kind (audio or video) of one publisher, as the forwarders see it. It outlives the werift track
 * and even the publisher's peer connection: on a re-publish the new track is attached here and
 * the forwarders notice the new SSRC and keep their outgoing numbering continuous.
 */
export class PublishedTrack {
  readonly kind: MediaKind;
  codec: NegotiatedCodec;
  readonly #sinks = new Set<PacketSink>();
  readonly #onPacket: (packet: RtpPacket) => void;
  #detach: (() => void) | undefined;
  #receiver: RTCRtpReceiver | undefined;
  #ssrc: number | undefined;

  /** onPacket sees every packet first (metrics, frame detection). */
  constructor(kind: MediaKind, codec: NegotiatedCodec, onPacket: (packet: RtpPacket) => void) {
    this.kind = kind;
    this.codec = codec;
    this.#onPacket = onPacket;
  }

  /** The publisher's current SSRC for this track, once a packet arrived. */
  get ssrc(): number | undefined {
    return this.#ssrc;
  }

  get sinkCount(): number {
    return this.#sinks.size;
  }

  attach(track: MediaStreamTrack, receiver: RTCRtpReceiver): void {
    this.detach();
    this.#receiver = receiver;
    if (track.ssrc !== undefined) this.#ssrc = track.ssrc;
    const { unSubscribe } = track.onReceiveRtp.subscribe((packet) => {
      this.#ssrc = packet.header.ssrc;
      this.#onPacket(packet);
      for (const sink of this.#sinks) sink(packet);
    });
    this.#detach = unSubscribe;
  }

  detach(): void {
    this.#detach?.();
    this.#detach = undefined;
    this.#receiver = undefined;
  }

  subscribe(sink: PacketSink): () => void {
    this.#sinks.add(sink);
    return () => {
      this.#sinks.delete(sink);
    };
  }

  /** Sends a PLI to the publisher (the caller throttles). */
  sendPli(): boolean {
    if (!this.#receiver || this.#ssrc === undefined) return false;
    void this.#receiver.sendRtcpPLI(this.#ssrc);
    return true;
  }

  /** The receiver of the current attachment, for sending RTCP (REMB) to the publisher. */
  get receiver(): RTCRtpReceiver | undefined {
    return this.#receiver;
  }

  close(): void {
    this.detach();
    this.#sinks.clear();
  }
}
