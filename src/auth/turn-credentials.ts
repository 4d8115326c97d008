import { createHmac } from "node:crypto";
import type { TurnConfig } from "../config/turn-config.ts";

/** One entry of RTCConfiguration.iceServers, as sent in joinR / reconnectR. */
export interface IceServer {
  readonly urls: readonly string[];
  readonly username: string;
  readonly credential: string;
}

export interface TurnCredential {
  readonly username: string;
  readonly credential: string;
  /** Unix time (seconds) after which coturn refuses the credential. */
  readonly expiresAt: number;
}

/**
 * The TURN REST API credential that coturn checks with `use-auth-secret`: username
 * `<expiry unix seconds>:<userId>`, password base64(HMAC-SHA1(secret, username)).
 * coturn takes the digits before the first ':' as the expiry and refuses the credential once it
 * is in the past (401).
 */
export function turnCredential(
  secret: string,
  userId: string,
  ttlSeconds: number,
  nowMs: number = Date.now(),
): TurnCredential {
  const expiresAt = Math.floor(nowMs / 1000) + ttlSeconds;
  const username = `${expiresAt}:${userId}`;
  const credential = createHmac("sha1", secret).update(username, "utf8").digest("base64");
  return { username, credential, expiresAt };
}

/** What a member gets in joinR / reconnectR: the configured URLs with a credential of its own. */
export function iceServersFor(turn: TurnConfig, userId: string, nowMs: number = Date.now()): IceServer[] {
  const { username, credential } = turnCredential(turn.secret, userId, turn.ttlSeconds, nowMs);
  return [{ urls: [...turn.urls], username, credential }];
}
