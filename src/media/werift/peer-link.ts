import type { RTCPeerConnection } from "werift";
import type { MediaConfig } from "../../config/media-config.ts";
import type { Metrics } from "../../metrics/metrics.ts";
import { MediaError } from "../media-error.ts";
import type { IceCandidate, SessionDescription } from "../media-port.ts";
import {
  compatLog,
  currentTransports,
  guardUdp,
  ownSrtpReceive,
  RtpIngress,
  type TransportLike,
  tolerateLateConsent,
} from "./compat.ts";
import { announceAddresses } from "./peer-factory.ts";
import { adoptUdpSockets, releaseUdpPorts } from "./udp-buffers.ts";

export type PeerState = "new" | "connecting" | "connected" | "disconnected" | "failed" | "closed";

export interface PeerLinkHooks {
  /** A server candidate gathered after the SDP was handed out (earlier ones are inside the SDP). */
  onCandidate(candidate: IceCandidate): void;
  onState(state: PeerState): void;
}

/**
 * What publisher and listener sessions share about their werift connection: the connection-state
 * gauge, candidate ordering (never before the SDP they belong to), announced addresses, the UDP
 * garbage guard and an idempotent close that unsubscribes everything.
 *
 * It also keeps track of every DTLS/ICE transport the connection has used. werift 0.25.2 replaces a
 * transceiver's transport when a re-offer moves its m-line into or out of a BUNDLE group
 * (`setDtlsTransport` in setRemoteDescription) and never stops the one it drops: that transport's
 * ICE connection keeps its UDP socket open, and RTCPeerConnection.close() no longer sees it (it only
 * stops the transports its transceivers still reference). `releaseDroppedTransports()` after each
 * negotiation and `close()` stop them.
 */
export class PeerLink {
  readonly pc: RTCPeerConnection;
  readonly #config: MediaConfig;
  readonly #metrics: Metrics;
  readonly #disposers: (() => void)[] = [];
  #state: PeerState = "new";
  #sdpSent = false;
  #closed: Promise<void> | undefined;
  /** Transports seen on this connection at the end of a negotiation and not stopped by us yet. */
  readonly #transports = new Set<TransportLike>();
  /** Local ports of this connection's UDP sockets, registered for the drop metric. */
  readonly #ports = new Set<number>();
  /** SRTP receive path once connected (gauge label), else undefined. */
  #receivePath: "own" | "werift" | undefined;
  /** MEDIA_RECEIVE=own: the connection's own RTP ingress per transport (closed with the link). */
  readonly #ingresses: RtpIngress[] = [];

  constructor(pc: RTCPeerConnection, config: MediaConfig, metrics: Metrics, hooks: PeerLinkHooks) {
    this.pc = pc;
    this.#config = config;
    this.#metrics = metrics;
    metrics.peerConnections.inc({ state: "new" });
    for (const t of currentTransports(this.pc)) this.#transports.add(t);
    this.#disposers.push(
      pc.onIceCandidate.subscribe((candidate) => {
        if (!candidate || !this.#sdpSent || this.#closed) return;
        const json = candidate.toJSON();
        hooks.onCandidate({
          candidate: announceAddresses(config, json.candidate),
          sdpMid: json.sdpMid ?? null,
          sdpMLineIndex: json.sdpMLineIndex ?? null,
        });
      }).unSubscribe,
      pc.connectionStateChange.subscribe((state) => {
        if (this.#closed) return;
        this.#setState(state);
        if (state === "connected") this.#setUpReceive();
        hooks.onState(state);
      }).unSubscribe,
    );
  }

  get state(): PeerState {
    return this.#state;
  }

  get isClosed(): boolean {
    return this.#closed !== undefined;
  }

  /** The local description to hand to the client (addresses announced), marking candidates as sendable. */
  localDescription(): SessionDescription {
    const local = this.pc.localDescription;
    if (!local) throw new Error("no local description");
    guardUdp(this.pc, () => this.#metrics.udpGarbage.inc());
    tolerateLateConsent(this.pc);
    adoptUdpSockets(this.pc, this.#metrics, this.#ports);
    this.#sdpSent = true;
    return {
      type: local.type === "offer" ? "offer" : "answer",
      sdp: announceAddresses(this.#config, local.sdp),
    };
  }

  /** Applies a client candidate; one werift cannot use is the client's error (1320), not ours. */
  async addCandidate(candidate: IceCandidate): Promise<void> {
    try {
      await this.pc.addIceCandidate({
        candidate: candidate.candidate,
        sdpMid: candidate.sdpMid ?? null,
        sdpMLineIndex: candidate.sdpMLineIndex ?? null,
        usernameFragment: candidate.usernameFragment ?? null,
      });
    } catch (err) {
      throw new MediaError("invalid-sdp", `candidate rejected: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }

  /**
   * Stops the transports werift dropped during the last negotiation (see the class comment); call
   * it once a negotiation step is over, successful or rolled back. Returns how many it stopped.
   */
  releaseDroppedTransports(): number {
    if (this.#closed) return 0;
    const current = currentTransports(this.pc);
    let stopped = 0;
    for (const t of this.#transports) {
      if (current.has(t)) continue;
      this.#transports.delete(t);
      if (t.state !== "closed") {
        stopped++;
        t.stop().catch(() => undefined);
      }
    }
    for (const t of current) this.#transports.add(t);
    return stopped;
  }

  /**
   * The connection is up: its incoming SRTP and SRTCP go through our unprotectors (MEDIA_RECEIVE=own
   * or own-srtp; compat.ownSrtpReceive), or stay werift's with one warning when the per-connection
   * self-test fails. With MEDIA_RECEIVE=own the RTP of streams werift has routed once then goes
   * from the socket to the track through our ingress (compat.RtpIngress). Once per connection:
   * renegotiations keep its DTLS transport (max-bundle).
   */
  #setUpReceive(): void {
    if (this.#receivePath !== undefined) return;
    let reason: string | undefined;
    const own = this.#config.receive === "own" || this.#config.receive === "own-srtp";
    if (own) {
      const metrics = this.#metrics;
      const counts = {
        rejected: (why: "auth" | "replay") => metrics.srtpRejected.inc({ reason: why }),
      };
      const transports = new Set(this.pc.getTransceivers().map((t) => t.receiver.dtlsTransport));
      if (transports.size === 0) reason = "no transport";
      for (const transport of transports) {
        try {
          reason = ownSrtpReceive(transport, counts) ?? reason;
        } catch (err) {
          // Never into werift's state-change dispatch: this connection stays on werift's decrypt.
          reason = `own SRTP receive failed: ${(err as Error).message}`;
        }
      }
      if (reason !== undefined)
        compatLog()?.warn({ reason }, "own SRTP receive unavailable: this connection is decrypted by werift");
      else if (this.#config.receive === "own") this.#setUpIngress(transports, counts);
    }
    this.#receivePath = own && reason === undefined ? "own" : "werift";
    this.#metrics.mediaIngress.inc({ path: this.#receivePath });
  }

  #setUpIngress(
    transports: Set<Parameters<typeof RtpIngress.install>[1]>,
    counts: { rejected(why: "auth" | "replay"): void },
  ): void {
    const metrics = this.#metrics;
    const packetCounts = metrics.packetCounts;
    let logged = false;
    const ingressCounts = {
      rejected: counts.rejected,
      routed: () => {
        packetCounts.packetsInOwnRoute++;
      },
      failed: (err: unknown) => {
        metrics.programmerErrors.inc();
        if (logged) return;
        logged = true;
        compatLog()?.error(
          { err },
          "own RTP ingress: a track subscriber threw (counted; logged once per connection)",
        );
      },
    };
    for (const transport of transports) {
      let result: RtpIngress | string;
      try {
        result = RtpIngress.install(this.pc, transport, ingressCounts);
      } catch (err) {
        result = `own RTP ingress failed: ${(err as Error).message}`;
      }
      if (typeof result === "string")
        compatLog()?.warn(
          { reason: result },
          "own RTP ingress unavailable: werift routes this connection's RTP",
        );
      else this.#ingresses.push(result);
    }
  }

  close(): Promise<void> {
    if (!this.#closed) {
      for (const ingress of this.#ingresses.splice(0)) ingress.close();
      if (this.#receivePath !== undefined) this.#metrics.mediaIngress.dec({ path: this.#receivePath });
      for (const dispose of this.#disposers.splice(0)) dispose();
      this.#setState("closed");
      this.#metrics.peerConnections.dec({ state: "closed" });
      releaseUdpPorts(this.#metrics, this.#ports);
      const known = [...this.#transports, ...currentTransports(this.pc)];
      this.#transports.clear();
      this.#closed = this.pc
        .close()
        .catch(() => undefined)
        // Whatever werift's close() did not reach (transports it dropped since the last check).
        .then(() => Promise.allSettled(known.filter((t) => t.state !== "closed").map((t) => t.stop())))
        .then(() => undefined);
    }
    return this.#closed;
  }

  /** The transports the connection references now: every transceiver's (stopped ones too) and SCTP's. */

  #setState(state: PeerState): void {
    if (state === this.#state) return;
    this.#metrics.peerConnections.dec({ state: this.#state });
    this.#metrics.peerConnections.inc({ state });
    this.#state = state;
  }
}
