import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { waitFor } from "./wait-for.ts";

export const REPO_ROOT = fileURLToPath(new URL("../..", import.meta.url));

export interface ChildExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** performance.now() when the process ended. */
  readonly at: number;
}

export interface ChildServer {
  readonly child: ChildProcess;
  readonly port: number;
  readonly httpUrl: string;
  readonly wsUrl: string;
  /** Every JSON log line written so far (stdout), in order. */
  readonly logs: Array<Record<string, unknown>>;
  /** The same lines as written (JSON.parse hides a key written twice). */
  readonly rawLogs: string[];
  /** stdout lines that were not JSON, and stderr. */
  readonly otherOutput: string[];
  readonly exited: Promise<ChildExit>;
  signal(sig: NodeJS.Signals): void;
  /** SIGKILL if still running (for `after` hooks). */
  kill(): Promise<void>;
}

/**
 * Starts the real server as a child process (`node [nodeArgs] <entry>`), with a clean environment (only PATH,
 * HOME and `env`), on an ephemeral port read back from its "listening" log line.
 */
export async function spawnServer(
  env: Record<string, string>,
  options: { entry?: string; cwd?: string; nodeArgs?: readonly string[]; startTimeoutMs?: number } = {},
): Promise<ChildServer> {
  const args = [...(options.nodeArgs ?? []), options.entry ?? "src/main.ts"];
  const child = spawn(process.execPath, args, {
    cwd: options.cwd ?? REPO_ROOT,
    env: {
      PATH: process.env.PATH ?? "",
      HOME: process.env.HOME ?? "/tmp",
      NODE_ENV: "test",
      PORT_NUMBER: "0",
      BIND_ADDRESS: "127.0.0.1",
      LOG_PRETTY: "false",
      LOG_LEVEL: "info",
      ROOM_LIVE_INTERVAL_MS: "0",
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const logs: Array<Record<string, unknown>> = [];
  const rawLogs: string[] = [];
  const otherOutput: string[] = [];
  const exited = new Promise<ChildExit>((resolve) => {
    child.once("exit", (code, signal) => resolve({ code, signal, at: performance.now() }));
  });
  let exit: ChildExit | undefined;
  void exited.then((e) => {
    exit = e;
  });
  collectLines(child.stdout, (line) => {
    try {
      logs.push(JSON.parse(line) as Record<string, unknown>);
      rawLogs.push(line);
    } catch {
      otherOutput.push(line);
    }
  });
  collectLines(child.stderr, (line) => otherOutput.push(line));

  const listening = await waitFor(
    "the child server's listening log line",
    () => {
      if (exit) throw new Error(`server exited early (${exit.code}): ${otherOutput.join("\n")}`);
      return logs.find((l) => l.msg === "listening");
    },
    options.startTimeoutMs ?? 15_000,
  );
  const port = Number(listening.port);
  return {
    child,
    port,
    httpUrl: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}/api`,
    logs,
    rawLogs,
    otherOutput,
    exited,
    signal(sig) {
      child.kill(sig);
    },
    async kill() {
      if (exit) return;
      child.kill("SIGKILL");
      await exited;
    },
  };
}

function collectLines(stream: NodeJS.ReadableStream | null, onLine: (line: string) => void): void {
  if (!stream) return;
  let pending = "";
  stream.setEncoding("utf8");
  stream.on("data", (chunk: string) => {
    pending += chunk;
    const lines = pending.split("\n");
    pending = lines.pop() ?? "";
    for (const line of lines) if (line.trim() !== "") onLine(line);
  });
  stream.on("end", () => {
    if (pending.trim() !== "") onLine(pending);
  });
}
