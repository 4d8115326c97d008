import { createServer as createHttpServer, type Server } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import type { TokenVerifier } from "./auth/token-verifier.ts";
import { iceServersFor } from "./auth/turn-credentials.ts";
import { ClusterNode } from "./cluster/cluster-node.ts";
import type { ClusterConfig } from "./config/cluster-config.ts";
import type { Config } from "./config/config.ts";
import type { TurnConfig } from "./config/turn-config.ts";
import type { EventSink } from "./events/event-sink.ts";
import { newRoomLiveTicker } from "./events/room-live-ticker.ts";
import { newApiProbeRoute } from "./http/api-probe.ts";
import { newOpsRoutes } from "./http/ops-routes.ts";
import { newProfilingRoutes, type ProfilingConfig } from "./http/profiling.ts";
import { newRequestHandler } from "./http/request-handler.ts";
import { newStaticFiles } from "./http/static-files.ts";
import { modernTlsOptions } from "./http/tls-options.ts";
import type { Logger } from "./lib/logger.ts";
import { newMcuTransport } from "./mcu/mcu-transport.ts";
import type { MediaPort } from "./media/media-port.ts";
import type { Metrics } from "./metrics/metrics.ts";
import { newP2pRelay } from "./rooms/p2p-relay.ts";
import { RoomManager } from "./rooms/room-manager.ts";
import { SignalRouter } from "./rooms/signal-router.ts";
import { newDispatcher } from "./signaling/dispatcher.ts";
import { Hub } from "./signaling/hub.ts";
import { MemberChannels } from "./signaling/member-channels.ts";
import { newWebSocketEdge } from "./signaling/ws-edge.ts";

export interface ServerDeps {
  /** REDIS_URL set: this server is one node of a cluster (src/cluster/); absent: a single node. */
  cluster?: { config: ClusterConfig; publicIpv4: string; mediaWorkers: number };
  config: Config;
  log: Logger;
  metrics: Metrics;
  events: EventSink;
  verifier: TokenVerifier;
  /** The media plane of an MCU server; the server owns it from here on (closes it). */
  media?: MediaPort;
  /** Deadline of one signaling call into the media plane. */
  mediaCallTimeoutMs?: number;
  /** Directory of the built web client served at `/`. */
  webRoot?: string;
  /** Period of room.live events; 0 or absent disables them. */
  roomLiveIntervalMs?: number;
  /** /debug/cpu-profile and /debug/heap-snapshot; off when absent. */
  profiling?: ProfilingConfig;
  /** TURN servers handed to members with time-limited credentials (joinR, reconnectR); none when absent. */
  turn?: TurnConfig;
}

export interface RunningServer {
  readonly port: number;
  readonly url: string;
  readonly rooms: RoomManager;
  readonly hub: Hub;
  /** Stops accepting, tells members (1001), releases media and flushes events, bounded by `signal`. */
  close(signal?: AbortSignal): Promise<void>;
}

const DEFAULT_WEB_ROOT = fileURLToPath(new URL("../web/dist", import.meta.url));

/** The composition of the server: HTTP routes, WebSocket edge, hub, rooms, router, media bridge. */
export async function startServer(deps: ServerDeps): Promise<RunningServer> {
  const { config, log, metrics, events, media } = deps;
  if (config.rooms.mode === "mcu" && !media) throw new Error("ROOM_MODE=mcu needs a media plane");
  const rooms = new RoomManager({
    maxMembers: config.rooms.maxMembers,
    reconnectGraceMs: config.socket.reconnectGraceMs,
    events,
    metrics,
    // The room transport is chosen here, once: rooms/ never asks which mode it is in.
    transport: (directory) =>
      media
        ? newMcuTransport(directory, { media, events, callTimeoutMs: deps.mediaCallTimeoutMs ?? 10_000 })
        : newP2pRelay(),
  });
  const channels = new MemberChannels({
    queueMax: config.socket.reconnectQueueMax,
    bufferBytes: config.socket.reconnectBufferBytes,
    replayMaxAgeMs: config.socket.heartbeatTimeoutMs + config.socket.heartbeatIntervalMs,
  });
  const router = new SignalRouter(rooms);
  const hub = new Hub(config.socket.heartbeatIntervalMs);
  const turn = deps.turn;
  const handlers = newDispatcher({
    rooms,
    channels,
    router,
    verifier: deps.verifier,
    events,
    metrics,
    ...(turn ? { iceServers: (userId: string) => iceServersFor(turn, userId) } : {}),
  });
  // A cluster node puts itself between the WebSocket edge and the dispatcher: rooms homed here
  // run as before, the others are bridged to their home over Redis (src/cluster/).
  const cluster = deps.cluster
    ? new ClusterNode({
        ...deps.cluster,
        log,
        metrics,
        rooms,
        channels,
        connections: hub,
        handlers,
        verifier: deps.verifier,
      })
    : undefined;
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
      ...(cluster ? { cluster: cluster.state() } : {}),
    }),
  };
  const ops = newOpsRoutes(metrics, view, config.ops.token);
  const profiling = newProfilingRoutes(
    deps.profiling ?? { enabled: false, maxSeconds: 0 },
    config.ops.token,
    log,
  );
  const staticFiles = newStaticFiles(deps.webRoot ?? DEFAULT_WEB_ROOT);

  const onRequest = newRequestHandler(
    [
      ops,
      profiling.route,
      newApiProbeRoute(config.socket, {
        draining: () => draining,
        connectionsFrom: (ip) => hub.connectionsFrom(ip),
      }),
      (req, res, path) => (req.method === "GET" ? staticFiles(res, path) : Promise.resolve(false)),
    ],
    log,
  );
  const server: Server = config.tls
    ? createHttpsServer(modernTlsOptions(config.tls), onRequest)
    : createHttpServer(onRequest);
  const edge = newWebSocketEdge({
    config,
    log,
    metrics,
    hub,
    handlers: cluster ? cluster.edgeHandlers() : handlers,
    isDraining: () => draining,
  });
  server.on("upgrade", edge.onUpgrade);
  server.on("clientError", (_err, socket) => socket.destroy());

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(config.port, config.bindAddress, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const scheme = config.tls ? "wss" : "ws";
  const host = config.bindAddress === "0.0.0.0" ? "127.0.0.1" : config.bindAddress;
  await cluster?.start(`${scheme}://${host}:${port}/api`);
  log.info(
    { port, bindAddress: config.bindAddress, mode: config.rooms.mode, tls: Boolean(config.tls) },
    "listening",
  );

  let closing: Promise<void> | undefined;
  const close = (signal?: AbortSignal) => {
    closing ??= (async () => {
      draining = true;
      server.close();
      profiling.close();
      ticker.close();
      for (const conn of hub.all()) conn.close("shutdown");
      // A cluster node hands its rooms to the other nodes (their members there keep the call).
      const handedOver = (await cluster?.handOver()) ?? new Set<string>();
      await rooms.close((roomId) => handedOver.has(roomId));
      await cluster?.close();
      channels.close();
      await events.close(signal);
      hub.close();
      edge.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => (server.listening ? server.close(() => resolve()) : resolve()));
    })();
    return closing;
  };
  return { port, url: `${scheme}://${host}:${port}/api`, rooms, hub, close };
}
