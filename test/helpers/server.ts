import { newTokenVerifier } from "../../src/auth/token-verifier.ts";
import { loadConfig } from "../../src/config/config.ts";
import { loadEventsConfig } from "../../src/config/events-config.ts";
import { loadMediaConfig } from "../../src/config/media-config.ts";
import { createEventSink } from "../../src/events/create-event-sink.ts";
import type { EventSink } from "../../src/events/event-sink.ts";
import type { DomainEvent } from "../../src/events/event-types.ts";
import { newLogger, newSilentLogger } from "../../src/lib/logger.ts";
import { createMediaPlane } from "../../src/media/create-media-plane.ts";
import type { MediaPort } from "../../src/media/media-port.ts";
import { newMetrics } from "../../src/metrics/metrics.ts";
import { type RunningServer, startServer } from "../../src/server.ts";

export interface TestServer extends RunningServer {
  /** Events the server published (when no sink was given): an in-memory recording sink. */
  readonly published: DomainEvent[];
  readonly metrics: ReturnType<typeof newMetrics>;
  readonly httpUrl: string;
}

/** A real server on 127.0.0.1 and an ephemeral port, configured like production from env values. */
export async function startTestServer(
  env: Record<string, string> = {},
  extra: { events?: EventSink; media?: MediaPort } = {},
): Promise<TestServer> {
  const config = loadConfig({
    PORT_NUMBER: "0",
    BIND_ADDRESS: "127.0.0.1",
    LOG_LEVEL: "silent",
    NODE_ENV: "test",
    ...env,
  });
  const published: DomainEvent[] = [];
  const eventsConfig = loadEventsConfig({ ROOM_LIVE_INTERVAL_MS: "0", ...env });
  const metrics = newMetrics({ processMetrics: false });
  const log = process.env.TEST_LOG
    ? newLogger({ level: process.env.TEST_LOG, pretty: false })
    : newSilentLogger();
  const recording: EventSink = {
    publish: (e) => {
      published.push(e);
    },
    ready: true,
    close: async () => {},
  };
  // With RABBITMQ_URL the real sink is used, as in production; otherwise events are recorded in memory.
  const events =
    extra.events ?? (eventsConfig.rabbitmq ? createEventSink(eventsConfig, { log, metrics }) : recording);
  // An MCU server gets the real werift media plane, announcing and binding 127.0.0.1 only.
  const mediaConfig =
    !extra.media && config.rooms.mode === "mcu"
      ? loadMediaConfig({ PUBLIC_IPV4: "127.0.0.1", ...env })
      : undefined;
  const media = extra.media ?? (mediaConfig ? createMediaPlane(mediaConfig, { log, metrics }) : undefined);
  const server = await startServer({
    config,
    log,
    metrics,
    events,
    verifier: await newTokenVerifier(config.auth),
    roomLiveIntervalMs: eventsConfig.roomLiveIntervalMs,
    ...(media ? { media } : {}),
  });
  return Object.assign(server, { published, metrics, httpUrl: `http://127.0.0.1:${server.port}` });
}
