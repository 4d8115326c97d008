import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import { fileURLToPath } from "node:url";
import { WebSocketServer } from "ws";
import type { TokenVerifier } from "./auth/token-verifier.ts";
import type { Config } from "./config/config.ts";
import type { EventSink } from "./events/event-sink.ts";
import { newRoomLiveTicker } from "./events/room-live-ticker.ts";
import { clientIp } from "./http/client-ip.ts";
import { json, newOpsRoutes } from "./http/ops-routes.ts";
import { newProfilingRoutes, type ProfilingConfig } from "./http/profiling.ts";
import { newStaticFiles } from "./http/static-files.ts";
import { newSocketId } from "./lib/ids.ts";
import type { Logger } from "./lib/logger.ts";
import type { MediaPort } from "./media/media-port.ts";
import type { Metrics } from "./metrics/metrics.ts";
import { bridgeMediaEvents } from "./rooms/media-bridge.ts";
import { RoomManager } from "./rooms/room-manager.ts";
import { SignalRouter } from "./rooms/signal-router.ts";
import { Connection } from "./signaling/connection.ts";
import { newDispatcher } from "./signaling/dispatcher.ts";
import { Hub } from "./signaling/hub.ts";
import { checkUpgrade } from "./signaling/upgrade-policy.ts";

export interface ServerDeps {
  config: Config;
  log: Logger;
  metrics: Metrics;
  events: EventSink;
  verifier: TokenVerifier;
  media?: MediaPort;
  /** Directory of the built web client served at `/`. */
  webRoot?: string;
  /** Period of room.live events; 0 or absent disables them. */
  roomLiveIntervalMs?: number;
  /** /debug/cpu-profile and /debug/heap-snapshot; off when absent. */
  profiling?: ProfilingConfig;
}

export interface RunningServer {
  readonly port: number;
  readonly url: string;
  readonly rooms: RoomManager;
  readonly hub: Hub;
  /** Stops accepting, tells members (1001), releases media and flushes events, bounded by `signal`. */
  close(signal?: AbortSignal): Promise<void>;
}

/**
 * TLS 1.3 suites, then Mozilla's "intermediate" TLS 1.2 list: forward-secret AEAD suites only
 * (Node's default also accepts RSA key exchange and CBC suites). test/integration/security-tls.
 */
const MODERN_CIPHERS = [
  "TLS_AES_128_GCM_SHA256",
  "TLS_AES_256_GCM_SHA384",
  "TLS_CHACHA20_POLY1305_SHA256",
  "ECDHE-ECDSA-AES128-GCM-SHA256",
  "ECDHE-RSA-AES128-GCM-SHA256",
  "ECDHE-ECDSA-AES256-GCM-SHA384",
  "ECDHE-RSA-AES256-GCM-SHA384",
  "ECDHE-ECDSA-CHACHA20-POLY1305",
  "ECDHE-RSA-CHACHA20-POLY1305",
].join(":");

const DEFAULT_WEB_ROOT = fileURLToPath(new URL("../web/dist", import.meta.url));

/** The composition of the server: HTTP routes, WebSocket edge, hub, rooms, router, media bridge. */
export async function startServer(deps: ServerDeps): Promise<RunningServer> {
  const { config, log, metrics, events, media } = deps;
  if (config.rooms.mode === "mcu" && !media) throw new Error("ROOM_MODE=mcu needs a media plane");
  const rooms = new RoomManager({
    mode: config.rooms.mode,
    maxMembers: config.rooms.maxMembers,
    reconnectGraceMs: config.socket.reconnectGraceMs,
    reconnectQueueMax: config.socket.reconnectQueueMax,
    events,
    metrics,
    ...(media ? { media } : {}),
  });
  const router = new SignalRouter(rooms);
  const hub = new Hub(config.socket.heartbeatIntervalMs);
  const handlers = newDispatcher({ rooms, router, verifier: deps.verifier, events, metrics });
  const unbridge = media ? bridgeMediaEvents(media, rooms, events, metrics) : () => {};
  const ticker = newRoomLiveTicker({
    intervalMs: deps.roomLiveIntervalMs ?? 0,
    sink: events,
    rooms: () => rooms.snapshot(),
    onError: (err) => log.error({ err }, "room.live snapshot failed"),
  });
  let draining = false;
  const view = {
    ready: () => !draining && events.ready,
    state: () => ({
      connections: hub.size,
      ...rooms.stats(),
      mode: config.rooms.mode,
      rooms: rooms.snapshot(),
    }),
  };
  const ops = newOpsRoutes(metrics, view, config.ops.token);
  const profiling = newProfilingRoutes(
    deps.profiling ?? { enabled: false, maxSeconds: 0 },
    config.ops.token,
    log,
  );
  const staticFiles = newStaticFiles(deps.webRoot ?? DEFAULT_WEB_ROOT);

  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? "/", "http://x").pathname;
    (async () => {
      if (await ops(req, res, path)) return;
      if (await profiling.route(req, res, path)) return;
      if (req.method === "GET" && (await staticFiles(res, path))) return;
      json(res, 404, { error: "not found" });
    })().catch((err: unknown) => {
      log.error({ err, path }, "http handler failed");
      if (!res.headersSent) json(res, 500, { error: "internal" });
    });
  };
  const server: Server = config.tls
    ? createHttpsServer(
        { cert: config.tls.cert, key: config.tls.key, minVersion: "TLSv1.2", ciphers: MODERN_CIPHERS },
        onRequest,
      )
    : createHttpServer(onRequest);
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: config.socket.maxMessageBytes,
    perMessageDeflate: false,
  });

  server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on("error", () => socket.destroy());
    const path = new URL(req.url ?? "/", "http://x").pathname;
    const ip = clientIp(req, config.socket.trustedProxies);
    const refusal = checkUpgrade(req, path, ip, config.socket, {
      draining,
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
        ctx,
        limits: config.socket,
        metrics,
        handlers: {
          message: handlers.message,
          closed: (c, reason) => {
            hub.remove(c);
            metrics.wsConnections.set(hub.size);
            handlers.closed(c, reason);
          },
        },
      });
      hub.add(conn);
      metrics.wsConnectionsOpened.inc();
      metrics.wsConnections.set(hub.size);
      ctx.log.debug({ ip }, "connection opened");
    });
  });
  server.on("clientError", (_err, socket) => socket.destroy());

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(config.port, config.bindAddress, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const scheme = config.tls ? "wss" : "ws";
  const host = config.bindAddress === "0.0.0.0" ? "127.0.0.1" : config.bindAddress;
  log.info({ port, mode: config.rooms.mode, tls: Boolean(config.tls) }, "listening");

  let closing: Promise<void> | undefined;
  const close = (signal?: AbortSignal) => {
    closing ??= (async () => {
      draining = true;
      server.close();
      profiling.close();
      ticker.close();
      for (const conn of hub.all()) conn.close("shutdown");
      rooms.close();
      unbridge();
      await media?.close();
      await events.close(signal);
      hub.close();
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => (server.listening ? server.close(() => resolve()) : resolve()));
    })();
    return closing;
  };
  return { port, url: `${scheme}://${host}:${port}/api`, rooms, hub, close };
}
