import { randomInt } from "node:crypto";

const U16 = 0x10000;
const U32 = 0x100000000;

/** True when a is newer than b in 16-bit serial-number arithmetic. */
export function seqNewer(a: number, b: number): boolean {
  const d = (a - b + U16) % U16;
  return d !== 0 && d < 0x8000;
}

/**
 * The sequence number and timestamp mapping of one forwarded stream (one published track to one
 * listener): the listener sees a single stream that starts at random values and continues across the
 * publisher's re-publish (a new SSRC): next seq = last + 1, timestamp gap = wall-clock gap. Pure
 * arithmetic on numbers; `rewrite` leaves its result in `seq` and `timestamp` (nothing allocated).
 */
export class RtpRewriter {
  /** Outgoing values of the last `rewrite`. */
  seq = 0;
  timestamp = 0;
  readonly #clockRate: number;
  readonly #random: (max: number) => number;
  #inSsrc: number | undefined;
  #seqOffset = 0;
  #tsOffset = 0;
  #lastOutSeq = 0;
  #lastOutTs = 0;
  #lastOutAtMs = 0;
  #count = 0;

  constructor(clockRate: number, random: (max: number) => number = randomInt) {
    this.#clockRate = clockRate;
    this.#random = random;
  }

  /** Packets rewritten so far. */
  get count(): number {
    return this.#count;
  }

  /** The newest outgoing timestamp and when it was sent (for sender reports). */
  get lastTimestamp(): number {
    return this.#lastOutTs;
  }

  get lastAtMs(): number {
    return this.#lastOutAtMs;
  }

  /**
   * Maps an incoming packet; returns true when it starts a new source (re-publish: the caller asks
   * for a keyframe). Older packets (retransmissions, reordering) map with the same offsets.
   */
  rewrite(ssrc: number, inSeq: number, inTs: number, nowMs: number): boolean {
    let newSource = false;
    if (this.#inSsrc === undefined) {
      this.#inSsrc = ssrc;
      this.#seqOffset = (this.#random(U16) - inSeq + U16) % U16;
      this.#tsOffset = (this.#random(U32) - inTs + U32) % U32;
    } else if (ssrc !== this.#inSsrc) {
      // Continue right after the last packet sent, with a timestamp gap matching the wall-clock gap
      // so that the listener's jitter buffer sees no jump.
      this.#inSsrc = ssrc;
      const elapsed = Math.max(1, Math.round(((nowMs - this.#lastOutAtMs) * this.#clockRate) / 1000));
      this.#seqOffset = (this.#lastOutSeq + 1 - inSeq + 2 * U16) % U16;
      this.#tsOffset = (this.#lastOutTs + elapsed - inTs + 2 * U32) % U32;
      newSource = true;
    }
    const seq = (inSeq + this.#seqOffset) % U16;
    const timestamp = (inTs + this.#tsOffset) % U32;
    if (this.#count === 0 || newSource || seqNewer(seq, this.#lastOutSeq)) {
      this.#lastOutSeq = seq;
      this.#lastOutTs = timestamp;
      this.#lastOutAtMs = nowMs;
    }
    this.#count++;
    this.seq = seq;
    this.timestamp = timestamp;
    return newSource;
  }
}
