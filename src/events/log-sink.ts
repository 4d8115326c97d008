import type { Logger } from "../lib/logger.ts";
import type { EventSink } from "./event-sink.ts";
import type { DomainEvent } from "./event-types.ts";

/** The default sink when no RABBITMQ_URL is set: events go to the log at debug level. */
export function newLogEventSink(log: Logger): EventSink {
  return {
    publish(event: DomainEvent): void {
      log.debug({ event: event.key, payload: event.payload }, "event");
    },
    ready: true,
    async close(): Promise<void> {},
  };
}
