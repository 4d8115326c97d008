import { Worker } from "node:worker_threads";
import type { MediaConfig } from "../../config/media-config.ts";
import type { Logger } from "../../lib/logger.ts";
import { MediaError } from "../media-error.ts";
import type { MediaEvent } from "../media-port.ts";
import { WorkerMetricsState } from "./metrics-bridge.ts";
import type { FromWorker, ToWorker, WorkerInit, WorkerRequest } from "./protocol.ts";
import { type RequestOptions, RpcChannel } from "./rpc-channel.ts";

/** `.ts` when running from src/ (type stripping), `.js` from the tsc build in dist/. */
const workerUrl = new URL(`./media-worker.${import.meta.url.endsWith(".ts") ? "ts" : "js"}`, import.meta.url);

/** A worker that dies within this time of its start is restarted after RESTART_DELAY_MS, not at once. */
const QUICK_CRASH_MS = 2000;
const RESTART_DELAY_MS = 1000;
const CLOSE_TIMEOUT_MS = 5000;

export interface SupervisorOptions {
  index: number;
  config: MediaConfig;
  /** The parent's logger: worker records are re-logged through it. */
  log: Logger;
  onEvent(event: MediaEvent): void;
  /** A crashed worker was replaced by a fresh one (empty: its rooms must be added again). */
  onRestarted(index: number): void;
  /** Counted once per unplanned exit. */
  onCrash(): void;
}

/**
 * One media worker thread and its lifetime: start, the RPC channel to it, log relaying, and a
 * restart after a crash (delayed when it crashes right after starting, so a broken worker cannot
 * spin). Calls in flight when it dies fail with MediaError "unavailable".
 */
/**
 * V8 young generation of a media worker, as the main thread's (`--max-semi-space-size=2`): per-packet
 * garbage otherwise grows it to 48 MiB per thread, most of the server's RSS (docs/operations.md).
 */
export const WORKER_YOUNG_GENERATION_MB = 6;

export class WorkerSupervisor {
  readonly index: number;
  readonly #o: SupervisorOptions;
  readonly #log: Logger;
  #worker: Worker | undefined;
  #channel: RpcChannel | undefined;
  #metrics = new WorkerMetricsState();
  #startedAt = 0;
  #restartTimer: NodeJS.Timeout | undefined;
  #exited: Promise<void> = Promise.resolve();
  #closed = false;

  constructor(o: SupervisorOptions) {
    this.index = o.index;
    this.#o = o;
    this.#log = o.log.child({ component: "media-workers", mediaWorker: o.index });
    this.#start();
  }

  /** What the parent has counted of the current incarnation (reset on restart). */
  get metrics(): WorkerMetricsState {
    return this.#metrics;
  }

  get worker(): Worker | undefined {
    return this.#worker;
  }

  post(message: ToWorker): void {
    this.#worker?.postMessage(message);
  }

  request<T>(body: WorkerRequest, options?: RequestOptions): Promise<T> {
    const channel = this.#channel;
    if (!channel) return Promise.reject(new MediaError("unavailable", "media worker is restarting"));
    return channel.request<T>(body, options);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#restartTimer) clearTimeout(this.#restartTimer);
    this.#restartTimer = undefined;
    const worker = this.#worker;
    if (!worker) return;
    await this.request({ t: "close" }, { timeoutMs: CLOSE_TIMEOUT_MS }).catch((err: unknown) =>
      this.#log.warn({ err }, "media worker did not close cleanly"),
    );
    await worker.terminate();
    await this.#exited;
    this.#worker = undefined;
    this.#channel?.failAll("media plane is closed");
    this.#channel = undefined;
  }

  #start(): void {
    const init: WorkerInit = { config: this.#o.config, logLevel: this.#o.log.level, index: this.index };
    const worker = new Worker(workerUrl, {
      workerData: init,
      name: `media-${this.index}`,
      // The main thread's --max-semi-space-size=2 (package.json start scripts): 3 x 2 MiB.
      resourceLimits: { maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB },
    });
    const wlog = this.#log.child({ threadId: worker.threadId });
    const channel = new RpcChannel((m) => worker.postMessage(m));
    this.#worker = worker;
    this.#channel = channel;
    this.#startedAt = Date.now();
    this.#metrics = new WorkerMetricsState();
    let resolveExit: () => void = () => {};
    this.#exited = new Promise((r) => {
      resolveExit = r;
    });
    worker.on("message", (m: FromWorker) => {
      if (m.t === "event") this.#o.onEvent(m.event);
      else if (m.t === "result") channel.settle(m.id, m);
      else if (m.t === "log") relayLog(this.#o.log, this.index, m.line);
    });
    worker.on("error", (err) => wlog.error({ err }, "media worker crashed"));
    worker.on("exit", (code) => {
      resolveExit();
      if (this.#worker !== worker) return;
      this.#worker = undefined;
      this.#channel = undefined;
      channel.failAll("media worker stopped");
      if (this.#closed) return;
      this.#o.onCrash();
      const quick = Date.now() - this.#startedAt < QUICK_CRASH_MS;
      wlog.error(
        { exitCode: code, restartInMs: quick ? RESTART_DELAY_MS : 0 },
        "media worker exited: restarting",
      );
      const restart = () => {
        this.#restartTimer = undefined;
        if (this.#closed) return;
        this.#start();
        this.#o.onRestarted(this.index);
      };
      if (quick) this.#restartTimer = setTimeout(restart, RESTART_DELAY_MS);
      else restart();
    });
  }
}

/** Re-logs one of the worker's pino JSON lines through the parent's logger (same destination and level). */
function relayLog(log: Logger, index: number, line: string): void {
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(line) as Record<string, unknown>;
  } catch {
    log.warn({ mediaWorker: index, line: line.slice(0, 500) }, "unparseable media worker log line");
    return;
  }
  const { level, time: _time, msg, ...fields } = record;
  const label = typeof level === "number" ? log.levels.labels[level] : undefined;
  const write =
    label && label in log ? (log[label as "info"] as Logger["info"]).bind(log) : log.info.bind(log);
  write({ ...fields, mediaWorker: index }, typeof msg === "string" ? msg : "");
}
