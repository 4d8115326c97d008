import type { BitrateLimits } from "../config/media-config.ts";

/** Loss above this fraction lowers a listener's estimate; below LOSS_LOW it may grow. */
const LOSS_HIGH = 0.1;
const LOSS_LOW = 0.02;

interface ListenerState {
  lossEstimate: number;
  remb: number | undefined;
  worstLoss: number;
}

/**
 * The bitrate a publisher may send so that its weakest listener can take it (the reference's
 * "REMB from listeners and loss from RRs drove bitrate"). Pure: feed it REMB values and RR loss
 * fractions per listener, call round() on a timer, send the result to the publisher as REMB.
 * Per listener: a loss-based estimate (multiplicative decrease above 10 % loss, +step below 2 %)
 * capped by the listener's own REMB. The cap is the minimum over listeners, clamped to [min, max],
 * and rises by at most `step` per round.
 */
export class BitrateEstimator {
  readonly #limits: BitrateLimits;
  readonly #listeners = new Map<string, ListenerState>();
  #current: number;

  constructor(limits: BitrateLimits) {
    this.#limits = limits;
    this.#current = limits.start;
  }

  get current(): number {
    return this.#current;
  }

  addListener(id: string): void {
    if (!this.#listeners.has(id)) {
      this.#listeners.set(id, { lossEstimate: this.#current, remb: undefined, worstLoss: 0 });
    }
  }

  removeListener(id: string): void {
    this.#listeners.delete(id);
  }

  /** A REMB from the listener, in bits per second. */
  remb(id: string, bitrate: number): void {
    const l = this.#listeners.get(id);
    if (l) l.remb = bitrate;
  }

  /** fractionLost from a receiver report, 0..1. */
  loss(id: string, fractionLost: number): void {
    const l = this.#listeners.get(id);
    if (l) l.worstLoss = Math.max(l.worstLoss, fractionLost);
  }

  /** Recomputes the cap from what arrived since the last round; returns it. */
  round(): number {
    const { min, max, step, start } = this.#limits;
    let target = this.#listeners.size === 0 ? start : max;
    for (const l of this.#listeners.values()) {
      if (l.worstLoss > LOSS_HIGH) l.lossEstimate *= 1 - 0.5 * l.worstLoss;
      else if (l.worstLoss < LOSS_LOW) l.lossEstimate += step;
      l.lossEstimate = clamp(l.lossEstimate, min, max);
      l.worstLoss = 0;
      target = Math.min(target, l.lossEstimate, l.remb ?? Number.POSITIVE_INFINITY);
    }
    target = clamp(target, min, max);
    this.#current = Math.round(target > this.#current ? Math.min(target, this.#current + step) : target);
    return this.#current;
  }
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, v));
}
