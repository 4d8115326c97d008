import { z } from "zod";
import { ConfigError } from "../lib/errors.ts";
import { int, list, optionalString, parseEnv, readConfigFile } from "./env-schema.ts";

/** Every environment variable the server reads; documented in README.md ("Configuration"). */
const envSchema = z.object({
  NODE_ENV: z.enum(["production", "development", "test"]).default("development"),
  PORT_NUMBER: int(8080, 0, 65535),
  /** Unset: 127.0.0.1 in development mode (no token key), 0.0.0.0 otherwise. */
  BIND_ADDRESS: optionalString,
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  LOG_PRETTY: z
    .enum(["auto", "true", "false"])
    .default("auto")
    .transform((v) => (v === "auto" ? process.stdout.isTTY === true : v === "true")),
  CERT_FILE_PATH: optionalString,
  KEY_FILE_PATH: optionalString,

  JWT_SECRET: optionalString,
  JWT_PUBLIC_KEY_FILE: optionalString,
  JWT_JWKS_URL: optionalString.pipe(z.url().optional()),
  JWT_ALGORITHMS: list,
  JWT_AUDIENCE: optionalString,
  JWT_ISSUER: optionalString,
  JWT_USER_CLAIM: z.string().default("userId"),

  ROOM_MODE: z.enum(["mcu", "p2p"]).default("mcu"),
  ROOM_MAX_MEMBERS: int(8, 1, 1000),
  MAX_MESSAGE_BYTES: int(64 * 1024, 1024, 16 * 1024 * 1024),
  HEARTBEAT_INTERVAL_MS: int(5000, 50),
  HEARTBEAT_TIMEOUT_MS: int(15000, 100),
  RECONNECT_GRACE_MS: int(30000, 0),
  RECONNECT_QUEUE_MAX: int(256, 1),
  RECONNECT_BUFFER_BYTES: int(1024 * 1024, 1024),
  RATE_LIMIT_PER_SECOND: int(50, 1),
  RATE_LIMIT_BURST: int(200, 1),
  RATE_LIMIT_STRIKES: int(20, 1),
  SEND_BUFFER_MAX_BYTES: int(4 * 1024 * 1024, 1024),
  MAX_CONNECTIONS_PER_IP: int(200, 1),
  ALLOWED_ORIGINS: list,
  TRUSTED_PROXIES: list,
  OPS_TOKEN: optionalString,
  SHUTDOWN_TIMEOUT_MS: int(10000, 0),
});

export type Env = z.input<typeof envSchema>;

export interface Config {
  readonly env: "production" | "development" | "test";
  readonly port: number;
  readonly bindAddress: string;
  /** Where bindAddress came from: BIND_ADDRESS, or the default (loopback only in development mode). */
  readonly bindAddressFrom: "BIND_ADDRESS" | "development default" | "default";
  readonly log: { readonly level: string; readonly pretty: boolean };
  readonly tls?: { readonly cert: Buffer; readonly key: Buffer };
  readonly auth: {
    readonly secret?: string;
    readonly publicKeyPem?: string;
    readonly jwksUrl?: string;
    readonly algorithms: readonly string[];
    readonly audience?: string;
    readonly issuer?: string;
    readonly userClaim: string;
    /** No key configured: the bearer string is the userId. Refused when env is production. */
    readonly devMode: boolean;
  };
  readonly rooms: { readonly mode: "mcu" | "p2p"; readonly maxMembers: number };
  readonly socket: {
    readonly maxMessageBytes: number;
    readonly heartbeatIntervalMs: number;
    readonly heartbeatTimeoutMs: number;
    readonly reconnectGraceMs: number;
    readonly reconnectQueueMax: number;
    readonly reconnectBufferBytes: number;
    readonly ratePerSecond: number;
    readonly rateBurst: number;
    readonly rateStrikes: number;
    readonly sendBufferMaxBytes: number;
    readonly maxConnectionsPerIp: number;
    readonly allowedOrigins: readonly string[];
    readonly trustedProxies: readonly string[];
  };
  readonly ops: { readonly token?: string; readonly shutdownTimeoutMs: number };
}

/** Reads and validates the environment; throws ConfigError naming the bad variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const e = parseEnv(envSchema, env, "configuration");
  if ((e.CERT_FILE_PATH === undefined) !== (e.KEY_FILE_PATH === undefined)) {
    throw new ConfigError("CERT_FILE_PATH and KEY_FILE_PATH must be set together");
  }
  if (e.HEARTBEAT_TIMEOUT_MS <= e.HEARTBEAT_INTERVAL_MS) {
    throw new ConfigError("HEARTBEAT_TIMEOUT_MS must be larger than HEARTBEAT_INTERVAL_MS");
  }
  const publicKeyPem = e.JWT_PUBLIC_KEY_FILE
    ? readConfigFile("JWT_PUBLIC_KEY_FILE", e.JWT_PUBLIC_KEY_FILE).toString("utf8")
    : undefined;
  const devMode = !e.JWT_SECRET && !publicKeyPem && !e.JWT_JWKS_URL;
  if (devMode && e.NODE_ENV === "production") {
    throw new ConfigError(
      "NODE_ENV=production needs a token key: set JWT_SECRET, JWT_PUBLIC_KEY_FILE or JWT_JWKS_URL",
    );
  }
  const tls =
    e.CERT_FILE_PATH && e.KEY_FILE_PATH
      ? {
          cert: readConfigFile("CERT_FILE_PATH", e.CERT_FILE_PATH),
          key: readConfigFile("KEY_FILE_PATH", e.KEY_FILE_PATH),
        }
      : undefined;
  return Object.freeze({
    env: e.NODE_ENV,
    port: e.PORT_NUMBER,
    // Development mode takes any bearer as the userId and leaves /state and /metrics open:
    // only this machine may reach it unless BIND_ADDRESS says otherwise.
    bindAddress: e.BIND_ADDRESS ?? (devMode ? "127.0.0.1" : "0.0.0.0"),
    bindAddressFrom: e.BIND_ADDRESS ? "BIND_ADDRESS" : devMode ? "development default" : "default",
    log: { level: e.LOG_LEVEL, pretty: e.LOG_PRETTY },
    ...(tls ? { tls } : {}),
    auth: {
      secret: e.JWT_SECRET,
      publicKeyPem,
      jwksUrl: e.JWT_JWKS_URL,
      algorithms: e.JWT_ALGORITHMS,
      audience: e.JWT_AUDIENCE,
      issuer: e.JWT_ISSUER,
      userClaim: e.JWT_USER_CLAIM,
      devMode,
    },
    rooms: { mode: e.ROOM_MODE, maxMembers: e.ROOM_MAX_MEMBERS },
    socket: {
      maxMessageBytes: e.MAX_MESSAGE_BYTES,
      heartbeatIntervalMs: e.HEARTBEAT_INTERVAL_MS,
      heartbeatTimeoutMs: e.HEARTBEAT_TIMEOUT_MS,
      reconnectGraceMs: e.RECONNECT_GRACE_MS,
      reconnectQueueMax: e.RECONNECT_QUEUE_MAX,
      reconnectBufferBytes: e.RECONNECT_BUFFER_BYTES,
      ratePerSecond: e.RATE_LIMIT_PER_SECOND,
      rateBurst: e.RATE_LIMIT_BURST,
      rateStrikes: e.RATE_LIMIT_STRIKES,
      sendBufferMaxBytes: e.SEND_BUFFER_MAX_BYTES,
      maxConnectionsPerIp: e.MAX_CONNECTIONS_PER_IP,
      allowedOrigins: e.ALLOWED_ORIGINS,
      trustedProxies: e.TRUSTED_PROXIES,
    },
    ops: { token: e.OPS_TOKEN, shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS },
  });
}
