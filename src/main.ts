import { newTokenVerifier } from "./auth/token-verifier.ts";
import { loadConfig } from "./config/config.ts";
import { loadEventsConfig } from "./config/events-config.ts";
import { loadMediaConfig } from "./config/media-config.ts";
import { createEventSink } from "./events/create-event-sink.ts";
import { loadProfilingConfig, type ProfilingConfig } from "./http/profiling.ts";
import { ConfigError } from "./lib/errors.ts";
import { newLogger } from "./lib/logger.ts";
import { createMediaPlane } from "./media/create-media-plane.ts";
import { newMetrics } from "./metrics/metrics.ts";
import { startServer } from "./server.ts";

/** Composition root: config -> logger -> metrics -> event sink -> verifier -> server; SIGTERM drains. */
async function main(): Promise<void> {
  let config: ReturnType<typeof loadConfig>;
  let eventsConfig: ReturnType<typeof loadEventsConfig>;
  let mediaConfig: ReturnType<typeof loadMediaConfig> | undefined;
  let profiling: ProfilingConfig;
  try {
    config = loadConfig();
    eventsConfig = loadEventsConfig();
    profiling = loadProfilingConfig();
    if (config.rooms.mode === "mcu") mediaConfig = loadMediaConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`webrtcsignaling: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const log = newLogger({ level: config.log.level, pretty: config.log.pretty });
  const metrics = newMetrics();
  const events = createEventSink(eventsConfig, { log: log.child({ component: "events" }), metrics });
  const verifier = await newTokenVerifier(config.auth);
  if (verifier.mode === "development") {
    log.warn(
      "DEVELOPMENT MODE: no JWT_SECRET, JWT_PUBLIC_KEY_FILE or JWT_JWKS_URL set; the bearer string is taken as the userId. Never run like this in production.",
    );
  }
  const media = mediaConfig ? createMediaPlane(mediaConfig, { log, metrics }) : undefined;
  const server = await startServer({
    config,
    log,
    metrics,
    events,
    verifier,
    roomLiveIntervalMs: eventsConfig.roomLiveIntervalMs,
    profiling,
    ...(media ? { media } : {}),
  });
  log.info({ url: server.url.replace(/^ws/, "http").replace(/\/api$/, "/") }, "demo page");

  let stopping = false;
  const stop = (sig: string) => {
    if (stopping) {
      log.warn({ signal: sig }, "second signal: exiting now");
      process.exit(1);
    }
    stopping = true;
    log.info({ signal: sig, timeoutMs: config.ops.shutdownTimeoutMs }, "shutting down");
    const deadline = AbortSignal.timeout(config.ops.shutdownTimeoutMs);
    const timer = setTimeout(() => {
      log.error("shutdown deadline passed: exiting");
      process.exit(1);
    }, config.ops.shutdownTimeoutMs + 1000);
    timer.unref();
    server.close(deadline).then(
      () => {
        log.info("stopped");
        log.flush();
        process.exit(0);
      },
      (err: unknown) => {
        log.error({ err }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
}

main().catch((err: unknown) => {
  process.stderr.write(`webrtcsignaling: fatal: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(1);
});
