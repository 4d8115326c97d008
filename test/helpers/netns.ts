/**
 * Two network namespaces joined by a veth pair (10.x addresses that exist only inside them), and
 * tc netem impairments on either end. Needs root and iproute2; `netnsUnavailable()` says why not.
 * Everything created is removed by `cleanup()` (idempotent), also on process exit.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";

export interface NetEnd {
  readonly ns: string;
  readonly dev: string;
  readonly ip: string;
}

export interface NetPair {
  readonly server: NetEnd;
  readonly client: NetEnd;
  /** Applies netem on `end`'s egress for every packet: e.g. ["delay", "2000ms"], ["loss", "15%"]. */
  impair(end: NetEnd, netem: string[]): void;
  /** Applies netem only to one IP protocol ("udp" = the media path, "tcp" = the WebSocket) on `end`'s egress. */
  impairProtocol(end: NetEnd, protocol: "udp" | "tcp", netem: string[]): void;
  clear(end: NetEnd): void;
  /** Spawns `argv` inside `end`'s namespace. */
  spawn(end: NetEnd, argv: string[], env: Record<string, string>): ChildProcess;
  cleanup(): void;
}

function run(argv: string[]): string {
  const [cmd, ...args] = argv;
  return execFileSync(cmd ?? "true", args, { stdio: ["ignore", "pipe", "pipe"] }).toString();
}

/** Why namespaces cannot be used here, or undefined when they can. */
export function netnsUnavailable(): string | undefined {
  if (process.platform !== "linux") return `not Linux (${process.platform})`;
  if (process.getuid?.() !== 0) return "not root (ip netns needs CAP_SYS_ADMIN)";
  for (const tool of ["ip", "tc"]) {
    try {
      run(["sh", "-c", `command -v ${tool}`]);
    } catch {
      return `${tool} (iproute2) not installed`;
    }
  }
  const probe = `wrtcprobe${process.pid}`;
  const why = (err: unknown) => String((err as { stderr?: Buffer }).stderr ?? err).trim();
  try {
    try {
      run(["ip", "netns", "add", probe]);
    } catch (err) {
      return `cannot create a network namespace: ${why(err)}`;
    }
    try {
      run(["ip", "netns", "exec", probe, "tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms"]);
    } catch (err) {
      return `namespaces work but this kernel has no tc netem (sch_netem): ${why(err)}`;
    }
  } finally {
    try {
      run(["ip", "netns", "del", probe]);
    } catch {
      // never created
    }
  }
  return undefined;
}

/** Creates the pair; `subnet` is the third octet of 10.213.<subnet>.0/30. */
export function createNetPair(tag: string, subnet: number): NetPair {
  const id = `${tag}${process.pid % 100000}`;
  const server: NetEnd = { ns: `wrtc-s-${id}`, dev: `vs${id}`.slice(0, 15), ip: `10.213.${subnet}.1` };
  const client: NetEnd = { ns: `wrtc-c-${id}`, dev: `vc${id}`.slice(0, 15), ip: `10.213.${subnet}.2` };
  const children = new Set<ChildProcess>();
  let cleaned = false;
  const cleanup = () => {
    if (cleaned) return;
    cleaned = true;
    for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
    for (const ns of [server.ns, client.ns]) {
      try {
        run(["ip", "netns", "del", ns]);
      } catch {
        // already gone
      }
    }
    process.off("exit", cleanup);
  };
  process.on("exit", cleanup);
  try {
    run(["ip", "netns", "add", server.ns]);
    run(["ip", "netns", "add", client.ns]);
    run([
      "ip",
      "link",
      "add",
      server.dev,
      "netns",
      server.ns,
      "type",
      "veth",
      "peer",
      "name",
      client.dev,
      "netns",
      client.ns,
    ]);
    for (const end of [server, client]) {
      const x = ["ip", "netns", "exec", end.ns];
      run([...x, "ip", "link", "set", "lo", "up"]);
      run([...x, "ip", "addr", "add", `${end.ip}/30`, "dev", end.dev]);
      run([...x, "ip", "link", "set", end.dev, "up"]);
    }
  } catch (err) {
    cleanup();
    throw err;
  }
  const tc = (end: NetEnd, args: string[]) => run(["ip", "netns", "exec", end.ns, "tc", ...args]);
  const clear = (end: NetEnd) => {
    try {
      tc(end, ["qdisc", "del", "dev", end.dev, "root"]);
    } catch {
      // no qdisc
    }
  };
  return {
    server,
    client,
    impair(end, netem) {
      clear(end);
      tc(end, ["qdisc", "add", "dev", end.dev, "root", "netem", ...netem]);
    },
    impairProtocol(end, protocol, netem) {
      clear(end);
      // A prio qdisc whose band 3 (impaired) gets only the chosen protocol; priomap sends the rest to band 2.
      tc(end, [
        "qdisc",
        "add",
        "dev",
        end.dev,
        "root",
        "handle",
        "1:",
        "prio",
        "bands",
        "3",
        "priomap",
        ...Array(16).fill("1"),
      ]);
      tc(end, ["qdisc", "add", "dev", end.dev, "parent", "1:3", "handle", "30:", "netem", ...netem]);
      const proto = protocol === "udp" ? "17" : "6";
      tc(end, [
        "filter",
        "add",
        "dev",
        end.dev,
        "protocol",
        "ip",
        "parent",
        "1:0",
        "prio",
        "1",
        "u32",
        "match",
        "ip",
        "protocol",
        proto,
        "0xff",
        "flowid",
        "1:3",
      ]);
    },
    clear,
    spawn(end, argv, env) {
      const child = spawn("ip", ["netns", "exec", end.ns, ...argv], {
        env: { ...process.env, ...env },
        stdio: ["pipe", "pipe", "pipe"],
      });
      children.add(child);
      child.once("exit", () => children.delete(child));
      return child;
    },
    cleanup,
  };
}
