import {
  ReceiverEstimatedMaxBitrate,
  type RTCPeerConnection,
  type RTCRtpCodecParameters,
  type RTCRtpReceiver,
  RtcpPayloadSpecificFeedback,
  type RtpPacket,
} from "werift";
import type { MediaConfig } from "../../config/media-config.ts";
import type { Logger } from "../../lib/logger.ts";
import type { Metrics } from "../../metrics/metrics.ts";
import { BitrateEstimator } from "../bitrate-estimator.ts";
import { FreezeDetector } from "../freeze-detector.ts";
import { KeyframeRequester } from "../keyframe-requester.ts";
import { MediaError } from "../media-error.ts";
import type { IceCandidate, SessionDescription } from "../media-port.ts";
import {
  checkSdp,
  invalidSdp,
  offersH264ConstrainedBaseline,
  offersSupportedCodec,
  sameClientConnection,
} from "../sdp-check.ts";
import { SerialQueue } from "../serial-queue.ts";
import { isSupportedMime, type NegotiatedCodec, publisherCodecs } from "./codec-policy.ts";
import { nackPerSsrc } from "./compat.ts";
import { newPeerConnection } from "./peer-factory.ts";
import { PeerLink } from "./peer-link.ts";
import { type MediaKind, PublishedTrack } from "./published-track.ts";
import type { ForwarderFeedback } from "./track-forwarder.ts";

/** A new listener's PLI is skipped if one went out this recently (about one frame at 30 fps). */
const NEW_LISTENER_PLI_MIN_MS = 50;

export interface PublisherHooks {
  candidate(candidate: IceCandidate): void;
  /** Media flows (first RTP packet on the current connection). */
  up(): void;
  freeze(frozen: boolean, durationMs: number): void;
  /** The current connection failed (ICE, DTLS or consent): the client must publish again. */
  down(): void;
}

export interface PublisherDeps {
  config: MediaConfig;
  metrics: Metrics;
  log: Logger;
}

/**
 * A member's publishing connection: answers its offers (a re-offer from the same client connection
 * renegotiates in place; one from a new client connection (see sameClientConnection) replaces
 * the server connection), and exposes one PublishedTrack per kind that outlives both. Owns the
 * keyframe requester, the freeze detector and the bitrate cap (REMB) for its video.
 */
export class PublisherSession {
  readonly socketId: string;
  readonly #deps: PublisherDeps;
  readonly #hooks: PublisherHooks;
  readonly #tracks = new Map<MediaKind, PublishedTrack>();
  readonly #queue = new SerialQueue();
  readonly #keyframes: KeyframeRequester;
  readonly #estimator: BitrateEstimator;
  readonly #freeze: FreezeDetector;
  readonly #rembTimer: NodeJS.Timeout;
  #link: PeerLink | undefined;
  #linkDisposers: (() => void)[] = [];
  #up = false;
  #offeredH264 = false;
  #lastPliAt = Number.NEGATIVE_INFINITY;
  /** A new listener's keyframe request that came within NEW_LISTENER_PLI_MIN_MS of the last PLI, sent when it ends. */
  #deferredPli: NodeJS.Timeout | undefined;
  #lastVideoTs: number | undefined;
  #closed = false;

  constructor(socketId: string, deps: PublisherDeps, hooks: PublisherHooks) {
    this.socketId = socketId;
    this.#deps = deps;
    this.#hooks = hooks;
    this.#keyframes = new KeyframeRequester(deps.config.keyframeMinIntervalMs, () => this.#sendPli());
    this.#estimator = new BitrateEstimator(deps.config.bitrate.video);
    this.#freeze = new FreezeDetector({
      timeoutMs: deps.config.freezeTimeoutMs,
      onChange: (frozen, durationMs) => {
        if (frozen) deps.metrics.freezes.inc({ source: "server" });
        hooks.freeze(frozen, durationMs);
      },
    });
    this.#rembTimer = setInterval(() => this.#sendRemb(), deps.config.bitrateIntervalMs);
    this.#rembTimer.unref();
  }

  get tracks(): ReadonlyMap<MediaKind, PublishedTrack> {
    return this.#tracks;
  }

  get bitrateCap(): number {
    return this.#estimator.current;
  }

  /** Whether the client's last offer had H.264 constrained baseline: it can then also decode it. */
  get offeredH264(): boolean {
    return this.#offeredH264;
  }

  /**
   * Applies the client's offer; resolves with the answer to send back. `preferH264`: publish H.264
   * when offered (the room decides, see RoomMedia).
   */
  offer(
    sdp: SessionDescription,
    preferH264: boolean,
  ): Promise<{ answer: SessionDescription; codecsChanged: boolean }> {
    return this.#queue.run(() => this.#applyOffer(sdp, preferH264));
  }

  async candidate(candidate: IceCandidate): Promise<void> {
    const link = this.#link;
    if (!link) throw invalidSdp("candidate before the publisher's offer");
    await link.addCandidate(candidate);
  }

  requestKeyframe(): void {
    this.#keyframes.request();
  }

  /**
   * A listener connection just came up: it needs the next keyframe, not the one after the throttle
   * interval. A PLI goes out now, bypassing KEYFRAME_MIN_INTERVAL_MS, unless one went out in the last
   * NEW_LISTENER_PLI_MIN_MS: then one more goes out when that interval ends (requests until then
   * share it).
   */
  requestKeyframeForNewListener(): void {
    const since = performance.now() - this.#lastPliAt;
    if (since >= NEW_LISTENER_PLI_MIN_MS) {
      this.#sendPli();
      return;
    }
    // The keyframe of the last PLI is on the way, but it may pass this listener's layer gate before
    // the gate has chosen the layer (its first packets arrive after the connection is up), and the
    // gate asks again only a second later: one more PLI when the interval ends, shared by every
    // request until then.
    if (this.#deferredPli !== undefined || this.#closed) return;
    this.#deferredPli = setTimeout(() => {
      this.#deferredPli = undefined;
      this.#sendPli();
    }, NEW_LISTENER_PLI_MIN_MS - since);
    this.#deferredPli.unref();
  }

  #sendPli(): void {
    if (this.#closed || !this.#tracks.get("video")?.sendPli()) return;
    this.#lastPliAt = performance.now();
    this.#deps.metrics.plis.inc();
  }

  /** The feedback path a listener's forwarders use for this publisher. */
  feedbackFor(listenerId: string, kind: MediaKind): ForwarderFeedback {
    if (kind === "audio")
      return { keyframeNeeded: () => undefined, remb: () => undefined, loss: () => undefined };
    this.#estimator.addListener(listenerId);
    return {
      keyframeNeeded: () => this.#keyframes.request(),
      remb: (bitrate) => this.#estimator.remb(listenerId, bitrate),
      loss: (fraction) => this.#estimator.loss(listenerId, fraction),
    };
  }

  listenerGone(listenerId: string): void {
    this.#estimator.removeListener(listenerId);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#deferredPli);
    this.#deferredPli = undefined;
    clearInterval(this.#rembTimer);
    this.#keyframes.close();
    this.#freeze.stop();
    for (const track of this.#tracks.values()) track.close();
    this.#tracks.clear();
    await this.#dropLink();
  }

  async #applyOffer(
    sdp: SessionDescription,
    preferH264: boolean,
  ): Promise<{ answer: SessionDescription; codecsChanged: boolean }> {
    const text = checkSdp(sdp, "offer", this.#deps.config.maxSdpBytes);
    this.#offeredH264 = offersH264ConstrainedBaseline(text);
    if (!offersSupportedCodec(text)) {
      throw invalidSdp("no supported codec offered (Opus, VP8, H.264 42e01f packetization-mode=1)");
    }
    const current = this.#link;
    const reuse =
      current !== undefined &&
      current.state !== "failed" &&
      current.state !== "closed" &&
      sameClientConnection(current.pc.remoteDescription?.sdp ?? "", text);
    const link = reuse ? current : this.#newLink();
    let chosen: Map<MediaKind, NegotiatedCodec>;
    try {
      await link.pc.setRemoteDescription({ type: "offer", sdp: text });
      chosen = preferSupportedCodecs(link.pc, preferH264);
      if (chosen.size === 0)
        throw invalidSdp("no supported codec offered (Opus, VP8, H.264 42e01f packetization-mode=1)");
      await link.pc.setLocalDescription(await link.pc.createAnswer());
    } catch (err) {
      if (!reuse) await link.close();
      else {
        await link.pc.setRemoteDescription({ type: "rollback" }).catch(() => undefined);
        link.releaseDroppedTransports();
      }
      throw err instanceof MediaError ? err : invalidSdp("cannot apply the offer", err);
    }
    if (this.#closed) {
      await link.close();
      throw invalidSdp("publisher closed during negotiation");
    }
    // A re-offer that regroups BUNDLE makes werift swap transports without stopping the old ones.
    link.releaseDroppedTransports();
    if (!reuse) await this.#replaceLink(link);
    const codecsChanged = this.#updateTracks(chosen, link.pc);
    return { answer: link.localDescription(), codecsChanged };
  }

  #newLink(): PeerLink {
    const { config, metrics } = this.#deps;
    const pc = newPeerConnection(config, publisherCodecs(), { publisher: true });
    return new PeerLink(pc, config, metrics, {
      onCandidate: (c) => {
        if (this.#link?.pc === pc) this.#hooks.candidate(c);
      },
      onState: (state) => {
        if (this.#link?.pc !== pc) return;
        if (state === "connected") this.#freeze.start();
        else if (state === "failed" || state === "disconnected" || state === "closed") this.#freeze.stop();
        if (state === "failed") {
          this.#deps.log.warn({ publisher: this.socketId }, "publisher connection failed");
          this.#hooks.down();
        }
      },
    });
  }

  async #replaceLink(link: PeerLink): Promise<void> {
    await this.#dropLink();
    this.#link = link;
    this.#up = false;
    this.#lastVideoTs = undefined;
    // Tracks announced after negotiation (no a=ssrc in the offer) are attached when werift creates them.
    const sub = link.pc.onTrack.subscribe((track) => {
      const kind: MediaKind = track.kind === "audio" ? "audio" : "video";
      const t = link.pc.getTransceivers().find((tr) => tr.receiver.tracks.includes(track));
      const published = this.#tracks.get(kind);
      if (t && published && this.#link === link) published.attach(track, t.receiver);
    });
    this.#linkDisposers.push(sub.unSubscribe);
  }

  async #dropLink(): Promise<void> {
    for (const dispose of this.#linkDisposers.splice(0)) dispose();
    for (const track of this.#tracks.values()) track.detach();
    this.#freeze.stop();
    const link = this.#link;
    this.#link = undefined;
    await link?.close();
  }

  /** Creates/updates the PublishedTracks for the negotiated kinds; true when kinds or codecs changed. */
  #updateTracks(chosen: Map<MediaKind, NegotiatedCodec>, pc: RTCPeerConnection): boolean {
    let changed = false;
    for (const [kind, track] of this.#tracks) {
      if (!chosen.has(kind)) {
        track.close();
        this.#tracks.delete(kind);
        changed = true;
      }
    }
    for (const [kind, codec] of chosen) {
      let track = this.#tracks.get(kind);
      if (!track) {
        track = new PublishedTrack(kind, codec, (packet) => this.#onPacket(kind, packet));
        track.onLayerPli = () => this.#deps.metrics.plis.inc();
        this.#tracks.set(kind, track);
        changed = true;
      } else if (track.codec.mimeType.toLowerCase() !== codec.mimeType.toLowerCase()) {
        track.codec = codec;
        changed = true;
      }
      const transceiver = pc.getTransceivers().find((t) => t.kind === kind && !t.stopped);
      const allRids = kind === "video" && transceiver ? simulcastRids(transceiver.receiver) : [];
      // werift's one NACK state per receiver would NACK the gaps between interleaved layers.
      if (transceiver && allRids.length >= 2) nackPerSsrc(transceiver.receiver);
      // Layers are switched on VP8 keyframes with VP8 descriptors rewritten: other codecs' simulcast
      // is forwarded as its first layer only (the first a=rid).
      const rids = codec.mimeType.toLowerCase() === "video/vp8" ? allRids : [];
      if (rids.length >= 2 !== (track.simulcast !== undefined)) changed = true;
      track.setLayers(rids, this.#deps.config.keyframeMinIntervalMs);
      const remote = transceiver?.receiver.tracks[0];
      if (transceiver && remote) track.attach(remote, transceiver.receiver);
    }
    return changed;
  }

  #onPacket(kind: MediaKind, packet: RtpPacket): void {
    const counts = this.#deps.metrics.packetCounts;
    if (kind === "video") {
      counts.videoPacketsIn++;
      counts.videoBytesIn += packet.payload.length;
    } else {
      counts.audioPacketsIn++;
      counts.audioBytesIn += packet.payload.length;
    }
    if (!this.#up) {
      this.#up = true;
      this.#hooks.up();
    }
    if (kind === "video" && packet.header.timestamp !== this.#lastVideoTs) {
      this.#lastVideoTs = packet.header.timestamp;
      this.#freeze.frame();
    }
  }

  #sendRemb(): void {
    const video = this.#tracks.get("video");
    const receiver = video?.receiver;
    if (!video || !receiver || video.ssrc === undefined || this.#link?.state !== "connected") return;
    // Simulcast: each listener gets the layer its own bandwidth carries, so the weakest listener no
    // longer caps the publisher: the configured maximum (the layers' own limits are the client's).
    const cap = video.simulcast ? this.#deps.config.bitrate.video.max : this.#estimator.round();
    const total = cap + (this.#tracks.has("audio") ? this.#deps.config.bitrate.audio.max : 0);
    const videoSsrcs = video.simulcast
      ? video.simulcast.layers.flatMap((l) => (l.ssrc === undefined ? [] : [l.ssrc]))
      : [video.ssrc];
    const ssrcs = [
      ...videoSsrcs,
      ...(this.#tracks.get("audio")?.ssrc !== undefined ? [this.#tracks.get("audio")?.ssrc ?? 0] : []),
    ];
    const remb = rembFeedback(receiver.rtcpSsrc, total, ssrcs);
    receiver.dtlsTransport.sendRtcp([remb]).catch(() => undefined);
  }
}

/** REMB with the bitrate encoded as an 18-bit mantissa and 6-bit exponent (werift leaves that to us). */
export function rembFeedback(
  senderSsrc: number,
  bitrate: number,
  ssrcs: number[],
): RtcpPayloadSpecificFeedback {
  let mantissa = Math.max(0, Math.floor(bitrate));
  let exp = 0;
  while (mantissa >= 1 << 18) {
    mantissa = Math.floor(mantissa / 2);
    exp++;
  }
  return new RtcpPayloadSpecificFeedback({
    feedback: new ReceiverEstimatedMaxBitrate({
      senderSsrc,
      mediaSsrc: 0,
      brExp: exp,
      brMantissa: mantissa,
      bitrate: BigInt(mantissa) * 2n ** BigInt(exp),
      ssrcNum: ssrcs.length,
      ssrcFeedbacks: ssrcs,
    }),
  });
}

/**
 * Narrows every receiving transceiver to one codec (+ its RTX): VP8, or H.264 constrained baseline
 * packetization-mode=1 when preferred or when VP8 is not offered, Opus for audio; so the publisher sends exactly the codec that the
 * listeners are offered. Returns the chosen codec per kind (first transceiver of each kind).
 */
function preferSupportedCodecs(pc: RTCPeerConnection, preferH264: boolean): Map<MediaKind, NegotiatedCodec> {
  const chosen = new Map<MediaKind, NegotiatedCodec>();
  for (const t of pc.getTransceivers()) {
    if (t.stopped || t.codecs.length === 0) continue;
    const kind: MediaKind = t.kind === "audio" ? "audio" : "video";
    const primary = pickCodec(kind, t.codecs, preferH264);
    if (!primary) continue;
    // werift 0.25.2 cannot map RTX of simulcast layers (repaired RID) back to its layer: simulcast
    // publishers retransmit on the layer's own SSRC instead (no RTX negotiated).
    const rtx =
      simulcastRids(t.receiver).length >= 2
        ? undefined
        : t.codecs.find(
            (c) => c.name.toLowerCase() === "rtx" && c.parameters?.includes(`apt=${primary.payloadType}`),
          );
    t.setCodecPreferences(rtx ? [primary, rtx] : [primary]);
    if (!chosen.has(kind)) {
      chosen.set(kind, {
        mimeType: primary.mimeType,
        clockRate: primary.clockRate,
        ...(primary.channels !== undefined ? { channels: primary.channels } : {}),
        ...(primary.parameters !== undefined ? { parameters: primary.parameters } : {}),
      });
    }
  }
  return chosen;
}

/** The rids of a receiver's simulcast layers in the order of the offer's a=rid lines (low to high). */
function simulcastRids(receiver: RTCRtpReceiver): string[] {
  const rids: string[] = [];
  for (const t of receiver.tracks) if (t.rid && !rids.includes(t.rid)) rids.push(t.rid);
  return rids;
}

function pickCodec(
  kind: MediaKind,
  codecs: RTCRtpCodecParameters[],
  preferH264: boolean,
): RTCRtpCodecParameters | undefined {
  const supported = codecs.filter((c) => isSupportedMime(c.mimeType));
  if (kind === "audio") return supported.find((c) => c.mimeType.toLowerCase() === "audio/opus");
  const vp8 = supported.find((c) => c.mimeType.toLowerCase() === "video/vp8");
  const h264 = supported.find(
    (c) =>
      c.mimeType.toLowerCase() === "video/h264" &&
      /packetization-mode=1/.test(c.parameters ?? "") &&
      /profile-level-id=42[ec]0/i.test(c.parameters ?? ""),
  );
  return preferH264 ? (h264 ?? vp8) : (vp8 ?? h264);
}
