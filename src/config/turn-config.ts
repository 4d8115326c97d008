import { z } from "zod";
import { ConfigError } from "../lib/errors.ts";
import { type EnvSource, int, list, optionalString, parseEnv } from "./env-schema.ts";

/**
 * TURN servers handed to clients (see docs/operations.md, "TURN"). The server never talks to the
 * TURN server: it only signs time-limited credentials with the secret it shares with coturn
 * (`use-auth-secret` + `static-auth-secret`).
 */
export interface TurnConfig {
  /** `turn:` / `turns:` URLs, in the order given (clients try all of them). */
  readonly urls: readonly string[];
  /** coturn's `static-auth-secret`. */
  readonly secret: string;
  /** Lifetime of a credential, in seconds from the join or reconnect that handed it out. */
  readonly ttlSeconds: number;
}

const TURN_URL = /^turns?:(\[[0-9a-fA-F:.]+\]|[^\s:?/[\]]+)(:\d{1,5})?(\?transport=(udp|tcp))?$/;

const envSchema = z.object({
  TURN_URLS: list.refine(
    (urls) => urls.every((u) => TURN_URL.test(u)),
    "each URL must look like turn:host:port?transport=udp|tcp or turns:host:port?transport=tcp",
  ),
  TURN_SECRET: optionalString,
  TURN_TTL_SECONDS: int(86_400, 60, 7 * 86_400),
});

/** undefined when TURN_URLS is unset: then clients get no `iceServers` and nothing changes. */
export function loadTurnConfig(env: EnvSource = process.env): TurnConfig | undefined {
  const e = parseEnv(envSchema, env, "TURN configuration");
  if (e.TURN_URLS.length === 0) {
    if (e.TURN_SECRET !== undefined) throw new ConfigError("TURN_SECRET is set but TURN_URLS is not");
    return undefined;
  }
  if (e.TURN_SECRET === undefined) {
    throw new ConfigError("TURN_URLS needs TURN_SECRET (coturn's static-auth-secret)");
  }
  if (e.TURN_SECRET.length < 16) {
    throw new ConfigError("TURN_SECRET must be at least 16 characters");
  }
  return Object.freeze({
    urls: Object.freeze([...e.TURN_URLS]),
    secret: e.TURN_SECRET,
    ttlSeconds: e.TURN_TTL_SECONDS,
  });
}
