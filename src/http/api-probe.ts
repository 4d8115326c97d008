import type { Config } from "../config/config.ts";
import { checkUpgrade } from "../signaling/upgrade-policy.ts";
import { clientIp } from "./client-ip.ts";
import { json } from "./ops-routes.ts";
import type { Route } from "./request-handler.ts";

/**
 * A plain HTTP request to `/api` (no WebSocket upgrade) gets the answer the upgrade would get:
 * 403 `origin`, 429 `per-ip-limit`, 503 `shutting-down`, or 426 when the upgrade would be accepted.
 * A browser cannot read why a WebSocket handshake failed; the web client asks here to tell the
 * person "origin not allowed" or "too many connections" instead of "server unreachable".
 */
export function newApiProbeRoute(
  socket: Config["socket"],
  state: { draining(): boolean; connectionsFrom(ip: string): number },
): Route {
  return async (req, res, path) => {
    if (path !== "/api") return false;
    const ip = clientIp(req, socket.trustedProxies);
    const refusal = checkUpgrade(req, path, ip, socket, {
      draining: state.draining(),
      connectionsFrom: state.connectionsFrom,
    });
    if (refusal) json(res, refusal.status, { error: refusal.reason });
    else json(res, 426, { error: "upgrade-required" });
    return true;
  };
}
