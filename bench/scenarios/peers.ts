/**
 * Scenario 5, `peers`: the fan-out load of scenario 3 against this server and against Janus (Debian's
 * `janus` package, VideoRoom plugin and WebSocket transport only, configured in a temporary folder),
 * in the same run, windows alternated round by round. Janus never gathers ICE candidates on loopback
 * interfaces, so the scenario runs in a network namespace of its own where a dummy (or ifb)
 * interface holds 127.0.0.2/32; Janus is told `ice_enforce_list = "127.0.0.2"` and every werift peer announces
 * 127.0.0.2 too (bench/run.ts re-executes itself there: `runPeersInNetns`). CPU of each server is
 * summed over all its threads from /proc/PID/task/*\/schedstat, RSS from /proc/PID/status.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createConnection } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { MemberSpec } from "../lib/media-child.ts";
import { MediaProc } from "../lib/media-proc.ts";
import { spawnMeasured } from "../lib/proc.ts";
import { streamShape } from "../lib/rtp-gen.ts";
import { sleep } from "../lib/sig-client.ts";
import { fmt, ratio, SPREAD_HEADER, spread, spreadRow, table, verdict } from "../lib/stats.ts";
import { type MediaWindow, measureWindow, waitFor } from "./media.ts";

export const PEER_ADDRESS = "127.0.0.2";
const JANUS_LIB = "/usr/lib/x86_64-linux-gnu/janus";
const range = (n: number) => Array.from({ length: n }, (_, i) => i);

export interface PeersOptions {
  listeners: number[];
  rounds: number;
  durationMs: number;
  bitrate: number;
  idleMs?: number;
  settleMs?: number;
  log?: (line: string) => void;
}

/** Why the peers scenario cannot run here (with how to fix it), or undefined. */
export function peersUnavailable(): string | undefined {
  try {
    execFileSync("sh", ["-c", "command -v janus"], { stdio: "ignore" });
  } catch {
    return "janus is not installed (Debian: apt-get install janus)";
  }
  for (const so of ["plugins/libjanus_videoroom.so", "transports/libjanus_websockets.so"]) {
    try {
      readFileSync(join(JANUS_LIB, so));
    } catch {
      return `${join(JANUS_LIB, so)} missing (apt-get install janus)`;
    }
  }
  if (process.getuid?.() !== 0) return "not root (the scenario needs a network namespace: ip netns)";
  try {
    execFileSync("sh", ["-c", "command -v ip"], { stdio: "ignore" });
  } catch {
    return "ip (iproute2) not installed";
  }
  return undefined;
}

/**
 * Creates the namespace (lo up, dummy interface with 127.0.0.2/32), runs `argv` in it with
 * BENCH_IN_PEERS_NETNS=1 and BENCH_PEER_ADDRESS, and removes it. Resolves with the exit code.
 */
export async function runPeersInNetns(argv: string[]): Promise<number | null> {
  const ns = `wrs-peers-${process.pid}`;
  const ip = (...args: string[]) => execFileSync("ip", args, { stdio: ["ignore", "ignore", "pipe"] });
  ip("netns", "add", ns);
  try {
    ip("netns", "exec", ns, "ip", "link", "set", "lo", "up");
    // A dummy interface where the kernel has the module, else an ifb one: any non-loopback device.
    let added = false;
    for (const type of ["dummy", "ifb"]) {
      try {
        ip("netns", "exec", ns, "ip", "link", "add", "wrs0", "type", type);
        added = true;
        break;
      } catch {
        // no such link type in this kernel
      }
    }
    if (!added) throw new Error("cannot create a dummy or ifb interface in the namespace");
    ip("netns", "exec", ns, "ip", "addr", "add", `${PEER_ADDRESS}/32`, "dev", "wrs0");
    ip("netns", "exec", ns, "ip", "link", "set", "wrs0", "up");
    const child = spawn("ip", ["netns", "exec", ns, process.execPath, ...argv], {
      stdio: "inherit",
      env: { ...process.env, BENCH_IN_PEERS_NETNS: "1", BENCH_PEER_ADDRESS: PEER_ADDRESS },
    });
    return await new Promise((r) => child.once("exit", r));
  } finally {
    try {
      ip("netns", "del", ns);
    } catch {
      // already gone
    }
  }
}

/** CPU microseconds (all threads, /proc/PID/task/*\/schedstat) and RSS bytes of a process. */
export function procUsage(pid: number): { cpuUs: number; rss: number } {
  let ns = 0;
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, "utf8").split(" ")[0]);
    } catch {
      // the thread ended
    }
  }
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0);
  return { cpuUs: ns / 1000, rss: rssKb * 1024 };
}

interface Janus {
  pid: number;
  url: string;
  close(): Promise<void>;
  log(): string;
}

/** Starts Janus with a generated configuration: VideoRoom + WebSockets only, ICE on 127.0.0.2. */
export async function startJanus(port: number): Promise<Janus> {
  const dir = mkdtempSync(join(tmpdir(), "wrs-janus-"));
  const only = (folder: string, keep: string[]) =>
    readdirSync(join(JANUS_LIB, folder))
      .filter((f) => f.endsWith(".so") && !keep.includes(f))
      .join(",");
  writeFileSync(
    join(dir, "janus.jcfg"),
    `general: {
  configs_folder = "${dir}"
  plugins_folder = "${JANUS_LIB}/plugins"
  transports_folder = "${JANUS_LIB}/transports"
  events_folder = "${JANUS_LIB}/events"
  loggers_folder = "${JANUS_LIB}/loggers"
  debug_level = 3
  session_timeout = 120
  interface = "${PEER_ADDRESS}"
}
media: {
  rtp_port_range = "30000-39999"
}
nat: {
  ice_enforce_list = "${PEER_ADDRESS}"
  ignore_mdns = true
}
plugins: {
  disable = "${only("plugins", ["libjanus_videoroom.so"])}"
}
transports: {
  disable = "${only("transports", ["libjanus_websockets.so"])}"
}
loggers: {
  disable = "${only("loggers", [])}"
}
events: {
  broadcast = false
  disable = "${only("events", [])}"
}
`,
  );
  writeFileSync(join(dir, "janus.plugin.videoroom.jcfg"), "general: {\n}\n");
  writeFileSync(
    join(dir, "janus.transport.websockets.jcfg"),
    `general: {
  json = "plain"
  ws = true
  ws_port = ${port}
  ws_ip = "127.0.0.1"
  wss = false
}
admin: {
  admin_ws = false
}
`,
  );
  let output = "";
  const child: ChildProcess = spawn("janus", ["-C", join(dir, "janus.jcfg"), "-F", dir, "-o"], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  const keep = (d: Buffer) => {
    output = (output + d.toString()).slice(-20_000);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  const deadline = Date.now() + 15_000;
  for (;;) {
    const ok = await new Promise<boolean>((r) => {
      const s = createConnection({ host: "127.0.0.1", port }, () => {
        s.destroy();
        r(true);
      });
      s.once("error", () => r(false));
    });
    if (ok) break;
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`janus did not start:\n${output.slice(-3000)}`);
    }
    await sleep(100);
  }
  return {
    pid: child.pid ?? 0,
    url: `ws://127.0.0.1:${port}`,
    log: () => output,
    close: async () => {
      child.kill("SIGTERM");
      const t = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(t);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface PeersPoint {
  listeners: number;
  ours: MediaWindow[];
  janus: MediaWindow[];
  oursLateMs: number[];
  janusLateMs: number[];
}

const usage = (pid: number) => async () => procUsage(pid);

export async function runPeers(o: PeersOptions): Promise<PeersPoint[]> {
  const log = o.log ?? ((l: string) => console.log(l));
  const shape = streamShape(o.bitrate);
  const pps = shape.videoPps + shape.audioPps;
  log(
    `\n## 5. Peers: the fan-out load (1 publisher, ${pps} packets/s, ~${fmt(o.bitrate / 1e6, 2)} Mbit/s, L werift listeners) through this server (MEDIA_FORWARDING=own) and through Janus ${janusVersion()} (VideoRoom), windows alternated; L = ${o.listeners.join(", ")}, ${o.rounds} x ${o.durationMs} ms windows; CPU = all threads (/proc/PID/task/*/schedstat)`,
  );
  const points: PeersPoint[] = [];
  const settleMs = o.settleMs ?? 800;
  for (const L of o.listeners) {
    const server = await spawnMeasured({
      role: "server",
      env: {
        ROOM_MODE: "mcu",
        PUBLIC_IPV4: PEER_ADDRESS,
        MEDIA_FORWARDING: "own",
        ROOM_MAX_MEMBERS: String(L + 2 + o.rounds),
      },
    });
    const janus = await startJanus(18_188 + (process.pid % 1000));
    const procs: MediaProc[] = [];
    try {
      const spawned = await Promise.all(range(2 + Math.ceil((2 * L) / 25)).map(() => MediaProc.spawn()));
      procs.push(...spawned);
      const [pubOurs, pubJanus, ...lps] = spawned as [MediaProc, MediaProc, ...MediaProc[]];
      await pubOurs.join(server.url, [{ roomId: "fanout", userId: "publisher", publish: true }], o.bitrate);
      await Promise.all(
        lps.map((p, k) => {
          const members: MemberSpec[] = range(L)
            .filter((j) => j % lps.length === k)
            .map((j) => ({ roomId: "fanout", userId: `listener-${j}`, publish: false }));
          return members.length > 0 ? p.join(server.url, members, o.bitrate) : Promise.resolve();
        }),
      );
      // One server's handshakes at a time (on 2 busy cores, 100 at once miss ICE/DTLS timeouts).
      await waitFor(lps, "connectedPcs", L, `peers L=${L}, ours`, 60_000 + L * 1000);
      const room = 1234;
      const feed = await pubJanus.call<number>(
        { type: "janusPublish", url: janus.url, room, bitrate: o.bitrate },
        60_000,
      );
      await Promise.all(
        lps.map((p, k) => {
          const count = range(L).filter((j) => (j + L) % lps.length === k).length;
          return count > 0
            ? p.call({ type: "janusListen", url: janus.url, room, feed, count }, 300_000)
            : Promise.resolve();
        }),
      );
      await waitFor(lps, "connectedPcs", 2 * L, `peers L=${L}, Janus`, 60_000 + L * 1000);
      let want = 0;
      for (const gen of [pubOurs, pubJanus]) {
        want += L;
        await gen.call({ type: "start" });
        await waitFor(lps, "receivingPcs", want, `peers L=${L}`, 20_000 + L * 200);
        await gen.call({ type: "stop" });
      }
      await sleep(500);
      const idle = async (pid: number) => {
        const a = procUsage(pid);
        const t0 = performance.now();
        await sleep(o.idleMs ?? 1500);
        return ((procUsage(pid).cpuUs - a.cpuUs) * 1000) / (performance.now() - t0);
      };
      const oursIdle = await idle(server.pid);
      const janusIdle = await idle(janus.pid);
      // Ours: CPU the same way as Janus's, plus the kernel drops on its media sockets (its metric).
      const oursUsage = async () => ({
        ...procUsage(server.pid),
        drops: (await server.stats()).udpDrops ?? Number.NaN,
      });
      const point: PeersPoint = { listeners: L, ours: [], janus: [], oursLateMs: [], janusLateMs: [] };
      for (let r = 0; r < o.rounds; r++) {
        point.ours.push(await measureWindow([pubOurs], oursUsage, lps, L, o.durationMs, oursIdle, settleMs));
        point.janus.push(
          await measureWindow([pubJanus], usage(janus.pid), lps, L, o.durationMs, janusIdle, settleMs),
        );
      }
      for (let r = 0; r < o.rounds; r++) {
        for (const [gen, into, late] of [
          [
            pubOurs,
            point.oursLateMs,
            () =>
              (lps[0] as MediaProc).call<{ joinToFirstVideoMs: number }>(
                {
                  type: "lateJoin",
                  url: server.url,
                  member: { roomId: "fanout", userId: `late-${r}`, publish: false },
                  bitrate: o.bitrate,
                },
                60_000,
              ),
          ],
          [
            pubJanus,
            point.janusLateMs,
            () =>
              (lps[0] as MediaProc).call<{ joinToFirstVideoMs: number }>(
                { type: "janusLateJoin", url: janus.url, room, feed },
                60_000,
              ),
          ],
        ] as const) {
          await gen.call({ type: "start" });
          await sleep(1000);
          into.push((await late()).joinToFirstVideoMs);
          await gen.call({ type: "stop" });
          await sleep(300);
        }
      }
      points.push(point);
      const rows = (name: string, w: MediaWindow[], idleUs: number, lateMs: number[]) => [
        spreadRow(
          `${name}: CPU per forwarded packet`,
          "us",
          w.map((x) => x.usPerPacket),
        ),
        spreadRow(
          `${name}:   minus idle CPU`,
          "us",
          w.map((x) => x.marginalUsPerPacket),
        ),
        spreadRow(
          `${name}: CPU`,
          "%",
          w.map((x) => x.cpuPct),
        ),
        [`${name}: idle CPU`, "%", "", fmt(idleUs / 1e4), ""],
        spreadRow(
          `${name}: RSS`,
          "MiB",
          w.map((x) => x.rss / 2 ** 20),
        ),
        spreadRow(
          `${name}: loss`,
          "%",
          w.map((x) => x.lossPct),
          2,
        ),
        spreadRow(
          `${name}: RcvbufErrors (namespace)`,
          "1",
          w.map((x) => x.rcvbufErrors),
          0,
        ),
        spreadRow(
          `${name}: kernel drops on its media sockets`,
          "1",
          w.map((x) => x.serverDrops),
          0,
        ),
        spreadRow(`${name}: late listener, join to first video`, "ms", lateMs, 0),
      ];
      log(`\nL = ${L}`);
      log(
        table(SPREAD_HEADER, [
          ...rows("ours", point.ours, oursIdle, point.oursLateMs),
          ...rows("janus", point.janus, janusIdle, point.janusLateMs),
        ]),
      );
      const med = (w: MediaWindow[], f: (x: MediaWindow) => number) => spread(w.map(f)).median;
      const ou = med(point.ours, (x) => x.usPerPacket);
      const ju = med(point.janus, (x) => x.usPerPacket);
      const perRound = point.ours.map((x, r) =>
        fmt(ratio(x.usPerPacket, point.janus[r]?.usPerPacket ?? Number.NaN), 2),
      );
      const maxLoss = Math.max(...point.ours.map((x) => x.lossPct));
      const rss = med(point.ours, (x) => x.rss) / 2 ** 20;
      const late = Math.max(...point.oursLateMs);
      log(
        `SUMMARY peers L=${L}: ours ${fmt(ou)} us/packet, Janus ${fmt(ju)} us/packet: ours/Janus ${fmt(ratio(ou, ju), 2)}x (per round ${perRound.join(", ")}; target <= 1.0x: ${verdict(ratio(ou, ju) <= 1)}); loss ours max ${fmt(maxLoss, 2)} % / Janus max ${fmt(Math.max(...point.janus.map((x) => x.lossPct)), 2)} %; RSS ours ${fmt(rss)} MiB / Janus ${fmt(med(point.janus, (x) => x.rss) / 2 ** 20)} MiB; late listener's first video ours max ${fmt(late, 0)} ms / Janus max ${fmt(Math.max(...point.janusLateMs), 0)} ms`,
      );
    } catch (err) {
      log(`peers L=${L} failed: ${(err as Error).message}\njanus log tail:\n${janus.log().slice(-2000)}`);
      throw err;
    } finally {
      await Promise.all(procs.map((p) => p.close()));
      await server.close();
      await janus.close();
    }
  }
  return points;
}

function janusVersion(): string {
  try {
    return (
      /Janus version:\s*\d+\s*\(([^)]+)\)/i.exec(
        execFileSync("janus", ["--version"], { encoding: "utf8" }),
      )?.[1] ?? "?"
    );
  } catch {
    return "?";
  }
}
