import type { Options } from "amqplib";
import { newMessageId } from "../lib/ids.ts";
import type { DomainEvent, EventKey } from "./event-types.ts";

/** Fields added to every event body next to the payload fields (see docs/events.md). */
export interface EnvelopeFields {
  /** The routing key, repeated for consumers that read bodies only. */
  event: EventKey;
  /** 32 lower-case hex characters, unique per event, identical on every redelivery: dedupe on it. */
  messageId: string;
  /** When the server created the event, milliseconds since the Unix epoch (UTC). */
  timestamp: number;
  /** The server instance that published the event (INSTANCE_ID). */
  instanceId: string;
}

/** One event ready to publish: encoded once, re-sent identically after a reconnect. */
export interface EncodedEvent {
  readonly key: EventKey;
  readonly messageId: string;
  readonly content: Buffer;
  readonly options: Options.Publish;
}

const CONTENT_TYPE = "application/json";

/**
 * Body: `{event, messageId, timestamp, instanceId, ...payload}` as UTF-8 JSON. AMQP properties:
 * messageId, timestamp (seconds, as AMQP defines it), appId = instanceId, type = routing key,
 * contentType application/json, contentEncoding utf-8, deliveryMode 2 (persistent).
 * Throws (TypeError) only when the payload cannot be serialised (a BigInt, a cycle).
 */
export function encodeEvent(
  event: DomainEvent,
  instanceId: string,
  now: number = Date.now(),
  messageId: string = newMessageId(),
): EncodedEvent {
  const envelope: EnvelopeFields = { event: event.key, messageId, timestamp: now, instanceId };
  const content = Buffer.from(JSON.stringify({ ...envelope, ...event.payload }), "utf8");
  return {
    key: event.key,
    messageId,
    content,
    options: {
      persistent: true,
      contentType: CONTENT_TYPE,
      contentEncoding: "utf-8",
      messageId,
      timestamp: Math.floor(now / 1000),
      appId: instanceId,
      type: event.key,
    },
  };
}
