/**
 * The events not yet confirmed by the broker, oldest first, bounded.
 *
 * An entry stays until `confirm` removes it; `takeUnsent` hands out each entry once per
 * channel; `rewind` (a new channel) makes every entry unsent again, in the original order.
 * When full, `push` evicts and returns the oldest entry, sent or not.
 */
export class Outbox<T> {
  readonly #max: number;
  readonly #entries = new Map<number, T>();
  #unsent: number[] = [];
  #unsentHead = 0;
  #nextSeq = 0;

  constructor(max: number) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`outbox max must be >= 1, got ${max}`);
    this.#max = max;
  }

  get size(): number {
    return this.#entries.size;
  }

  get max(): number {
    return this.#max;
  }

  /** Adds an entry at the end; returns the evicted oldest entry when the outbox was full. */
  push(item: T): { seq: number; evicted?: T } {
    let evicted: T | undefined;
    if (this.#entries.size >= this.#max) {
      const oldest = this.#entries.entries().next();
      if (!oldest.done) {
        const [oldSeq, oldItem] = oldest.value;
        this.#entries.delete(oldSeq);
        evicted = oldItem;
        // #unsent is ascending and the evicted entry is the oldest: if unsent, it is at the head.
        if (this.#unsent[this.#unsentHead] === oldSeq) this.#unsentHead++;
      }
    }
    this.#compact();
    const seq = this.#nextSeq++;
    this.#entries.set(seq, item);
    this.#unsent.push(seq);
    return evicted === undefined ? { seq } : { seq, evicted };
  }

  /** The oldest entry not handed out on the current channel, or undefined. */
  takeUnsent(): { seq: number; item: T } | undefined {
    while (this.#unsentHead < this.#unsent.length) {
      const seq = this.#unsent[this.#unsentHead++]!;
      const item = this.#entries.get(seq);
      if (item !== undefined) {
        this.#compact();
        return { seq, item };
      }
    }
    this.#unsent = [];
    this.#unsentHead = 0;
    return undefined;
  }

  /** The broker has the entry: forget it. Returns false when it was already gone (evicted). */
  confirm(seq: number): boolean {
    return this.#entries.delete(seq);
  }

  /** Every entry becomes unsent again, oldest first (after a channel was lost). */
  rewind(): void {
    this.#unsent = [...this.#entries.keys()];
    this.#unsentHead = 0;
  }

  /** Removes and returns every entry (shutdown). */
  drain(): T[] {
    const items = [...this.#entries.values()];
    this.#entries.clear();
    this.#unsent = [];
    this.#unsentHead = 0;
    return items;
  }

  #compact(): void {
    if (this.#unsentHead > 1024 && this.#unsentHead * 2 > this.#unsent.length) {
      this.#unsent = this.#unsent.slice(this.#unsentHead);
      this.#unsentHead = 0;
    }
  }
}
