/**
 * Detects a publisher's video freezing on the server: no new frame for `timeoutMs` while its
 * connection is up. Reports the freeze once, and the recovery (with its duration) when frames return.
 */
export interface FreezeDetectorOptions {
  timeoutMs: number;
  onChange: (frozen: boolean, durationMs: number) => void;
  now?: () => number;
}

export class FreezeDetector {
  readonly #timeoutMs: number;
  readonly #onChange: (frozen: boolean, durationMs: number) => void;
  readonly #now: () => number;
  #lastFrameAt: number | undefined;
  #frozenSince: number | undefined;
  #active = false;
  #timer: NodeJS.Timeout | undefined;

  constructor(options: FreezeDetectorOptions) {
    this.#timeoutMs = options.timeoutMs;
    this.#onChange = options.onChange;
    this.#now = options.now ?? performance.now.bind(performance);
  }

  get frozen(): boolean {
    return this.#frozenSince !== undefined;
  }

  /** Starts watching (the publisher's connection is up); a no-op when already watching. */
  start(): void {
    if (this.#active) return;
    this.#active = true;
    this.#timer = setInterval(() => this.check(), Math.max(25, Math.floor(this.#timeoutMs / 4)));
    this.#timer.unref();
  }

  /** Stops watching (connection down or closed); a pending freeze is not reported as recovered. */
  stop(): void {
    this.#active = false;
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#lastFrameAt = undefined;
    this.#frozenSince = undefined;
  }

  /** A new video frame arrived (first packet of a new RTP timestamp). */
  frame(): void {
    const now = this.#now();
    this.#lastFrameAt = now;
    if (this.#frozenSince !== undefined) {
      const duration = now - this.#frozenSince;
      this.#frozenSince = undefined;
      this.#onChange(false, Math.round(duration));
    }
  }

  /** Called by the timer; public so tests can drive it with a fake clock. */
  check(): void {
    if (!this.#active || this.#lastFrameAt === undefined || this.#frozenSince !== undefined) return;
    const now = this.#now();
    if (now - this.#lastFrameAt >= this.#timeoutMs) {
      this.#frozenSince = this.#lastFrameAt;
      this.#onChange(true, Math.round(now - this.#lastFrameAt));
    }
  }
}
