import type { IncomingMessage, ServerResponse } from "node:http";
import { Session } from "node:inspector/promises";
import { z } from "zod";
import { parseEnv } from "../config/env-schema.ts";
import { ConfigError } from "../lib/errors.ts";
import type { Logger } from "../lib/logger.ts";
import { authorised, json } from "./ops-routes.ts";

/** Settings of the profiling endpoints (see docs/operations.md, "Profiling"). */
export interface ProfilingConfig {
  /** Off by default: the endpoints answer 404 unless PROFILING_ENABLED=true. */
  readonly enabled: boolean;
  /** Longest CPU profile one request may ask for. */
  readonly maxSeconds: number;
}

const envSchema = z.object({
  PROFILING_ENABLED: z.enum(["true", "false", ""]).default("false"),
  PROFILING_MAX_SECONDS: z.coerce.number().int().min(1).max(600).default(60),
  OPS_TOKEN: z.string().optional(),
});

/** Reads PROFILING_ENABLED and PROFILING_MAX_SECONDS; profiling needs OPS_TOKEN. */
export function loadProfilingConfig(env: Record<string, string | undefined> = process.env): ProfilingConfig {
  const e = parseEnv(envSchema, env, "profiling configuration");
  const enabled = e.PROFILING_ENABLED === "true";
  if (enabled && (e.OPS_TOKEN ?? "").trim() === "") {
    throw new ConfigError("PROFILING_ENABLED=true needs OPS_TOKEN (a heap snapshot holds every secret)");
  }
  return Object.freeze({ enabled, maxSeconds: e.PROFILING_MAX_SECONDS });
}

export interface ProfilingRoutes {
  /** Handles /debug/cpu-profile and /debug/heap-snapshot; false for any other path. */
  route(req: IncomingMessage, res: ServerResponse, path: string): Promise<boolean>;
  /** Stops a running CPU profile (server shutdown). */
  close(): void;
}

const DEFAULT_SECONDS = 10;

/**
 * On-demand profiles of the running process through node:inspector, behind OPS_TOKEN:
 * `POST /debug/cpu-profile?seconds=N` answers a `.cpuprofile` (Chrome DevTools / speedscope),
 * `GET /debug/heap-snapshot` streams a `.heapsnapshot`. One profile at a time (409 otherwise).
 */
export function newProfilingRoutes(
  config: ProfilingConfig,
  token: string | undefined,
  log: Logger,
): ProfilingRoutes {
  const stopping = new AbortController();
  let busy = false;

  const exclusive = async (res: ServerResponse, what: string, work: () => Promise<void>): Promise<void> => {
    if (busy) {
      json(res, 409, { error: "a profile is already being taken" });
      return;
    }
    busy = true;
    const started = performance.now();
    log.warn({ what }, "profiling started");
    try {
      await work();
      log.warn({ what, ms: Math.round(performance.now() - started) }, "profiling done");
    } finally {
      busy = false;
    }
  };

  const cpuProfile = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const raw = new URL(req.url ?? "/", "http://x").searchParams.get("seconds");
    const seconds = raw === null ? Math.min(DEFAULT_SECONDS, config.maxSeconds) : Number(raw);
    if (!Number.isFinite(seconds) || seconds <= 0 || seconds > config.maxSeconds) {
      json(res, 400, { error: `seconds must be a number in (0, ${config.maxSeconds}]` });
      return;
    }
    await exclusive(res, "cpu-profile", async () => {
      const profile = await withSession(async (session) => {
        await session.post("Profiler.enable");
        await session.post("Profiler.start");
        await sleep(seconds * 1000, AbortSignal.any([stopping.signal, closedSignal(res)]));
        const { profile } = await session.post("Profiler.stop");
        return profile;
      });
      if (res.destroyed) return;
      res
        .writeHead(200, {
          "content-type": "application/json",
          "content-disposition": `attachment; filename="${fileName("cpu", "cpuprofile")}"`,
          "cache-control": "no-store",
        })
        .end(JSON.stringify(profile));
    });
  };

  const heapSnapshot = async (res: ServerResponse): Promise<void> => {
    await exclusive(res, "heap-snapshot", async () => {
      res.writeHead(200, {
        "content-type": "application/json",
        "content-disposition": `attachment; filename="${fileName("heap", "heapsnapshot")}"`,
        "cache-control": "no-store",
      });
      await withSession(async (session) => {
        // Chunks arrive synchronously while V8 walks the heap: the event loop is paused meanwhile.
        session.on("HeapProfiler.addHeapSnapshotChunk", (m) => {
          if (!res.destroyed) res.write(m.params.chunk);
        });
        await session.post("HeapProfiler.takeHeapSnapshot", { reportProgress: false });
      });
      res.end();
    });
  };

  return {
    async route(req, res, path) {
      if (path !== "/debug/cpu-profile" && path !== "/debug/heap-snapshot") return false;
      if (!config.enabled) {
        json(res, 404, { error: "not found" });
        return true;
      }
      if (!authorised(req, token)) {
        json(res, 401, { error: "ops token required" });
        return true;
      }
      const method = path === "/debug/cpu-profile" ? "POST" : "GET";
      if (req.method !== method) {
        res.setHeader("allow", method);
        json(res, 405, { error: `use ${method}` });
        return true;
      }
      if (path === "/debug/cpu-profile") await cpuProfile(req, res);
      else await heapSnapshot(res);
      return true;
    },
    close() {
      stopping.abort();
    },
  };
}

async function withSession<T>(work: (session: Session) => Promise<T>): Promise<T> {
  const session = new Session();
  session.connect();
  try {
    return await work(session);
  } finally {
    session.disconnect();
  }
}

/** Resolves after `ms`, or earlier when `signal` aborts (the profile then covers less time). */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}

/** Aborts when the client goes away before the answer. */
function closedSignal(res: ServerResponse): AbortSignal {
  const controller = new AbortController();
  res.once("close", () => controller.abort());
  return controller.signal;
}

function fileName(kind: string, ext: string): string {
  return `${kind}-${process.pid}-${new Date().toISOString().replace(/[:.]/g, "-")}.${ext}`;
}
