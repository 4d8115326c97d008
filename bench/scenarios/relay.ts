/**
 * Scenario 1: signaling relay. K pairs of clients, each pair alone in a room, send each other
 * messages through the server with a window of W in flight per direction; the receiver reads the
 * send time carried in the message. Baseline in the same run: a bare `ws` server forwarding the
 * same frames between the same kind of pairs without parsing them (bench/lib/child.ts).
 */
import { BENCH_SERVER_ENV, cpuDeltaUs, type MeasuredProcess, spawnMeasured } from "../lib/proc.ts";
import { type Frame, pool, SigClient, sleep } from "../lib/sig-client.ts";
import {
  fmt,
  latencySummary,
  ratio,
  SPREAD_HEADER,
  spread,
  spreadRow,
  table,
  verdict,
} from "../lib/stats.ts";

export interface RelayOptions {
  pairs: number;
  window: number;
  roundMs: number;
  rounds: number;
  payloadBytes: number;
  action: "sendMessage" | "exchangeCandidate";
  cpuProfDir?: string;
  log?: (line: string) => void;
}

export interface RelayRound {
  msgsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  cpuUsPerMsg: number;
}

export interface RelayResult {
  server: RelayRound[];
  baseline: RelayRound[];
  ratio: number;
}

interface Pair {
  a: SigClient;
  b: SigClient;
}

function frameFor(action: RelayOptions["action"], to: string, payload: string): (t: number) => string {
  if (action === "sendMessage") {
    const head = `{"a":"sendMessage","d":{"to":"${to}","message":{"p":"${payload}","t":`;
    return (t) => `${head}${t}}}}`;
  }
  const head = `{"a":"exchangeCandidate","d":{"to":"${to}","candidate":{"candidate":"candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host ${payload}","sdpMid":"0","sdpMLineIndex":0,"usernameFragment":"`;
  return (t) => `${head}${t}"}}}`;
}

/** The send time in a received frame: an event from the server, or the raw forwarded request. */
function sentAt(f: Frame): number {
  const d = f.d as { message?: { t?: number }; candidate?: { usernameFragment?: string } } | undefined;
  if (d?.message?.t !== undefined) return d.message.t;
  return Number(d?.candidate?.usernameFragment ?? Number.NaN);
}

async function connectPairs(target: "server" | "baseline", url: string, pairs: number): Promise<Pair[]> {
  return pool(
    Array.from({ length: pairs }, (_, i) => i),
    32,
    async (i) => {
      if (target === "baseline") {
        const a = await SigClient.connect(`${url}?pair=${i}&side=0`);
        const b = await SigClient.connect(`${url}?pair=${i}&side=1`);
        a.socketId = `b${i}`;
        b.socketId = `a${i}`;
        return { a, b };
      }
      const a = await SigClient.connect(url);
      const b = await SigClient.connect(url);
      await a.join(`relay-${i}`, `relay-a-${i}`);
      await b.join(`relay-${i}`, `relay-b-${i}`);
      return { a, b };
    },
  );
}

/** One measured round over already connected pairs. */
async function round(
  pairs: Pair[],
  proc: MeasuredProcess,
  o: RelayOptions,
  eventName: string | undefined,
): Promise<RelayRound> {
  const payload = "x".repeat(o.payloadBytes);
  let running = true;
  let measuring = false;
  let delivered = 0;
  const lat: number[] = [];
  const flows: { inflight: number; pump(): void }[] = [];
  for (const { a, b } of pairs) {
    for (const [from, to] of [
      [a, b],
      [b, a],
    ] as const) {
      const make = frameFor(o.action, to.socketId, payload);
      const flow = {
        inflight: 0,
        pump() {
          while (running && flow.inflight < o.window) {
            flow.inflight++;
            from.sendRaw(make(performance.now()));
          }
        },
      };
      flows.push(flow);
      to.onEvent = (f) => {
        // The server case: only the relayed event counts; replies to the sender are ignored.
        if (eventName !== undefined && f.a !== eventName) return;
        flow.inflight--;
        if (measuring) {
          delivered++;
          lat.push(performance.now() - sentAt(f));
        }
        flow.pump();
      };
    }
  }
  for (const f of flows) f.pump();
  await sleep(Math.min(500, o.roundMs / 2));
  const s0 = await proc.stats();
  const t0 = performance.now();
  measuring = true;
  await sleep(o.roundMs);
  measuring = false;
  const t1 = performance.now();
  const s1 = await proc.stats();
  const n = delivered;
  running = false;
  const deadline = performance.now() + 5000;
  while (flows.some((f) => f.inflight > 0) && performance.now() < deadline) await sleep(20);
  const l = latencySummary(lat);
  return {
    msgsPerSec: (n * 1000) / (t1 - t0),
    p50Ms: l.p50,
    p99Ms: l.p99,
    cpuUsPerMsg: cpuDeltaUs(s0, s1) / Math.max(1, n),
  };
}

export async function runRelay(o: RelayOptions): Promise<RelayResult> {
  const log = o.log ?? ((l: string) => console.log(l));
  log(
    `\n## 1. Signaling relay: ${o.pairs} pairs, ${o.action}, window ${o.window}/direction, ${o.payloadBytes} B payload, ${o.rounds} x ${o.roundMs} ms`,
  );
  const server = await spawnMeasured({
    role: "server",
    env: { ...BENCH_SERVER_ENV, ROOM_MODE: "p2p", ROOM_MAX_MEMBERS: "8" },
    ...(o.cpuProfDir ? { cpuProfDir: o.cpuProfDir } : {}),
  });
  const fwd = await spawnMeasured({ role: "forwarder" });
  const eventName = o.action === "sendMessage" ? "eventMessage" : "eventExchangeCandidate";
  const res: RelayResult = { server: [], baseline: [], ratio: Number.NaN };
  try {
    const sp = await connectPairs("server", server.url, o.pairs);
    const bp = await connectPairs("baseline", fwd.url, o.pairs);
    // Alternate the two so that drift in the machine's load hits both alike.
    for (let r = 0; r < o.rounds; r++) {
      res.server.push(await round(sp, server, o, eventName));
      res.baseline.push(await round(bp, fwd, o, undefined));
    }
    for (const p of [...sp, ...bp]) {
      p.a.close();
      p.b.close();
    }
  } finally {
    await Promise.all([server.close(), fwd.close()]);
  }
  const median = (rs: RelayRound[], f: (r: RelayRound) => number) => spread(rs.map(f)).median;
  /** The rows of one side ("server" or "baseline"): msgs/s, latency p50 and p99, CPU per message. */
  const side = (who: string, rs: RelayRound[]) => {
    const row = (figure: string, unit: string, f: (r: RelayRound) => number) =>
      spreadRow(`${who} ${figure}`, unit, rs.map(f));
    return {
      msgs: row("msgs/s", "msg/s", (r) => r.msgsPerSec),
      latency: [row("latency p50", "ms", (r) => r.p50Ms), row("latency p99", "ms", (r) => r.p99Ms)],
      cpu: row("CPU per message", "us", (r) => r.cpuUsPerMsg),
    };
  };
  const s = side("server", res.server);
  const b = side("baseline", res.baseline);
  log(table(SPREAD_HEADER, [s.msgs, b.msgs, ...s.latency, ...b.latency, s.cpu, b.cpu]));
  const sm = median(res.server, (r) => r.msgsPerSec);
  const bm = median(res.baseline, (r) => r.msgsPerSec);
  res.ratio = ratio(sm, bm);
  const cpuRatio = ratio(
    median(res.server, (r) => r.cpuUsPerMsg),
    median(res.baseline, (r) => r.cpuUsPerMsg),
  );
  log(
    `SUMMARY relay: server ${fmt(sm)} msg/s vs bare ws ${fmt(bm)} msg/s = ${fmt(res.ratio, 2)}x (target >= 0.6: ${verdict(res.ratio >= 0.6)}); CPU per message ${fmt(cpuRatio, 2)}x the baseline's`,
  );
  return res;
}
