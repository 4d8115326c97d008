/**
 * Scenario 2: join storm. N clients connect to a server in a child process (so RSS is the
 * server's), join rooms of 8 with real HS256 JWTs, stay idle, and leave. Per round and N:
 *  - paced phase: joins offered at a fixed rate (default 1,000/s); join RTT p50/p99 at that rate;
 *  - memory per idle connected member: (RSS after - RSS before) / N, both after full GCs;
 *  - capacity phase: a second cohort joins as fast as it can (C joins in flight): joins/s.
 */
import { cpuDeltaUs, type MeasuredProcess, spawnMeasured } from "../lib/proc.ts";
import { pool, SigClient, sleep } from "../lib/sig-client.ts";
import { fmt, latencySummary, SPREAD_HEADER, spread, spreadRow, table, verdict } from "../lib/stats.ts";
import { newSecret, signTokens } from "../lib/tokens.ts";

export interface JoinStormOptions {
  sizes: number[];
  rounds: number;
  /** Offered join rate of the paced phase, joins/s. */
  rate: number;
  /** Joins in flight in the capacity phase. */
  concurrency: number;
  roomSize: number;
  /** Idle time before the memory reading (heartbeats run meanwhile). */
  idleMs: number;
  cpuProfDir?: string;
  log?: (line: string) => void;
}

export interface JoinStormRound {
  n: number;
  connectsPerSec: number;
  pacedRate: number;
  pacedP50Ms: number;
  pacedP99Ms: number;
  joinsPerSec: number;
  capP50Ms: number;
  capP99Ms: number;
  cpuUsPerJoin: number;
  capCpuUsPerJoin: number;
  rssPerMemberKiB: number;
  heapPerMemberKiB: number;
  leavesPerSec: number;
}

async function connectAll(url: string, n: number): Promise<{ clients: SigClient[]; perSec: number }> {
  const t0 = performance.now();
  const clients = await pool(
    Array.from({ length: n }, (_, i) => i),
    64,
    () => SigClient.connect(url, 30_000),
  );
  return { clients, perSec: (n * 1000) / (performance.now() - t0) };
}

function roomOf(i: number, roomSize: number): string {
  return `storm-${Math.floor(i / roomSize)}`;
}

async function joinPaced(clients: SigClient[], tokens: string[], o: JoinStormOptions) {
  const rtt: number[] = [];
  const pending: Promise<void>[] = [];
  const t0 = performance.now();
  let i = 0;
  while (i < clients.length) {
    const due = Math.min(clients.length, Math.floor(((performance.now() - t0) * o.rate) / 1000) + 1);
    for (; i < due; i++) {
      const c = clients[i] as SigClient;
      const sent = performance.now();
      pending.push(
        c
          .join(roomOf(i, o.roomSize), tokens[i] as string)
          .then(() => void rtt.push(performance.now() - sent)),
      );
    }
    await sleep(1);
  }
  const lastSend = performance.now();
  await Promise.all(pending);
  const l = latencySummary(rtt);
  return { rate: (clients.length * 1000) / Math.max(1, lastSend - t0), p50: l.p50, p99: l.p99 };
}

async function joinFlat(clients: SigClient[], tokens: string[], o: JoinStormOptions) {
  const rtt: number[] = [];
  const t0 = performance.now();
  await pool(clients, o.concurrency, async (c, i) => {
    const sent = performance.now();
    await c.join(`cap-${roomOf(i, o.roomSize)}`, tokens[i] as string);
    rtt.push(performance.now() - sent);
  });
  const l = latencySummary(rtt);
  return { perSec: (clients.length * 1000) / (performance.now() - t0), p50: l.p50, p99: l.p99 };
}

async function leaveAll(clients: SigClient[], server: MeasuredProcess): Promise<number> {
  const t0 = performance.now();
  for (const c of clients) c.close();
  const deadline = t0 + 60_000;
  while ((await server.stats()).connections > 0 && performance.now() < deadline) await sleep(20);
  return (clients.length * 1000) / (performance.now() - t0);
}

async function oneRound(
  n: number,
  tokens: string[],
  secret: string,
  o: JoinStormOptions,
): Promise<JoinStormRound> {
  const server = await spawnMeasured({
    role: "server",
    env: { ROOM_MODE: "p2p", JWT_SECRET: secret, ROOM_MAX_MEMBERS: String(o.roomSize) },
    ...(o.cpuProfDir ? { cpuProfDir: o.cpuProfDir } : {}),
  });
  try {
    // Warm the code paths (JIT, pools) with a few joins so the memory baseline is not the cold process.
    const warm = await connectAll(server.url, 16);
    await joinFlat(warm.clients, tokens.slice(0, 16), { ...o, roomSize: 8 });
    await leaveAll(warm.clients, server);
    const before = await server.stats(true);

    const { clients, perSec: connectsPerSec } = await connectAll(server.url, n);
    const c0 = await server.stats();
    const paced = await joinPaced(clients, tokens, o);
    const c1 = await server.stats();
    await sleep(o.idleMs);
    const after = await server.stats(true);
    const leavesPerSec = await leaveAll(clients, server);

    const second = await connectAll(server.url, n);
    const k0 = await server.stats();
    const cap = await joinFlat(second.clients, tokens, o);
    const k1 = await server.stats();
    await leaveAll(second.clients, server);
    return {
      n,
      connectsPerSec,
      pacedRate: paced.rate,
      pacedP50Ms: paced.p50,
      pacedP99Ms: paced.p99,
      joinsPerSec: cap.perSec,
      capP50Ms: cap.p50,
      capP99Ms: cap.p99,
      cpuUsPerJoin: cpuDeltaUs(c0, c1) / n,
      capCpuUsPerJoin: cpuDeltaUs(k0, k1) / n,
      rssPerMemberKiB: (after.rss - before.rss) / n / 1024,
      heapPerMemberKiB: (after.heapUsed - before.heapUsed) / n / 1024,
      leavesPerSec,
    };
  } finally {
    await server.close();
  }
}

export async function runJoinStorm(o: JoinStormOptions): Promise<Map<number, JoinStormRound[]>> {
  const log = o.log ?? ((l: string) => console.log(l));
  const max = Math.max(...o.sizes);
  const secret = newSecret();
  const tokens = await signTokens(
    secret,
    Array.from({ length: max }, (_, i) => `storm-user-${i}`),
  );
  const out = new Map<number, JoinStormRound[]>();
  for (const n of o.sizes) {
    log(
      `\n## 2. Join storm: N=${n}, rooms of ${o.roomSize}, HS256 JWTs, paced at ${o.rate} joins/s, capacity with ${o.concurrency} in flight, ${o.rounds} rounds`,
    );
    const rounds: JoinStormRound[] = [];
    for (let r = 0; r < o.rounds; r++) rounds.push(await oneRound(n, tokens, secret, o));
    out.set(n, rounds);
    const col = (f: (r: JoinStormRound) => number) => rounds.map(f);
    log(
      table(SPREAD_HEADER, [
        spreadRow(
          "connects/s",
          "1/s",
          col((r) => r.connectsPerSec),
        ),
        spreadRow(
          "paced: offered rate",
          "joins/s",
          col((r) => r.pacedRate),
        ),
        spreadRow(
          "paced: join RTT p50",
          "ms",
          col((r) => r.pacedP50Ms),
        ),
        spreadRow(
          "paced: join RTT p99",
          "ms",
          col((r) => r.pacedP99Ms),
        ),
        spreadRow(
          "server CPU per join",
          "us",
          col((r) => r.cpuUsPerJoin),
        ),
        spreadRow(
          "capacity: joins/s",
          "joins/s",
          col((r) => r.joinsPerSec),
        ),
        spreadRow(
          "capacity: join RTT p50",
          "ms",
          col((r) => r.capP50Ms),
        ),
        spreadRow(
          "capacity: join RTT p99",
          "ms",
          col((r) => r.capP99Ms),
        ),
        spreadRow(
          "RSS per idle member",
          "KiB",
          col((r) => r.rssPerMemberKiB),
        ),
        spreadRow(
          "heap per idle member",
          "KiB",
          col((r) => r.heapPerMemberKiB),
        ),
        spreadRow(
          "leaves/s",
          "1/s",
          col((r) => r.leavesPerSec),
        ),
      ]),
    );
    const p99 = spread(col((r) => r.pacedP99Ms)).median;
    const rate = spread(col((r) => r.pacedRate)).median;
    const kib = spread(col((r) => r.rssPerMemberKiB)).median;
    const jps = spread(col((r) => r.joinsPerSec)).median;
    log(
      `SUMMARY join storm N=${n}: ${fmt(jps)} joins/s (= ${fmt(jps / o.rate, 2)}x the ${o.rate}/s target rate); join RTT p99 ${fmt(p99)} ms at ${fmt(rate)} joins/s (target < 20 ms at 1,000/s: ${verdict(p99 < 20 && rate >= o.rate * 0.95)}); ${fmt(kib)} KiB RSS per idle member (target < 30 KiB: ${verdict(kib < 30)})`,
    );
  }
  return out;
}
