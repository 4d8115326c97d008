import { type ChildProcess, fork } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { ChildReady, ChildStats } from "./child.ts";

const CHILD = fileURLToPath(new URL("./child.ts", import.meta.url));

export interface MeasuredProcess {
  readonly url: string;
  readonly port: number;
  readonly pid: number;
  /** CPU and memory of the child; `gc` runs two full collections first (for memory figures). */
  stats(gc?: boolean): Promise<ChildStats>;
  close(): Promise<void>;
}

export interface SpawnOptions {
  role: "server" | "forwarder";
  env?: Record<string, string>;
  /** Writes a V8 CPU profile of the child into this directory on exit. */
  cpuProfDir?: string;
}

/** Settings that keep the server's per-socket protections from throttling the load generator. */
export const BENCH_SERVER_ENV: Record<string, string> = {
  NODE_ENV: "test",
  LOG_LEVEL: "silent",
  RATE_LIMIT_PER_SECOND: "1000000",
  RATE_LIMIT_BURST: "1000000",
  MAX_CONNECTIONS_PER_IP: "100000",
  SEND_BUFFER_MAX_BYTES: String(64 * 1024 * 1024),
};

/**
 * The Node flags `npm start` runs the server with (package.json's start script, e.g. the V8 young
 * generation cap), so that every measured process runs as the deployed server does.
 */
export function serverNodeFlags(): string[] {
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
    scripts?: Record<string, string>;
  };
  const tokens = (pkg.scripts?.start ?? "").split(/\s+/);
  const node = tokens.indexOf("node");
  const flags: string[] = [];
  for (const t of tokens.slice(node + 1)) {
    if (!t.startsWith("--")) break;
    flags.push(t);
  }
  return flags;
}

/** Forks bench/lib/child.ts (server or bare forwarder) and waits until it listens. */
export async function spawnMeasured(o: SpawnOptions): Promise<MeasuredProcess> {
  // BENCH_NODE_FLAGS (a bench variant) replaces the start script's flags.
  const flags =
    o.env?.BENCH_NODE_FLAGS !== undefined
      ? o.env.BENCH_NODE_FLAGS.split(" ").filter(Boolean)
      : serverNodeFlags();
  const execArgv = [...flags, "--expose-gc", "--max-old-space-size=4096"];
  if (o.cpuProfDir) execArgv.push("--cpu-prof", `--cpu-prof-dir=${o.cpuProfDir}`);
  const child: ChildProcess = fork(CHILD, [o.role], {
    env: { ...process.env, ...BENCH_SERVER_ENV, ...o.env },
    execArgv,
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const ready = await new Promise<ChildReady>((resolve, reject) => {
    const onExit = (code: number | null) => reject(new Error(`bench child exited early with ${code}`));
    child.once("exit", onExit);
    child.once("error", reject);
    child.once("message", (m: ChildReady) => {
      child.off("exit", onExit);
      resolve(m);
    });
  });
  let nextId = 1;
  const pending = new Map<number, (s: ChildStats) => void>();
  child.on("message", (m: ChildStats) => {
    if (m.type !== "stats") return;
    pending.get(m.id)?.(m);
    pending.delete(m.id);
  });
  const exited = new Promise<void>((r) => {
    if (child.exitCode !== null) r();
    else child.once("exit", () => r());
  });
  return {
    url: ready.url,
    port: ready.port,
    pid: child.pid ?? 0,
    stats: (gc = false) =>
      new Promise<ChildStats>((resolve, reject) => {
        const id = nextId++;
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new Error("bench child did not answer stats"));
        }, 30_000);
        pending.set(id, (s) => {
          clearTimeout(timer);
          resolve(s);
        });
        child.send({ type: "stats", id, gc });
      }),
    close: async () => {
      if (child.exitCode === null && child.connected) child.send({ type: "close" });
      const killer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(killer);
    },
  };
}

/** CPU microseconds the child used between two stats snapshots. */
export function cpuDeltaUs(a: ChildStats, b: ChildStats): number {
  return b.cpuUserUs + b.cpuSystemUs - (a.cpuUserUs + a.cpuSystemUs);
}
