import {
  MediaStream,
  type RTCRtpTransceiver,
  type RtcpPacket,
  RtcpSourceDescriptionPacket,
  SourceDescriptionChunk,
  SourceDescriptionItem,
} from "werift";
import type { MediaConfig } from "../../config/media-config.ts";
import type { Logger } from "../../lib/logger.ts";
import type { Metrics } from "../../metrics/metrics.ts";
import type { QualityPreference } from "../layer-selector.ts";
import { LayerSwitch } from "../layer-switch.ts";
import { MediaError } from "../media-error.ts";
import type { IceCandidate, SessionDescription } from "../media-port.ts";
import { checkSdp, invalidSdp } from "../sdp-check.ts";
import { SerialQueue } from "../serial-queue.ts";
import type { TranscoderPool } from "../transcode/transcoder-pool.ts";
import { listenerCodecs } from "./codec-policy.ts";
import { datagramPath, srtpProtectorFor } from "./compat.ts";
import { newPeerConnection } from "./peer-factory.ts";
import { PeerLink } from "./peer-link.ts";
import type { MediaKind, PublishedTrack } from "./published-track.ts";
import type { PublisherSession } from "./publisher-session.ts";
import { type Egress, type ForwarderFeedback, TrackForwarder } from "./track-forwarder.ts";
import { TranscodeLayers } from "./transcode-layers.ts";

/** Sender reports in own mode: every 1 s +- 50 % (RFC 3550's randomised interval, werift's too). */
const SR_INTERVAL_MS = 1000;
const SDES_MID_URI = "urn:ietf:params:rtp-hdrext:sdes:mid";
/** How often a simulcast listener's layer is re-evaluated. */
const LAYER_DECIDE_INTERVAL_MS = 250;
/** While probing, padding goes out in slices this often. */
const PROBE_INTERVAL_MS = 50;
/** Height of the server-made layer (docs/media.md, "Transcoding"). */
const TRANSCODE_HEIGHT = 180;

export interface ListenerHooks {
  candidate(candidate: IceCandidate): void;
  /** The listener's connection is up. */
  up(): void;
  /** The listener's connection failed (ICE, DTLS or consent). */
  failed(): void;
}

export interface ListenerDeps {
  config: MediaConfig;
  metrics: Metrics;
  log: Logger;
  /**
   * The media plane's transcoders and the room's id (the pool's key is room/publisher): a
   * single-encoding VP8 publisher's listener then gets a server-made layer when it needs one.
   */
  transcode?: { pool: TranscoderPool; roomId: string };
}

/**
 * The send-only connection that carries one publisher's tracks to one member. The server offers,
 * the member answers; once connected the publisher is asked for a keyframe. Its forwarders
 * subscribe to the publisher's PublishedTracks, so they survive the publisher's re-publish.
 */
export class ListenerSession {
  readonly memberId: string;
  readonly publisher: PublisherSession;
  /** The codec per kind this connection was offered with; a publisher codec change needs a new session. */
  readonly codecKey: string;
  readonly #deps: ListenerDeps;
  readonly #link: PeerLink;
  readonly #queue = new SerialQueue();
  readonly #transceivers = new Map<MediaKind, RTCRtpTransceiver>();
  readonly #forwarders: TrackForwarder[] = [];
  #upSent = false;
  #closed = false;
  /** Own egress of this connection once it is up (MEDIA_FORWARDING=own), or why it is not used. */
  #egress: Egress | string | undefined;
  #srTimer: NodeJS.Timeout | undefined;
  #egressPath: "own" | "werift" | undefined;
  /** Simulcast video: this listener's layer gate, its timer and what the member asked for. */
  #layers: LayerSwitch | undefined;
  /** Single-encoding VP8 video with a transcoder pool: the source and the server-made layer. */
  #transcodeLayers: TranscodeLayers | undefined;
  #layerTimer: NodeJS.Timeout | undefined;
  #probeTimer: NodeJS.Timeout | undefined;
  #preference: QualityPreference = {};
  #roomMaxHeight = 0;

  constructor(memberId: string, publisher: PublisherSession, deps: ListenerDeps, hooks: ListenerHooks) {
    this.memberId = memberId;
    this.publisher = publisher;
    this.#deps = deps;
    this.codecKey = codecKeyOf(publisher);
    const audio = publisher.tracks.get("audio")?.codec;
    const video = publisher.tracks.get("video")?.codec;
    const pc = newPeerConnection(deps.config, listenerCodecs(audio, video));
    this.#link = new PeerLink(pc, deps.config, deps.metrics, {
      onCandidate: (c) => hooks.candidate(c),
      onState: (state) => {
        if (state === "failed") hooks.failed();
        if (state === "connected" && !this.#upSent) {
          this.#upSent = true;
          this.#setUpEgress();
          // A simulcast listener's gate asks for the keyframe of the layer it chooses; a
          // single-encoding one's source keyframe is asked for now either way (its gate may not have
          // seen a packet of it yet, and would ask only at its next tick).
          if (this.#layers) {
            if (this.#transcodeLayers) {
              deps.metrics.keyframeRequests.inc({ reason: "connect" });
              publisher.requestKeyframeForNewListener();
            }
            this.#layers.decide(performance.now());
          } else {
            deps.metrics.keyframeRequests.inc({ reason: "connect" });
            publisher.requestKeyframeForNewListener();
          }
          hooks.up();
        }
      },
    });
    const stream = new MediaStream({ id: `mcu-${publisher.socketId}`.replace(/[^\w-]/g, "_") });
    for (const kind of ["audio", "video"] as const) {
      if (!publisher.tracks.has(kind)) continue;
      this.#transceivers.set(kind, pc.addTransceiver(kind, { direction: "sendonly", streams: [stream] }));
    }
    deps.metrics.forwardedStreams.inc();
  }

  get isUp(): boolean {
    return this.#upSent;
  }

  /** Creates the offer for the member. */
  offer(): Promise<SessionDescription> {
    return this.#queue.run(async () => {
      const pc = this.#link.pc;
      await pc.setLocalDescription(await pc.createOffer());
      return this.#link.localDescription();
    });
  }

  answer(sdp: SessionDescription): Promise<void> {
    return this.#queue.run(async () => {
      const text = checkSdp(sdp, "answer", this.#deps.config.maxSdpBytes);
      const pc = this.#link.pc;
      if (this.#closed) throw new MediaError("no-such-connection", "listener connection closed");
      if (pc.signalingState !== "have-local-offer") {
        throw new MediaError("already-negotiated", "no offer is waiting for an answer on this connection");
      }
      try {
        await pc.setRemoteDescription({ type: "answer", sdp: text });
      } catch (err) {
        throw invalidSdp("cannot apply the answer", err);
      } finally {
        this.#link.releaseDroppedTransports();
      }
      this.#startForwarders();
    });
  }

  candidate(candidate: IceCandidate): Promise<void> {
    return this.#link.addCandidate(candidate);
  }

  /** true while this listener holds a transcoder (its gate targets or forwards the server-made layer). */
  get transcoding(): boolean {
    return this.#transcodeLayers?.transcoding ?? false;
  }

  /** The forwarded layer (-1: none) and the layer chosen, for a simulcast publisher's video. */
  get layer(): { current: number; target: number } | undefined {
    return this.#layers ? { current: this.#layers.current, target: this.#layers.target } : undefined;
  }

  /** What the member asked for (setVideoQuality); applies to simulcast video. */
  setVideoQuality(preference: QualityPreference): void {
    this.#preference = { ...preference };
    this.#layers?.setPreference(this.#preference, performance.now());
  }

  /** The height the room's size allows (eventUserMediaConfiguration); 0: none. */
  setRoomMaxHeight(height: number): void {
    this.#roomMaxHeight = height;
    this.#layers?.setRoomMaxHeight(height);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#srTimer) clearTimeout(this.#srTimer);
    if (this.#layerTimer) clearInterval(this.#layerTimer);
    if (this.#probeTimer) clearInterval(this.#probeTimer);
    if (this.#layers) {
      const current = this.#layers.current;
      this.#deps.metrics.simulcastListeners.dec({ layer: current < 0 ? "none" : String(current) });
      this.#layers = undefined;
    }
    for (const f of this.#forwarders.splice(0)) f.close();
    this.#transcodeLayers?.close();
    this.#transcodeLayers = undefined;
    if (this.#egressPath) this.#deps.metrics.mediaEgress.dec({ path: this.#egressPath });
    this.publisher.listenerGone(this.memberId);
    this.#deps.metrics.forwardedStreams.dec();
    await this.#link.close();
  }

  #startForwarders(): void {
    if (this.#forwarders.length > 0 || this.#closed) return;
    for (const [kind, transceiver] of this.#transceivers) {
      const source = this.publisher.tracks.get(kind);
      const codec = transceiver.sender.codec;
      if (!source || !codec) continue;
      const rtx = transceiver.codecs.find(
        (c) => c.name.toLowerCase() === "rtx" && c.parameters?.includes(`apt=${codec.payloadType}`),
      );
      const midId = transceiver.headerExtensions.find((e) => e.uri === SDES_MID_URI)?.id;
      const mid = transceiver.mid;
      const transcode = kind === "video" ? this.#transcodeLayersFor(source) : undefined;
      const layers = kind === "video" ? this.#layerSwitch(transcode ?? source.simulcast) : undefined;
      if (transcode && layers) transcode.attach(layers);
      const feedback = this.publisher.feedbackFor(this.memberId, kind);
      const forwarder = new TrackForwarder(
        {
          source: transcode ? transcode.source : source,
          sender: transceiver.sender,
          rtxPayloadType: rtx?.payloadType,
          clockRate: codec.clockRate,
          nackHistoryMs: this.#deps.config.nackHistoryMs,
          metrics: this.#deps.metrics,
          feedback: layers
            ? layerFeedback(layers, transcode ? sourceCapFeedback(transcode, feedback) : feedback)
            : kind === "video"
              ? countedFeedback(feedback, this.#deps.metrics)
              : feedback,
          ...(midId !== undefined && mid ? { mid: { id: midId, value: mid } } : {}),
          ...(layers ? { layers } : {}),
        },
        this.#deps.config.forwarding,
      );
      this.#forwarders.push(forwarder);
      if (this.#egress !== undefined) this.#attach(forwarder);
    }
  }

  /**
   * A single-encoding VP8 video with transcoding on: its two layers for this listener (the
   * server-made one from the pool, the publisher's own), or undefined (no pool, simulcast, codec).
   */
  #transcodeLayersFor(source: PublishedTrack): TranscodeLayers | undefined {
    const t = this.#deps.transcode;
    if (!t || !TranscodeLayers.possible(source, t.pool)) return undefined;
    const { config } = this.#deps;
    this.#transcodeLayers = new TranscodeLayers(source, t.pool, {
      sourceId: `${t.roomId}/${this.publisher.socketId}`,
      height: TRANSCODE_HEIGHT,
      bitrateBps: config.transcode.bitrateBps,
      keyframeMinIntervalMs: config.keyframeMinIntervalMs,
      requestSourceKeyframe: () => this.publisher.requestKeyframeForNewListener(),
    });
    return this.#transcodeLayers;
  }

  /**
   * Simulcast video: the gate of this listener (selector with the video bitrate limits, the member's
   * preference, the room size), re-evaluated every LAYER_DECIDE_INTERVAL_MS; metrics per switch.
   */
  #layerSwitch(simulcast: PublishedTrack["simulcast"]): LayerSwitch | undefined {
    if (!simulcast) return undefined;
    const { metrics, config } = this.#deps;
    const v = config.bitrate.video;
    const layers = new LayerSwitch(
      simulcast,
      { startBitrate: v.start, minBitrate: v.min, maxBitrate: v.max * 4, step: v.step },
      {
        switched: (from, to, reason) => {
          metrics.simulcastListeners.dec({ layer: from < 0 ? "none" : String(from) });
          metrics.simulcastListeners.inc({ layer: to < 0 ? "none" : String(to) });
          metrics.layerSwitches.inc({
            direction: to < 0 ? "pause" : from < 0 ? "start" : to > from ? "up" : "down",
            reason,
          });
        },
        keyframeRequested: (_layer, reason) => metrics.keyframeRequests.inc({ reason }),
      },
    );
    metrics.simulcastListeners.inc({ layer: "none" });
    layers.setRoomMaxHeight(this.#roomMaxHeight);
    layers.setPreference(this.#preference, performance.now());
    this.#layers = layers;
    this.#layerTimer = setInterval(() => {
      if (!this.#upSent) return;
      layers.decide(performance.now());
      this.#pace(layers);
    }, LAYER_DECIDE_INTERVAL_MS);
    this.#layerTimer.unref();
    return layers;
  }

  /** Probe padding (the selector's probeBps) in PROBE_INTERVAL_MS slices, on the video forwarder. */
  #pace(layers: LayerSwitch): void {
    const bps = layers.selector.probeBps;
    if (bps <= 0 || this.#closed) {
      if (this.#probeTimer) clearInterval(this.#probeTimer);
      this.#probeTimer = undefined;
      return;
    }
    if (this.#probeTimer) return;
    this.#probeTimer = setInterval(() => {
      const rate = layers.selector.probeBps;
      const video = this.#forwarders.find((f) => f.kind === "video");
      if (rate > 0 && video) video.probe((rate * PROBE_INTERVAL_MS) / 8000);
    }, PROBE_INTERVAL_MS);
    this.#probeTimer.unref();
  }

  /**
   * The connection is up: set up the own egress (SRTP protector from the DTLS keys, the selected
   * pair's socket) for the forwarders, or leave them on werift's sender with one warning.
   */
  #setUpEgress(): void {
    if (this.#closed || this.#egress !== undefined) return;
    if (this.#deps.config.forwarding !== "own") {
      this.#egressPath = "werift";
      this.#deps.metrics.mediaEgress.inc({ path: "werift" });
      return;
    }
    const transport = [...this.#transceivers.values()][0]?.sender.dtlsTransport;
    const protector = transport ? srtpProtectorFor(transport) : "no transport";
    const path = transport ? datagramPath(transport) : "no transport";
    const own = typeof protector !== "string" && typeof path !== "string";
    this.#egressPath = own ? "own" : "werift";
    this.#deps.metrics.mediaEgress.inc({ path: this.#egressPath });
    if (typeof protector === "string" || typeof path === "string") {
      this.#egress = typeof protector === "string" ? protector : (path as string);
      this.#deps.log.warn(
        { member: this.memberId, publisher: this.publisher.socketId, reason: this.#egress },
        "own media egress unavailable: this listener connection forwards through werift's sender",
      );
    } else {
      this.#egress = { protector, path };
      this.#scheduleSenderReports();
    }
    for (const f of this.#forwarders) this.#attach(f);
  }

  #attach(forwarder: TrackForwarder): void {
    if (typeof this.#egress === "object") forwarder.useEgress(this.#egress);
    else forwarder.useWerift();
  }

  /** Own mode: one compound RTCP packet (an SR per forwarder that sent, plus SDES CNAME) per interval. */
  #scheduleSenderReports(): void {
    const tick = () => {
      if (this.#closed) return;
      this.#srTimer = setTimeout(tick, SR_INTERVAL_MS * (0.5 + Math.random()));
      this.#srTimer.unref();
      const transport = [...this.#transceivers.values()][0]?.sender.dtlsTransport;
      if (transport?.state !== "connected") return;
      const packets: RtcpPacket[] = [];
      const chunks: SourceDescriptionChunk[] = [];
      const cname = this.#link.pc.cname;
      for (const f of this.#forwarders) {
        const sr = f.senderReport();
        if (!sr) continue;
        packets.push(sr);
        chunks.push(
          new SourceDescriptionChunk({
            source: sr.ssrc,
            items: [new SourceDescriptionItem({ type: 1, text: cname })],
          }),
        );
      }
      if (packets.length === 0) return;
      packets.push(new RtcpSourceDescriptionPacket({ chunks }));
      transport.sendRtcp(packets).catch(() => undefined);
    };
    this.#srTimer = setTimeout(tick, SR_INTERVAL_MS * (0.5 + Math.random()));
    this.#srTimer.unref();
  }
}

/**
 * Kinds and codecs of a publisher, as a comparable string (with the simulcast layer count: a
 * listener's forwarder is made for one or several layers).
 */
export function codecKeyOf(publisher: PublisherSession): string {
  return [...publisher.tracks.values()]
    .map((t) => `${t.kind}:${t.codec.mimeType.toLowerCase()}${t.simulcast ? `x${t.simulcast.count}` : ""}`)
    .sort()
    .join(",");
}

/** A single-encoding video's feedback, with its keyframe requests counted. */
function countedFeedback(inner: ForwarderFeedback, metrics: Metrics): ForwarderFeedback {
  return {
    keyframeNeeded: () => {
      metrics.keyframeRequests.inc({ reason: "forwarder" });
      inner.keyframeNeeded();
    },
    remb: (bitrate) => inner.remb(bitrate),
    loss: (fraction) => inner.loss(fraction),
  };
}

/**
 * The publisher-facing feedback of a listener that can get a server-made layer: its REMB and loss
 * cap the publisher only while a refusal keeps it on the source (then it is the old single-encoding
 * listener); otherwise its own gate adapts it, and a slow listener does not drag the publisher down.
 */
function sourceCapFeedback(layers: TranscodeLayers, inner: ForwarderFeedback): ForwarderFeedback {
  return {
    keyframeNeeded: () => inner.keyframeNeeded(),
    remb: (bitrate) => inner.remb(layers.refused ? bitrate : Number.POSITIVE_INFINITY),
    loss: (fraction) => {
      if (layers.refused) inner.loss(fraction);
    },
  };
}

/**
 * A simulcast listener's feedback: its REMB and loss drive its own layer selector (and still reach
 * the publisher's estimator, which no longer caps a simulcast publisher); its keyframe requests go
 * to the layer it gets.
 */
function layerFeedback(layers: LayerSwitch, inner: ForwarderFeedback): ForwarderFeedback {
  return {
    keyframeNeeded: () => layers.keyframeNeeded(),
    remb: (bitrate) => {
      layers.selector.remb(bitrate);
      inner.remb(bitrate);
    },
    loss: (fraction) => {
      layers.selector.loss(fraction, performance.now());
      inner.loss(fraction);
    },
  };
}
