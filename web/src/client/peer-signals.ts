import type { CandidateInit, SdpInit } from "./protocol.ts";

/** How a peer connection talks to the server through the client's socket. */
export interface PeerSignals {
  /** exchangeSdp to this connection's target; resolves on exchangeSdpR. */
  sendSdp(sdp: SdpInit): Promise<void>;
  /** exchangeCandidate to this connection's target (failures are reported, not thrown). */
  sendCandidate(candidate: CandidateInit): void;
  /** Something went wrong that the caller did not await. */
  error(err: unknown): void;
}
