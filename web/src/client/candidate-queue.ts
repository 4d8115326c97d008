import type { CandidateInit } from "./protocol.ts";

/**
 * Remote ICE candidates that arrived before the remote description they belong to are kept
 * here and applied once it is set (the browser rejects them before).
 */
export class CandidateQueue {
  readonly #pc: RTCPeerConnection;
  readonly #onError: (err: unknown) => void;
  #waiting: CandidateInit[] = [];

  constructor(pc: RTCPeerConnection, onError: (err: unknown) => void) {
    this.#pc = pc;
    this.#onError = onError;
  }

  add(candidate: CandidateInit): void {
    if (this.#pc.remoteDescription) this.#apply(candidate);
    else this.#waiting.push(candidate);
  }

  /** Call after every setRemoteDescription. */
  flush(): void {
    const waiting = this.#waiting;
    this.#waiting = [];
    for (const c of waiting) this.#apply(c);
  }

  #apply(candidate: CandidateInit): void {
    this.#pc.addIceCandidate(candidate).catch((err: unknown) => {
      if (this.#pc.signalingState !== "closed") this.#onError(err);
    });
  }
}
