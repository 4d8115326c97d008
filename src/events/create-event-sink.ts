import type { EventsConfig } from "../config/events-config.ts";
import type { Logger } from "../lib/logger.ts";
import type { Metrics } from "../metrics/metrics.ts";
import type { EventSink } from "./event-sink.ts";
import { newLogEventSink } from "./log-sink.ts";
import { newRabbitmqEventSink } from "./rabbitmq-sink.ts";

/**
 * The RabbitMQ sink when RABBITMQ_URL is set (already connecting in the background; it never
 * throws if the broker is down), else the log sink. Close it on shutdown: `await sink.close(signal)`.
 */
export function createEventSink(config: EventsConfig, deps: { log: Logger; metrics: Metrics }): EventSink {
  if (!config.rabbitmq) {
    const log = deps.log.child({ component: "events" });
    log.info("RABBITMQ_URL not set: events go to the log at debug level");
    return newLogEventSink(log);
  }
  return newRabbitmqEventSink({ ...config.rabbitmq, instanceId: config.instanceId }, deps);
}
