import { buildApp, loadAppConfig } from "../../src/app.ts";
import type { EventSink } from "../../src/events/event-sink.ts";
import type { DomainEvent } from "../../src/events/event-types.ts";
import { newLogger, newSilentLogger } from "../../src/lib/logger.ts";
import type { MediaPort } from "../../src/media/media-port.ts";
import { newMetrics } from "../../src/metrics/metrics.ts";
import type { RunningServer } from "../../src/server.ts";

export interface TestServer extends RunningServer {
  /** Events the server published (when no sink was given): an in-memory recording sink. */
  readonly published: DomainEvent[];
  readonly metrics: ReturnType<typeof newMetrics>;
  readonly httpUrl: string;
}

/** A real server on 127.0.0.1 and an ephemeral port, configured like production from env values (buildApp). */
export async function startTestServer(
  env: Record<string, string> = {},
  extra: { events?: EventSink; media?: MediaPort } = {},
): Promise<TestServer> {
  const app = loadAppConfig({
    PORT_NUMBER: "0",
    BIND_ADDRESS: "127.0.0.1",
    LOG_LEVEL: "silent",
    NODE_ENV: "test",
    ROOM_LIVE_INTERVAL_MS: "0",
    // An MCU server binds and announces 127.0.0.1 only.
    PUBLIC_IPV4: "127.0.0.1",
    ...env,
  });
  const published: DomainEvent[] = [];
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
  const events = extra.events ?? (app.events.rabbitmq ? undefined : recording);
  const server = await buildApp(app, {
    log,
    metrics,
    ...(events ? { events } : {}),
    ...(extra.media ? { media: extra.media } : {}),
  });
  return Object.assign(server, { published, httpUrl: `http://127.0.0.1:${server.port}` });
}
