/**
 * Recently sent packets of one outgoing stream, by (rewritten) sequence number, for answering
 * NACKs from a time window (NACK_HISTORY_MS) rather than werift's fixed 128 packets.
 * A ring indexed by `seq % capacity`; an entry is valid only if its seq matches and it is young enough.
 */
export interface HistoryEntry<P> {
  readonly seq: number;
  readonly sentAtMs: number;
  readonly packet: P;
  /** When it was last sent again for a NACK (receivers repeat NACKs; one resend per interval). */
  resentAtMs?: number;
}

export class PacketHistory<P> {
  readonly #ring: (HistoryEntry<P> | undefined)[];
  readonly #maxAgeMs: number;

  /** capacity bounds memory: keep it above the packet rate times maxAgeMs (4096 holds 1 s of ~40 Mbit/s). */
  constructor(maxAgeMs: number, capacity = 4096) {
    this.#ring = new Array<HistoryEntry<P> | undefined>(capacity);
    this.#maxAgeMs = maxAgeMs;
  }

  get capacity(): number {
    return this.#ring.length;
  }

  add(seq: number, packet: P, nowMs: number): void {
    this.#ring[seq % this.#ring.length] = { seq, sentAtMs: nowMs, packet };
  }

  get(seq: number, nowMs: number): P | undefined {
    const entry = this.#ring[seq % this.#ring.length];
    if (!entry || entry.seq !== seq || nowMs - entry.sentAtMs > this.#maxAgeMs) return undefined;
    return entry.packet;
  }

  /**
   * The packet to resend for a NACK, or why not: "miss" (gone from the history) or "suppressed"
   * (already resent within `minIntervalMs`, about one round trip: werift receivers NACK every 5 ms
   * up to 10 times, and answering each would multiply the loss repair traffic).
   */
  takeForResend(seq: number, nowMs: number, minIntervalMs: number): P | "miss" | "suppressed" {
    const entry = this.#ring[seq % this.#ring.length];
    if (!entry || entry.seq !== seq || nowMs - entry.sentAtMs > this.#maxAgeMs) return "miss";
    if (entry.resentAtMs !== undefined && nowMs - entry.resentAtMs < minIntervalMs) return "suppressed";
    entry.resentAtMs = nowMs;
    return entry.packet;
  }

  clear(): void {
    this.#ring.fill(undefined);
  }
}
