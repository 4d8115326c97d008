import type { DomainEvent } from "./event-types.ts";

/**
 * Where domain events go. `publish` never blocks and never throws: the signaling path
 * must not wait on the broker. Implementations keep what they cannot deliver yet.
 */
export interface EventSink {
  publish(event: DomainEvent): void;
  /** True when events reach their destination now (readiness). */
  readonly ready: boolean;
  /** Flushes what is pending (bounded by the signal) and releases connections. */
  close(signal?: AbortSignal): Promise<void>;
}
