import { RtpPacket } from "werift";
import type { LayerSwitch } from "../layer-switch.ts";
import { SimulcastLayers } from "../simulcast-layers.ts";
import type { TranscodeLease, TranscoderPool } from "../transcode/transcoder-pool.ts";
import type { PacketSink, PublishedTrack } from "./published-track.ts";
import { PublishedTrackSource, transcodeCodecOf } from "./transcode-adapter.ts";

/** Index of the server-made layer and of the publisher's own encoding. */
export const SERVER_LAYER = 0;
export const SOURCE_LAYER = 1;
/**
 * The estimate must stay under the source's bitrate this long before the server layer is offered for
 * bandwidth, so that a momentary dip starts no process. The selector goes down only on evidence (a
 * REMB fall, kept while the REMB stays near the value it fell to, or loss), which a steady low
 * estimate still is when the layer appears.
 */
const LOW_ESTIMATE_HOLD_MS = 3000;
/** After a refusal (TRANSCODE_MAX), the server layer is not offered again for this long. */
const REFUSED_BACKOFF_MS = 10_000;

export interface TranscodeLayersOptions {
  /** Identifies the publisher's video track in the pool (shared per id and height). */
  readonly sourceId: string;
  readonly height: number;
  /** The server layer's bitrate (TRANSCODE_BITRATE), shown to the selector before it runs. */
  readonly bitrateBps: number;
  readonly keyframeMinIntervalMs: number;
  /** The publisher's throttled keyframe request (its session's KeyframeRequester). */
  readonly requestSourceKeyframe: () => void;
}

/**
 * A single-encoding VP8 video track as two layers for ONE listener's LayerSwitch: layer 0 is the
 * server-made one (a transcoder at `height`, from the pool), layer 1 the publisher's own. The
 * server layer is offered to the selector before any transcoder runs (active, TRANSCODE_BITRATE,
 * `height` lines), for a source known to be taller, when the listener asks for at most that height
 * (preference or room size) or its estimate stayed under the source's bitrate for 3 s; the lease is taken when the selector targets
 * layer 0 (its keyframe request) and given back when it neither targets nor forwards it. `source` is
 * what the listener's TrackForwarder subscribes to: the publisher's packets tagged layer 1, the
 * transcoder's tagged layer 0.
 */
export class TranscodeLayers extends SimulcastLayers {
  readonly source: { readonly kind: "video"; subscribe(sink: PacketSink): () => void };
  readonly #track: PublishedTrack;
  readonly #pool: TranscoderPool;
  readonly #o: TranscodeLayersOptions;
  readonly #input: PublishedTrackSource;
  #gate: LayerSwitch | undefined;
  #sinks: PacketSink[] = [];
  #unsubscribeTrack: (() => void) | undefined;
  #lease: TranscodeLease | undefined;
  #unsubscribeLayer: (() => void) | undefined;
  #unsubscribeProducing: (() => void) | undefined;
  #lowSince = Number.NaN;
  #sourceSsrc: number | undefined;
  /** The current lease's layer has produced packets. */
  #produced = false;
  #refusedAt = Number.NEGATIVE_INFINITY;
  #closed = false;

  constructor(track: PublishedTrack, pool: TranscoderPool, options: TranscodeLayersOptions) {
    super(["server", "source"], options.keyframeMinIntervalMs, (_ssrc, layer) => {
      if (layer !== SOURCE_LAYER) return false;
      options.requestSourceKeyframe();
      return true;
    });
    this.#track = track;
    this.#pool = pool;
    this.#o = options;
    this.#input = new PublishedTrackSource(options.sourceId, track, options.requestSourceKeyframe);
    this.source = { kind: "video", subscribe: (sink) => this.#subscribe(sink) };
  }

  /** Whether this track can get a server layer at all (pool on, codec decodable). */
  static possible(track: PublishedTrack, pool: TranscoderPool | undefined): pool is TranscoderPool {
    if (!pool?.available || track.kind !== "video" || track.simulcast) return false;
    const codec = transcodeCodecOf(track.codec.mimeType);
    // Listeners of an H.264 publisher negotiated H.264: a VP8 layer cannot be sent to them.
    return codec === "VP8" && pool.codecs.has(codec);
  }

  /** The listener's gate, whose target and current layer decide the lease. */
  attach(gate: LayerSwitch): void {
    this.#gate = gate;
  }

  /** true while a refusal (TRANSCODE_MAX) keeps the server layer from this listener. */
  get refused(): boolean {
    return performance.now() - this.#refusedAt < REFUSED_BACKOFF_MS;
  }

  /** true while this listener holds a transcoder. */
  get transcoding(): boolean {
    return this.#lease !== undefined;
  }

  override views(nowMs: number): ReturnType<SimulcastLayers["views"]> {
    const views = super.views(nowMs);
    const server = views[SERVER_LAYER];
    const source = views[SOURCE_LAYER];
    const gate = this.#gate;
    if (!server || !source || !gate || this.#closed) return views;
    // Give the transcoder back once the selector neither wants nor forwards its layer. While the
    // publisher is quiet the gate keeps forwarding it (no target): the idle process is kept, since a
    // released one would leave the gate on a layer nobody feeds and no keyframe request to restart it.
    if (this.#lease && gate.target !== SERVER_LAYER && gate.current !== SERVER_LAYER) this.#release();
    const offer = () => {
      server.active = true;
      server.bitrate = this.#o.bitrateBps;
      server.height = this.#o.height;
    };
    if (this.#lease) {
      // Stopped after producing (the process died; the pool restarts it): inactive at once (its pipes
      // close on exit), so the selector falls back to the source. Starting, or alive but silent for a
      // moment (a starved machine; the pool kills a child silent for 5 s): kept chosen, since the
      // source is what this listener cannot carry.
      if (this.#produced && !this.#lease.layer.producing) server.active = false;
      else if (!server.active) offer();
      return views;
    }
    if (server.active) return views;
    const estimate = gate.selector.estimate;
    if (source.active && source.bitrate > 0 && estimate < source.bitrate) {
      if (Number.isNaN(this.#lowSince)) this.#lowSince = nowMs;
    } else this.#lowSince = Number.NaN;
    if (nowMs - this.#refusedAt < REFUSED_BACKOFF_MS) return views;
    // Only for a source taller than the server layer whose size is known (a VP8 keyframe header seen;
    // synthetic test streams have none, so they never start a transcoder).
    if (source.height <= this.#o.height) return views;
    const lowForLong = !Number.isNaN(this.#lowSince) && nowMs - this.#lowSince >= LOW_ESTIMATE_HOLD_MS;
    offer();
    // Offered only if the listener asks for no more than the server layer, or cannot carry the source.
    const wantsLow = gate.selector.ceiling(views) === SERVER_LAYER;
    if (!wantsLow && !lowForLong) server.active = false;
    return views;
  }

  override requestKeyframe(index: number): void {
    if (index !== SERVER_LAYER) {
      super.requestKeyframe(index);
      return;
    }
    if (this.#closed) return;
    // The selector targets the server layer: take a transcoder (its first frame is a keyframe). One
    // held already: its encoder makes the next frame a keyframe (the layer throttles for all
    // listeners; without the runner only periodic keyframes come).
    if (this.#lease) this.#lease.layer.requestKeyframe();
    else this.#acquire();
  }

  #acquire(): void {
    const got = this.#pool.acquire(this.#input, this.#o.height);
    if (!got.ok) {
      this.#refusedAt = performance.now();
      return;
    }
    this.#lease = got.lease;
    this.#produced = false;
    // A process that dies: decide now, not at the next tick (up to 250 ms), so the source goes out sooner.
    this.#unsubscribeProducing = got.lease.layer.onProducing((producing) => {
      if (!producing && this.#produced && !this.#closed) this.#gate?.decide(performance.now());
    });
    this.#unsubscribeLayer = got.lease.layer.subscribe((rtp) => {
      this.#produced = true;
      const packet = RtpPacket.deSerialize(rtp);
      const now = performance.now();
      this.packet(SERVER_LAYER, packet.header.ssrc, packet.payload, now);
      const sinks = this.#sinks;
      for (let i = 0; i < sinks.length; i++) (sinks[i] as PacketSink)(packet, now, SERVER_LAYER);
    });
  }

  #release(): void {
    this.#unsubscribeProducing?.();
    this.#unsubscribeProducing = undefined;
    this.#unsubscribeLayer?.();
    this.#unsubscribeLayer = undefined;
    this.#lease?.release();
    this.#lease = undefined;
  }

  #subscribe(sink: PacketSink): () => void {
    this.#sinks = [...this.#sinks, sink];
    this.#unsubscribeTrack ??= this.#track.subscribe((packet, now) => {
      const ssrc = packet.header.ssrc;
      // A re-publish (new SSRC) passes a gate already on the source layer without the keyframe request
      // a gate-less forwarder makes; ask for it here.
      if (ssrc !== this.#sourceSsrc) {
        if (this.#sourceSsrc !== undefined) this.#o.requestSourceKeyframe();
        this.#sourceSsrc = ssrc;
      }
      this.packet(SOURCE_LAYER, ssrc, packet.payload, now);
      const sinks = this.#sinks;
      for (let i = 0; i < sinks.length; i++) (sinks[i] as PacketSink)(packet, now, SOURCE_LAYER);
    });
    return () => {
      this.#sinks = this.#sinks.filter((s) => s !== sink);
    };
  }

  override close(): void {
    this.#closed = true;
    this.#release();
    this.#unsubscribeTrack?.();
    this.#unsubscribeTrack = undefined;
    this.#sinks = [];
    super.close();
  }
}
