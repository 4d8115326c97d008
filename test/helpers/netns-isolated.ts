/**
 * Two network namespaces with nothing but their own loopback: no veth, no route between them and
 * none to the host. Each has its own 127.0.0.1, so the same port can be used on both sides. What
 * crosses is only what `bridgeTcp` forwards (TCP, through Unix sockets: test/helpers/ns-forward.ts).
 * Needs root and iproute2; `isolatedNetnsUnavailable()` says why not. `cleanup()` kills what was
 * started and removes the namespaces (also on process exit).
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { waitFor } from "./wait-for.ts";

const FORWARDER = fileURLToPath(new URL("./ns-forward.ts", import.meta.url));

export interface IsolatedPair {
  readonly server: string;
  readonly client: string;
  /** Starts `argv` inside namespace `ns`; stdout/stderr are collected into `output`. */
  spawn(ns: string, argv: string[], env?: Record<string, string>): ChildProcess & { output: string[] };
  /** Makes client-side 127.0.0.1:<port> reach server-side 127.0.0.1:<port>, for each port (TCP only). */
  bridgeTcp(ports: readonly number[]): Promise<void>;
  cleanup(): void;
}

/** Why isolated namespaces cannot be made here, or undefined when they can. */
export function isolatedNetnsUnavailable(): string | undefined {
  if (process.platform !== "linux") return `not Linux (${process.platform})`;
  if (process.getuid?.() !== 0) return "not root (ip netns needs CAP_SYS_ADMIN)";
  const probe = `wrtcturnprobe${process.pid}`;
  try {
    execFileSync("ip", ["netns", "add", probe], { stdio: ["ignore", "ignore", "pipe"] });
  } catch (err) {
    const why = String((err as { stderr?: Buffer }).stderr ?? err).trim();
    return `cannot create a network namespace (ip netns add): ${why}`;
  }
  try {
    execFileSync("ip", ["netns", "del", probe], { stdio: "ignore" });
  } catch {
    // gone
  }
  return undefined;
}

export function createIsolatedPair(tag: string): IsolatedPair {
  const id = `${tag}${process.pid % 100000}`;
  const server = `wrtc-ts-${id}`;
  const client = `wrtc-tc-${id}`;
  const dir = mkdtempSync(join(tmpdir(), "wrs-nsbridge-"));
  const children = new Set<ChildProcess>();
  let cleaned = false;
  const cleanup = () => {
    if (cleaned) return;
    cleaned = true;
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
    for (const ns of [server, client]) {
      try {
        execFileSync("ip", ["netns", "del", ns], { stdio: "ignore" });
      } catch {
        // already gone
      }
    }
    rmSync(dir, { recursive: true, force: true });
    process.off("exit", cleanup);
  };
  process.on("exit", cleanup);
  try {
    for (const ns of [server, client]) {
      execFileSync("ip", ["netns", "add", ns], { stdio: "ignore" });
      execFileSync("ip", ["netns", "exec", ns, "ip", "link", "set", "lo", "up"], { stdio: "ignore" });
    }
  } catch (err) {
    cleanup();
    throw err;
  }
  const spawnIn = (ns: string, argv: string[], env: Record<string, string> = {}) => {
    const child = spawn("ip", ["netns", "exec", ns, ...argv], {
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    }) as ChildProcess & { output: string[] };
    child.output = [];
    child.stdout?.setEncoding("utf8").on("data", (c: string) => child.output.push(c));
    child.stderr?.setEncoding("utf8").on("data", (c: string) => child.output.push(c));
    children.add(child);
    child.once("exit", () => children.delete(child));
    return child;
  };
  return {
    server,
    client,
    spawn: spawnIn,
    async bridgeTcp(ports) {
      const sock = (port: number) => join(dir, `${port}.sock`);
      const far = spawnIn(server, [
        process.execPath,
        FORWARDER,
        "listen-unix",
        ...ports.map((p) => `${sock(p)}=${p}`),
      ]);
      await waitFor("server-side forwarder ready", () => far.output.join("").includes("ready"), 10_000);
      const near = spawnIn(client, [
        process.execPath,
        FORWARDER,
        "listen-tcp",
        ...ports.map((p) => `${p}=${sock(p)}`),
      ]);
      await waitFor("client-side forwarder ready", () => near.output.join("").includes("ready"), 10_000);
    },
    cleanup,
  };
}
