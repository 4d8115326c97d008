/**
 * Throttles keyframe requests (PLI) to one publisher stream: the first request goes out at once,
 * requests inside the minimum interval are merged into one trailing request at the end of it.
 */
export class KeyframeRequester {
  readonly #minIntervalMs: number;
  readonly #send: () => void;
  readonly #now: () => number;
  #lastSentAt = Number.NEGATIVE_INFINITY;
  #trailing: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(
    minIntervalMs: number,
    send: () => void,
    now: () => number = performance.now.bind(performance),
  ) {
    this.#minIntervalMs = minIntervalMs;
    this.#send = send;
    this.#now = now;
  }

  request(): void {
    if (this.#closed || this.#trailing) return;
    const wait = this.#lastSentAt + this.#minIntervalMs - this.#now();
    if (wait <= 0) {
      this.#fire();
      return;
    }
    this.#trailing = setTimeout(() => {
      this.#trailing = undefined;
      this.#fire();
    }, wait);
    this.#trailing.unref();
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#trailing);
    this.#trailing = undefined;
  }

  #fire(): void {
    if (this.#closed) return;
    this.#lastSentAt = this.#now();
    this.#send();
  }
}
