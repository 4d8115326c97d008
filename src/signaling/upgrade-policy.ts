import type { IncomingMessage } from "node:http";
import type { Config } from "../config/config.ts";

export type UpgradeRefusal = {
  status: number;
  reason: "not-found" | "origin" | "per-ip-limit" | "shutting-down";
};

/** Checks made before the WebSocket handshake, answered with real HTTP statuses. */
export function checkUpgrade(
  req: IncomingMessage,
  path: string,
  ip: string,
  limits: Config["socket"],
  state: { draining: boolean; connectionsFrom(ip: string): number },
): UpgradeRefusal | undefined {
  if (path !== "/api") return { status: 404, reason: "not-found" };
  if (state.draining) return { status: 503, reason: "shutting-down" };
  const origin = req.headers.origin;
  if (limits.allowedOrigins.length > 0 && (!origin || !limits.allowedOrigins.includes(origin))) {
    return { status: 403, reason: "origin" };
  }
  if (state.connectionsFrom(ip) >= limits.maxConnectionsPerIp) return { status: 429, reason: "per-ip-limit" };
  return undefined;
}
