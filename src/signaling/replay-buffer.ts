/**
 * The last messages sent to one member, numbered. Every event carries its number `n`, so a
 * client that reconnects says what it last saw (`lastSeq`) and gets exactly what followed,
 * including what was written into a dead socket the server had not noticed yet.
 * Bounded by count and bytes; what falls out is reported as `missed` on replay.
 */
export class ReplayBuffer {
  readonly #entries: Array<{ n: number; text: string; at: number }> = [];
  readonly #maxMessages: number;
  readonly #maxBytes: number;
  #bytes = 0;
  #seq = 0;

  /** `firstSeq`: the number the first message follows (a member restored on another cluster node continues above it). */
  constructor(maxMessages: number, maxBytes: number, firstSeq = 0) {
    this.#seq = firstSeq;
    this.#maxMessages = maxMessages;
    this.#maxBytes = maxBytes;
  }

  /** Number of the newest message (0 before any). */
  get lastSeq(): number {
    return this.#seq;
  }

  get size(): number {
    return this.#entries.length;
  }

  /** Numbers a serialised message object (`{...}`) and keeps it; returns the text to send. */
  push(json: string, now: number = performance.now()): string {
    const n = ++this.#seq;
    const text = json.length > 2 ? `{"n":${n},${json.slice(1)}` : `{"n":${n}}`;
    this.#entries.push({ n, text, at: now });
    this.#bytes += text.length;
    while (
      this.#entries.length > this.#maxMessages ||
      (this.#bytes > this.#maxBytes && this.#entries.length > 1)
    ) {
      const dropped = this.#entries.shift();
      if (dropped) this.#bytes -= dropped.text.length;
    }
    return text;
  }

  /** The messages after `n`, in order, and how many of those are no longer kept. */
  since(n: number): { texts: string[]; missed: number } {
    const from = Math.max(0, Math.min(n, this.#seq));
    const texts = this.#entries.filter((e) => e.n > from).map((e) => e.text);
    return { texts, missed: this.#seq - from - texts.length };
  }

  /** Forgets messages older than `maxAgeMs` (surely read, or the dead socket would have been noticed). */
  prune(now: number, maxAgeMs: number): void {
    while (this.#entries.length > 0 && now - (this.#entries[0]?.at ?? now) > maxAgeMs) {
      const dropped = this.#entries.shift();
      if (dropped) this.#bytes -= dropped.text.length;
    }
  }

  clear(): void {
    this.#entries.length = 0;
    this.#bytes = 0;
  }
}
