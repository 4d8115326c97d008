import type { CandidateInit } from "./protocol.ts";

/**
 * The browser's own candidates for one connection: held until the description they belong to
 * has been sent, then trickled with `send` in order.
 */
export class LocalCandidates {
  readonly #send: (candidate: CandidateInit) => void;
  #held: CandidateInit[] = [];
  #open = false;

  constructor(pc: RTCPeerConnection, send: (candidate: CandidateInit) => void) {
    this.#send = send;
    pc.addEventListener("icecandidate", (e) => {
      if (!e.candidate || e.candidate.candidate === "") return;
      const c = e.candidate.toJSON() as CandidateInit;
      if (this.#open) this.#send(c);
      else this.#held.push(c);
    });
  }

  /** The description was sent: trickle what was held, and everything from now on. */
  release(): void {
    this.#open = true;
    const held = this.#held;
    this.#held = [];
    for (const c of held) this.#send(c);
  }

  /** A new local description is being made: hold candidates again until it was sent. */
  hold(): void {
    this.#open = false;
  }
}
