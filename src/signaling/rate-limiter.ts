/** A token bucket: `perSecond` sustained, `burst` at once. Time is passed in so tests need no clock. */
export class RateLimiter {
  #tokens: number;
  #last: number;
  readonly #perSecond: number;
  readonly #burst: number;

  constructor(perSecond: number, burst: number, now: number = performance.now()) {
    this.#perSecond = perSecond;
    this.#burst = burst;
    this.#tokens = burst;
    this.#last = now;
  }

  take(now: number = performance.now()): boolean {
    this.#tokens = Math.min(this.#burst, this.#tokens + ((now - this.#last) / 1000) * this.#perSecond);
    this.#last = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}
