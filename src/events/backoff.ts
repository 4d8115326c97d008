export interface BackoffOptions {
  readonly minMs: number;
  readonly maxMs: number;
  /** Uniform in [0, 1); injectable for tests. */
  readonly random?: () => number;
}

export interface Backoff {
  /** The delay before the next attempt; each call counts one failed attempt. */
  next(): number;
  /** Back to `minMs` after a success. */
  reset(): void;
  /** Failed attempts since the last reset. */
  readonly attempts: number;
}

/**
 * Exponential backoff with "equal jitter": the n-th delay is uniform in [d/2, d] where
 * d = min(maxMs, minMs * 2^n). Never below minMs / 2, never above maxMs.
 */
export function newBackoff(options: BackoffOptions): Backoff {
  const random = options.random ?? Math.random;
  let attempts = 0;
  return {
    next(): number {
      const exp = Math.min(attempts, 30);
      const ceiling = Math.min(options.maxMs, options.minMs * 2 ** exp);
      attempts++;
      return Math.round(ceiling / 2 + random() * (ceiling / 2));
    },
    reset(): void {
      attempts = 0;
    },
    get attempts(): number {
      return attempts;
    },
  };
}
