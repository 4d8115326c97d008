import type { MediaStreamTrack, RTCRtpReceiver, RtpPacket } from "werift";
import { SimulcastLayers } from "../simulcast-layers.ts";
import type { NegotiatedCodec } from "./codec-policy.ts";
import { nackPerSsrc } from "./compat.ts";

export type MediaKind = "audio" | "video";

/**
 * Receives every packet of a published track, in arrival order (retransmissions included), with the
 * arrival time (performance.now(), read once per packet for all sinks) and, for a simulcast track,
 * the layer (index into `simulcast.layers`, low to high; always 0 otherwise).
 */
export type PacketSink = (packet: RtpPacket, nowMs: number, layer: number) => void;

/**
 * One kind (audio or video) of one publisher, as the forwarders see it. It outlives the werift track
 * and even the publisher's peer connection: on a re-publish the new track is attached here and
 * the forwarders notice the new SSRC and keep their outgoing numbering continuous.
 */
export class PublishedTrack {
  readonly kind: MediaKind;
  codec: NegotiatedCodec;
  /** An array (not a Set): iterated once per packet, changed only when a listener comes or goes. */
  #sinks: PacketSink[] = [];
  readonly #onPacket: (packet: RtpPacket) => void;
  #detach: (() => void) | undefined;
  #receiver: RTCRtpReceiver | undefined;
  #ssrc: number | undefined;
  /** Simulcast (two or more rids negotiated): the layers' bookkeeping; undefined for one encoding. */
  #simulcast: SimulcastLayers | undefined;
  #keyframeMinIntervalMs = 500;
  /** The layers object the current subscriptions feed. */
  #attachedLayers: SimulcastLayers | undefined;

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
    return this.#sinks.length;
  }

  /** The simulcast layers (two or more encodings negotiated by rid), or undefined. */
  get simulcast(): SimulcastLayers | undefined {
    return this.#simulcast;
  }

  /**
   * The rids the publisher's offer listed for this track (low to high), before attach: two or more
   * make it a simulcast track (same rids: the layers' state is kept across a renegotiation).
   */
  setLayers(rids: readonly string[], keyframeMinIntervalMs: number): void {
    this.#keyframeMinIntervalMs = keyframeMinIntervalMs;
    const same =
      this.#simulcast !== undefined &&
      this.#simulcast.layers.length === rids.length &&
      this.#simulcast.layers.every((l, i) => l.rid === rids[i]);
    if (same) return;
    this.#simulcast?.close();
    this.#simulcast =
      rids.length >= 2
        ? new SimulcastLayers(rids, this.#keyframeMinIntervalMs, (ssrc) => this.#pli(ssrc))
        : undefined;
  }

  attach(track: MediaStreamTrack, receiver: RTCRtpReceiver): void {
    if (this.#simulcast) {
      this.#attachLayers(this.#simulcast, receiver);
      return;
    }
    this.detach();
    this.#receiver = receiver;
    if (track.ssrc !== undefined) this.#ssrc = track.ssrc;
    const { unSubscribe } = track.onReceiveRtp.subscribe((packet) => {
      this.#ssrc = packet.header.ssrc;
      this.#onPacket(packet);
      const now = performance.now();
      const sinks = this.#sinks;
      for (let i = 0; i < sinks.length; i++) (sinks[i] as PacketSink)(packet, now, 0);
    });
    this.#detach = unSubscribe;
  }

  /** Simulcast: one subscription per rid track of the receiver, each packet tagged with its layer. */
  #attachLayers(layers: SimulcastLayers, receiver: RTCRtpReceiver): void {
    if (this.#receiver === receiver && this.#detach && this.#attachedLayers === layers) return;
    this.detach();
    this.#receiver = receiver;
    this.#attachedLayers = layers;
    // werift's receiver keeps one NACK state for all SSRCs: with several layers it would NACK every
    // gap between them. One per SSRC instead.
    nackPerSsrc(receiver);
    const disposers: (() => void)[] = [];
    layers.layers.forEach((layer, index) => {
      const track = receiver.tracks.find((t) => t.rid === layer.rid);
      if (!track) return;
      const { unSubscribe } = track.onReceiveRtp.subscribe((packet) => {
        const now = performance.now();
        this.#ssrc = packet.header.ssrc;
        layers.packet(index, packet.header.ssrc, packet.payload, now);
        this.#onPacket(packet);
        const sinks = this.#sinks;
        for (let i = 0; i < sinks.length; i++) (sinks[i] as PacketSink)(packet, now, index);
      });
      disposers.push(unSubscribe);
    });
    this.#detach = () => {
      for (const d of disposers) d();
    };
  }

  detach(): void {
    this.#detach?.();
    this.#detach = undefined;
    this.#receiver = undefined;
    this.#attachedLayers = undefined;
  }

  subscribe(sink: PacketSink): () => void {
    // Copy on write: a sink removed while packets are dispatched does not disturb the iteration.
    this.#sinks = [...this.#sinks, sink];
    return () => {
      this.#sinks = this.#sinks.filter((s) => s !== sink);
    };
  }

  /**
   * Sends a PLI to the publisher (the caller throttles). Simulcast: to every layer seen (each
   * listener's own switch asks for the layer it needs; this is the publisher-wide request).
   */
  sendPli(): boolean {
    if (!this.#receiver || this.#ssrc === undefined) return false;
    if (this.#simulcast) {
      for (let i = 0; i < this.#simulcast.layers.length; i++) this.#simulcast.requestKeyframe(i);
      return true;
    }
    void this.#receiver.sendRtcpPLI(this.#ssrc);
    return true;
  }

  #pli(ssrc: number): boolean {
    if (!this.#receiver) return false;
    void this.#receiver.sendRtcpPLI(ssrc);
    this.onLayerPli?.();
    return true;
  }

  /** Called for each PLI sent on a simulcast layer (metrics). */
  onLayerPli: (() => void) | undefined;

  /** The receiver of the current attachment, for sending RTCP (REMB) to the publisher. */
  get receiver(): RTCRtpReceiver | undefined {
    return this.#receiver;
  }

  close(): void {
    this.detach();
    this.#simulcast?.close();
    this.#sinks = [];
  }
}
