import { type AppConfig, buildApp, loadAppConfig } from "./app.ts";
import { ConfigError } from "./lib/errors.ts";

/** Reads the configuration, builds the app (src/app.ts), and drains it on SIGTERM/SIGINT. */
async function main(): Promise<void> {
  let appConfig: AppConfig;
  try {
    appConfig = loadAppConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`webrtcsignaling: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const { config } = appConfig;
  const server = await buildApp(appConfig);
  const log = server.log;
  if (config.auth.devMode) {
    log.warn(
      "DEVELOPMENT MODE: no JWT_SECRET, JWT_PUBLIC_KEY_FILE or JWT_JWKS_URL set; the bearer string is taken as the userId. Never run like this in production.",
    );
  }
  if (config.bindAddressFrom === "development default") {
    log.warn(
      { bindAddress: config.bindAddress },
      "development mode: listening on 127.0.0.1 only (other machines cannot connect); set BIND_ADDRESS=0.0.0.0 to change that",
    );
  }
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
