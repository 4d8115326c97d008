import { newTokenVerifier, type TokenVerifier } from "./auth/token-verifier.ts";
import { type ClusterConfig, loadClusterConfig } from "./config/cluster-config.ts";
import { type Config, loadConfig } from "./config/config.ts";
import { type EventsConfig, loadEventsConfig } from "./config/events-config.ts";
import { loadMediaConfig, type MediaConfig } from "./config/media-config.ts";
import { loadTurnConfig, type TurnConfig } from "./config/turn-config.ts";
import { createEventSink } from "./events/create-event-sink.ts";
import type { EventSink } from "./events/event-sink.ts";
import { loadProfilingConfig, type ProfilingConfig } from "./http/profiling.ts";
import { type Logger, newLogger } from "./lib/logger.ts";
import { createMediaPlane } from "./media/create-media-plane.ts";
import type { MediaPort } from "./media/media-port.ts";
import { type Metrics, newMetrics } from "./metrics/metrics.ts";
import { type RunningServer, startServer } from "./server.ts";

/** Every area of the configuration, validated. */
export interface AppConfig {
  config: Config;
  events: EventsConfig;
  profiling: ProfilingConfig;
  /** TURN servers handed to members; undefined without TURN_URLS. */
  turn: TurnConfig | undefined;
  /** The media plane's settings; undefined unless ROOM_MODE=mcu. */
  media: MediaConfig | undefined;
  /** One node of a cluster on Redis; undefined without REDIS_URL (a single node, no Redis). */
  cluster: ClusterConfig | undefined;
}

/** Reads every area from `env`; throws ConfigError naming the first bad variable. */
export function loadAppConfig(env: Record<string, string | undefined> = process.env): AppConfig {
  const config = loadConfig(env);
  return {
    config,
    events: loadEventsConfig(env),
    profiling: loadProfilingConfig(env),
    turn: loadTurnConfig(env),
    media: config.rooms.mode === "mcu" ? loadMediaConfig(env) : undefined,
    cluster: loadClusterConfig(env),
  };
}

/** Parts a caller brings instead of the ones built from the configuration (tests, the bench). */
export interface AppOverrides {
  log?: Logger;
  metrics?: Metrics;
  events?: EventSink;
  verifier?: TokenVerifier;
  media?: MediaPort;
  /** Directory of the built web client served at `/`. */
  webRoot?: string;
  /** werift's SRTP as shipped, without the key cache (the bench's `--stock-srtp`). */
  stockSrtp?: boolean;
}

export interface App extends RunningServer {
  readonly log: Logger;
  readonly metrics: Metrics;
  readonly events: EventSink;
  /** The MCU's media plane (in-thread, or MEDIA_WORKERS worker threads); undefined in P2P mode. */
  readonly media: MediaPort | undefined;
}

/**
 * The one composition root, used by main.ts, the tests and the bench: logger -> metrics -> event
 * sink -> verifier -> media plane -> server. The server owns what it is given from here on:
 * `close()` drains members, closes the media plane and flushes the event sink.
 */
export async function buildApp(app: AppConfig, o: AppOverrides = {}): Promise<App> {
  const { config } = app;
  const log = o.log ?? newLogger({ level: config.log.level, pretty: config.log.pretty });
  const metrics = o.metrics ?? newMetrics();
  // Each sink names its own component (events, rabbitmq): one "component" key per line.
  const events = o.events ?? createEventSink(app.events, { log, metrics });
  const verifier = o.verifier ?? (await newTokenVerifier(config.auth));
  const media =
    o.media ??
    (app.media
      ? createMediaPlane(app.media, { log, metrics, srtpKeyCache: o.stockSrtp !== true })
      : undefined);
  const server = await startServer({
    config,
    log,
    metrics,
    events,
    verifier,
    roomLiveIntervalMs: app.events.roomLiveIntervalMs,
    profiling: app.profiling,
    ...(media ? { media, mediaCallTimeoutMs: app.media?.callTimeoutMs ?? 10_000 } : {}),
    ...(app.turn ? { turn: app.turn } : {}),
    ...(app.cluster
      ? {
          cluster: {
            config: app.cluster,
            publicIpv4: app.media?.publicIpv4 ?? "",
            mediaWorkers: app.media?.workers ?? 0,
          },
        }
      : {}),
    ...(o.webRoot ? { webRoot: o.webRoot } : {}),
  });
  return Object.assign(server, { log, metrics, events, media });
}
