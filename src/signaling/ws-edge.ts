import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { WebSocketServer } from "ws";
import type { Config } from "../config/config.ts";
import { clientIp } from "../http/client-ip.ts";
import { newSocketId } from "../lib/ids.ts";
import type { Logger } from "../lib/logger.ts";
import type { Metrics } from "../metrics/metrics.ts";
import { Connection, type ConnectionHandlers } from "./connection.ts";
import type { Hub } from "./hub.ts";
import { checkUpgrade } from "./upgrade-policy.ts";

export interface WebSocketEdgeOptions {
  config: Config;
  log: Logger;
  metrics: Metrics;
  hub: Hub;
  handlers: ConnectionHandlers;
  isDraining: () => boolean;
}

/** The HTTP upgrade: policy checks with real HTTP statuses, then a Connection registered in the hub. */
export function newWebSocketEdge(o: WebSocketEdgeOptions) {
  const { config, log, metrics, hub, handlers } = o;
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: config.socket.maxMessageBytes,
    perMessageDeflate: false,
  });
  const closed = (c: Connection, reason: Parameters<ConnectionHandlers["closed"]>[1]) => {
    hub.remove(c);
    metrics.wsConnections.set(hub.size);
    handlers.closed(c, reason);
  };

  function onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on("error", () => socket.destroy());
    const path = new URL(req.url ?? "/", "http://x").pathname;
    const ip = clientIp(req, config.socket.trustedProxies);
    const refusal = checkUpgrade(req, path, ip, config.socket, {
      draining: o.isDraining(),
      connectionsFrom: (i) => hub.connectionsFrom(i),
    });
    if (refusal) {
      metrics.wsRejected.inc({ reason: refusal.reason });
      socket.end(
        `HTTP/1.1 ${refusal.status} ${refusal.reason}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`,
      );
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      const socketId = newSocketId();
      const ctx = { socketId, ip, log: log.child({ socketId }) };
      const conn = new Connection({
        ws,
        socket,
        ctx,
        limits: config.socket,
        metrics,
        handlers: { message: handlers.message, closed },
      });
      hub.add(conn);
      metrics.wsConnectionsOpened.inc();
      metrics.wsConnections.set(hub.size);
      ctx.log.debug({ ip }, "connection opened");
    });
  }

  return { onUpgrade, close: () => wss.close() };
}
