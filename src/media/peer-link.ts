import type { RTCPeerConnection } from "werift";
import type { MediaConfig } from "../config/media-config.ts";
import { ErrorCode, ProtocolError } from "../lib/errors.ts";
import type { Metrics } from "../metrics/metrics.ts";
import type { IceCandidate, SessionDescription } from "./media-port.ts";
import { announceAddresses } from "./peer-factory.ts";
import { installUdpGuard } from "./udp-guard.ts";

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
 */
export class PeerLink {
  readonly pc: RTCPeerConnection;
  readonly #config: MediaConfig;
  readonly #metrics: Metrics;
  readonly #disposers: (() => void)[] = [];
  #state: PeerState = "new";
  #sdpSent = false;
  #closed: Promise<void> | undefined;

  constructor(pc: RTCPeerConnection, config: MediaConfig, metrics: Metrics, hooks: PeerLinkHooks) {
    this.pc = pc;
    this.#config = config;
    this.#metrics = metrics;
    metrics.peerConnections.inc({ state: "new" });
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

  close(): Promise<void> {
    if (!this.#closed) {
      for (const dispose of this.#disposers.splice(0)) dispose();
      this.#setState("closed");
      this.#metrics.peerConnections.dec({ state: "closed" });
      this.#closed = this.pc.close().catch(() => undefined);
    }
    return this.#closed;
  }

  #setState(state: PeerState): void {
    if (state === this.#state) return;
    this.#metrics.peerConnections.dec({ state: this.#state });
    this.#metrics.peerConnections.inc({ state });
    this.#state = state;
  }
}
