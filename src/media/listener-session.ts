import { MediaStream, type RTCRtpTransceiver } from "werift";
import type { MediaConfig } from "../config/media-config.ts";
import { ErrorCode, ProtocolError } from "../lib/errors.ts";
import type { Logger } from "../lib/logger.ts";
import type { Metrics } from "../metrics/metrics.ts";
import { listenerCodecs } from "./codec-policy.ts";
import type { IceCandidate, SessionDescription } from "./media-port.ts";
import { newPeerConnection } from "./peer-factory.ts";
import { PeerLink } from "./peer-link.ts";
import type { MediaKind } from "./published-track.ts";
import type { PublisherSession } from "./publisher-session.ts";
import { checkSdp, invalidSdp } from "./sdp-check.ts";
import { SerialQueue } from "./serial-queue.ts";
import { TrackForwarder } from "./track-forwarder.ts";

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
          publisher.requestKeyframe();
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
      if (this.#closed) throw new ProtocolError(ErrorCode.noSuchTarget, "listener connection closed");
      if (pc.signalingState !== "have-local-offer") {
        throw new ProtocolError(
          ErrorCode.sdpAlreadyNegotiated,
          "no offer is waiting for an answer on this connection",
        );
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

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const f of this.#forwarders.splice(0)) f.close();
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
      this.#forwarders.push(
        new TrackForwarder({
          source,
          sender: transceiver.sender,
          rtxPayloadType: rtx?.payloadType,
          clockRate: codec.clockRate,
          nackHistoryMs: this.#deps.config.nackHistoryMs,
          metrics: this.#deps.metrics,
          feedback: this.publisher.feedbackFor(this.memberId, kind),
        }),
      );
    }
  }
}

/** Kinds and codecs of a publisher, as a comparable string. */
export function codecKeyOf(publisher: PublisherSession): string {
  return [...publisher.tracks.values()]
    .map((t) => `${t.kind}:${t.codec.mimeType.toLowerCase()}`)
    .sort()
    .join(",");
}
