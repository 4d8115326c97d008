/**
 * Recently sent packets of one outgoing stream, by (rewritten) sequence number, for answering
 * NACKs from a time window (NACK_HISTORY_MS) rather than werift's fixed 128 packets.
 * A ring indexed by `seq % capacity`, held in typed arrays allocated once: adding a packet stores a
 * reference and three numbers and allocates nothing. An entry is valid only if its seq matches and
 * it is young enough. `aux` is a number kept with the packet (the forwarder's rewritten timestamp).
 */
export class PacketHistory<P> {
  readonly #packets: (P | undefined)[];
  readonly #seqs: Int32Array;
  readonly #sentAt: Float64Array;
  /** When it was last sent again for a NACK, NaN if never (receivers repeat NACKs; one resend per interval). */
  readonly #resentAt: Float64Array;
  readonly #aux: Float64Array;
  readonly #maxAgeMs: number;

  /** capacity bounds memory: keep it above the packet rate times maxAgeMs (4096 holds 1 s of ~40 Mbit/s). */
  constructor(maxAgeMs: number, capacity = 4096) {
    this.#packets = new Array<P | undefined>(capacity).fill(undefined);
    this.#seqs = new Int32Array(capacity).fill(-1);
    this.#sentAt = new Float64Array(capacity);
    this.#resentAt = new Float64Array(capacity).fill(Number.NaN);
    this.#aux = new Float64Array(capacity);
    this.#maxAgeMs = maxAgeMs;
  }

  get capacity(): number {
    return this.#packets.length;
  }

  add(seq: number, packet: P, nowMs: number, aux = 0): void {
    const i = seq % this.#packets.length;
    this.#packets[i] = packet;
    this.#seqs[i] = seq;
    this.#sentAt[i] = nowMs;
    this.#resentAt[i] = Number.NaN;
    this.#aux[i] = aux;
  }

  #slot(seq: number, nowMs: number): number {
    const i = seq % this.#packets.length;
    if (this.#seqs[i] !== seq || nowMs - (this.#sentAt[i] as number) > this.#maxAgeMs) return -1;
    return i;
  }

  get(seq: number, nowMs: number): P | undefined {
    const i = this.#slot(seq, nowMs);
    return i < 0 ? undefined : this.#packets[i];
  }

  /** The number stored with a packet still in the history (see `add`), or undefined. */
  aux(seq: number, nowMs: number): number | undefined {
    const i = this.#slot(seq, nowMs);
    return i < 0 ? undefined : this.#aux[i];
  }

  /**
   * The packet to resend for a NACK, or why not: "miss" (gone from the history) or "suppressed"
   * (already resent within `minIntervalMs`, about one round trip: werift receivers NACK every 5 ms
   * up to 10 times, and answering each would multiply the loss repair traffic).
   */
  takeForResend(seq: number, nowMs: number, minIntervalMs: number): P | "miss" | "suppressed" {
    const i = this.#slot(seq, nowMs);
    if (i < 0) return "miss";
    const resentAt = this.#resentAt[i] as number;
    if (!Number.isNaN(resentAt) && nowMs - resentAt < minIntervalMs) return "suppressed";
    this.#resentAt[i] = nowMs;
    return this.#packets[i] as P;
  }

  clear(): void {
    this.#packets.fill(undefined);
    this.#seqs.fill(-1);
  }
}
