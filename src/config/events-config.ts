import { hostname } from "node:os";
import { z } from "zod";
import { ConfigError } from "../lib/errors.ts";
import { int, optionalString, parseEnv, readConfigFile } from "./env-schema.ts";

/** Every environment variable of the event bus; documented in docs/events.md ("Configuration"). */
const envSchema = z.object({
  RABBITMQ_URL: optionalString.pipe(
    z
      .string()
      .refine((v) => /^amqps?:\/\/[^/?#]+/i.test(v), "must be an amqp:// or amqps:// URL with a host")
      .optional(),
  ),
  RABBITMQ_EXCHANGE: z
    .string()
    .trim()
    .min(1)
    .max(255)
    .regex(/^[A-Za-z0-9_.:-]+$/, "letters, digits, '_', '.', ':' and '-' only")
    .default("live_events"),
  RABBITMQ_CA_FILE: optionalString,
  RABBITMQ_CERT_FILE: optionalString,
  RABBITMQ_KEY_FILE: optionalString,
  RABBITMQ_CONNECT_TIMEOUT_MS: int(10_000, 100, 600_000),
  RABBITMQ_RECONNECT_MIN_MS: int(500, 10, 600_000),
  RABBITMQ_RECONNECT_MAX_MS: int(30_000, 10, 3_600_000),
  EVENTS_OUTBOX_MAX: int(10_000, 1, 10_000_000),
  EVENTS_FLUSH_TIMEOUT_MS: int(5_000, 0, 600_000),
  ROOM_LIVE_INTERVAL_MS: int(60_000, 0, 86_400_000),
  INSTANCE_ID: optionalString.pipe(z.string().max(255).optional()),
});

export interface RabbitmqTls {
  readonly ca?: Buffer;
  readonly cert?: Buffer;
  readonly key?: Buffer;
}

export interface RabbitmqConfig {
  /** amqp:// or amqps:// URL, credentials included: never log it (see `redactUrl`). */
  readonly url: string;
  /** Durable topic exchange the events are published to. */
  readonly exchange: string;
  /** Extra trust anchor and client certificate for amqps:// (all optional). */
  readonly tls?: RabbitmqTls;
  /** TCP connect + AMQP handshake timeout. */
  readonly connectTimeoutMs: number;
  readonly reconnectMinMs: number;
  readonly reconnectMaxMs: number;
  /** Events kept while the broker is unreachable; the oldest are dropped beyond this. */
  readonly outboxMax: number;
  /** Longest wait for unconfirmed events at shutdown. */
  readonly flushTimeoutMs: number;
}

export interface EventsConfig {
  /** Absent when RABBITMQ_URL is not set: events go to the log. */
  readonly rabbitmq?: RabbitmqConfig;
  /** Identifies this server in every event (`instanceId`, AMQP `appId`). */
  readonly instanceId: string;
  /** Period of `room.live`; 0 disables it. */
  readonly roomLiveIntervalMs: number;
}

/** The URL without its password, for logs. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== "") u.password = "***";
    return u.toString();
  } catch {
    return "<invalid url>";
  }
}

function loadTls(
  url: string,
  e: { RABBITMQ_CA_FILE?: string; RABBITMQ_CERT_FILE?: string; RABBITMQ_KEY_FILE?: string },
): RabbitmqTls | undefined {
  if ((e.RABBITMQ_CERT_FILE === undefined) !== (e.RABBITMQ_KEY_FILE === undefined)) {
    throw new ConfigError("RABBITMQ_CERT_FILE and RABBITMQ_KEY_FILE must be set together");
  }
  const any = e.RABBITMQ_CA_FILE ?? e.RABBITMQ_CERT_FILE;
  if (any === undefined) return undefined;
  if (!url.toLowerCase().startsWith("amqps:")) {
    const variable = e.RABBITMQ_CA_FILE ? "RABBITMQ_CA_FILE" : "RABBITMQ_CERT_FILE";
    throw new ConfigError(`${variable} needs an amqps:// RABBITMQ_URL`);
  }
  return {
    ...(e.RABBITMQ_CA_FILE ? { ca: readConfigFile("RABBITMQ_CA_FILE", e.RABBITMQ_CA_FILE) } : {}),
    ...(e.RABBITMQ_CERT_FILE ? { cert: readConfigFile("RABBITMQ_CERT_FILE", e.RABBITMQ_CERT_FILE) } : {}),
    ...(e.RABBITMQ_KEY_FILE ? { key: readConfigFile("RABBITMQ_KEY_FILE", e.RABBITMQ_KEY_FILE) } : {}),
  };
}

/** Reads and validates the event bus settings; throws ConfigError naming the bad variable. */
export function loadEventsConfig(env: Record<string, string | undefined> = process.env): EventsConfig {
  const e = parseEnv(envSchema, env, "event bus configuration");
  if (e.RABBITMQ_RECONNECT_MAX_MS < e.RABBITMQ_RECONNECT_MIN_MS) {
    throw new ConfigError("RABBITMQ_RECONNECT_MAX_MS must not be smaller than RABBITMQ_RECONNECT_MIN_MS");
  }
  const instanceId = e.INSTANCE_ID ?? `${hostname()}-${process.pid}`;
  let rabbitmq: RabbitmqConfig | undefined;
  if (e.RABBITMQ_URL !== undefined) {
    const tls = loadTls(e.RABBITMQ_URL, e);
    rabbitmq = Object.freeze({
      url: e.RABBITMQ_URL,
      exchange: e.RABBITMQ_EXCHANGE,
      ...(tls ? { tls } : {}),
      connectTimeoutMs: e.RABBITMQ_CONNECT_TIMEOUT_MS,
      reconnectMinMs: e.RABBITMQ_RECONNECT_MIN_MS,
      reconnectMaxMs: e.RABBITMQ_RECONNECT_MAX_MS,
      outboxMax: e.EVENTS_OUTBOX_MAX,
      flushTimeoutMs: e.EVENTS_FLUSH_TIMEOUT_MS,
    });
  } else if (e.RABBITMQ_CA_FILE ?? e.RABBITMQ_CERT_FILE ?? e.RABBITMQ_KEY_FILE) {
    throw new ConfigError("RABBITMQ_CA_FILE/RABBITMQ_CERT_FILE/RABBITMQ_KEY_FILE need RABBITMQ_URL");
  }
  return Object.freeze({
    ...(rabbitmq ? { rabbitmq } : {}),
    instanceId,
    roomLiveIntervalMs: e.ROOM_LIVE_INTERVAL_MS,
  });
}
