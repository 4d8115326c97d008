import type { RTCPeerConnection } from "werift";
import type { MediaConfig } from "../config/media-config.ts";
import { ErrorCode, ProtocolError } from "../lib/errors.ts";
import type { Metrics } from "../metrics/metrics.ts";
import type { IceCandidate, SessionDescription } from "./media-port.ts";
import { announceAddresses } from "./peer-factory.ts";
import { installUdpGuard } from "./udp-guard.ts";

/** What PeerLink needs of a werift RTCDtlsTransport (which owns an ICE transport and its UDP sockets). */
interface TransportLike {
  readonly state: string;
  stop(): Promise<void>;
}

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

  constructor(pc: RTCPeerConnection, config: MediaConfig, metrics: Metrics, hooks: PeerLinkHooks) {
    this.pc = pc;
    this.#config = config;
    this.#metrics = metrics;
    metrics.peerConnections.inc({ state: "new" });
    for (const t of this.#currentTransports()) this.#transports.add(t);
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
    installUdpGuard(this.pc, () => this.#metrics.udpGarbage.inc());
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
      throw new ProtocolError(ErrorCode.invalidSdp, `candidate rejected: ${(err as Error).message}`, {
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
    const current = this.#currentTransports();
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

  close(): Promise<void> {
    if (!this.#closed) {
      for (const dispose of this.#disposers.splice(0)) dispose();
      this.#setState("closed");
      this.#metrics.peerConnections.dec({ state: "closed" });
      const known = [...this.#transports, ...this.#currentTransports()];
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
  #currentTransports(): Set<TransportLike> {
    const out = new Set<TransportLike>();
    for (const t of this.pc.getTransceivers()) {
      const transport = t.dtlsTransport as TransportLike | undefined;
      if (transport) out.add(transport);
    }
    const sctp = this.pc.sctpTransport?.dtlsTransport as TransportLike | undefined;
    if (sctp) out.add(sctp);
    return out;
  }

  #setState(state: PeerState): void {
    if (state === this.#state) return;
    this.#metrics.peerConnections.dec({ state: this.#state });
    this.#metrics.peerConnections.inc({ state });
    this.#state = state;
  }
}
