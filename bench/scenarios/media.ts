/**
 * Scenarios 3 and 4: media through the MCU server, werift peers in processes of their own.
 *  3. Fan-out: one publisher replays generated VP8+Opus at ~1 Mbps to L listeners. Server CPU per
 *     forwarded RTP packet (the server process's cpuUsage / packets that arrived at listeners),
 *     packets/s, CPU%, RSS and loss at each L. Baselines in the same run: (a) a bare werift sender
 *     writing the same packets to L peers straight through RTCRtpSender.sendRtp (the stack's floor);
 *     (b) SRTP protect of the same packet sizes with node:crypto.
 *  4. Rooms at scale: R rooms of 4 members, all publishing (each member receives the other 3):
 *     total forwarded packets/s and CPU, against the bare werift floor for the same packet count.
 * Server and floor take turns (one generator runs at a time) so they see the same machine load.
 */
import type { MediaStats, MemberSpec } from "../lib/media-child.ts";
import { MediaProc, sumStats } from "../lib/media-proc.ts";
import { type MeasuredProcess, spawnMeasured } from "../lib/proc.ts";
import { streamShape } from "../lib/rtp-gen.ts";
import { sleep } from "../lib/sig-client.ts";
import { type SrtpCost, srtpProtectCostUs } from "../lib/srtp-cost.ts";
import { fmt, ratio, SPREAD_HEADER, spread, spreadRow, table, verdict } from "../lib/stats.ts";

export interface FanoutOptions {
  /** Idle-CPU window per point (default 1500 ms) and settling time before each window (default 800 ms). */
  idleMs?: number;
  settleMs?: number;
  listeners: number[];
  rounds: number;
  durationMs: number;
  bitrate: number;
  /** Packets per SRTP baseline measurement (default 20,000). */
  srtpPackets?: number;
  /** Listener peers per client process (default 25). */
  perProcess?: number;
  cpuProfDir?: string;
  log?: (line: string) => void;
  /**
   * SRTP variants to measure at each L, one after the other in the same run: "cache" (the server's
   * src/media/srtp-key-cache.ts, in the server and in every werift peer process) and/or "stock"
   * (werift's SRTP as shipped). Default: ["stock"] with BENCH_STOCK_SRTP=1 in the environment, else ["cache"].
   */
  srtp?: SrtpVariant[];
}

export type SrtpVariant = "cache" | "stock";
/** Environment of the measured server and the peer processes for an SRTP variant. */
const srtpEnv = (v: SrtpVariant) => ({ BENCH_STOCK_SRTP: v === "stock" ? "1" : "0" });
const defaultSrtp = (): SrtpVariant => (process.env.BENCH_STOCK_SRTP === "1" ? "stock" : "cache");

export interface RoomsOptions {
  /** Idle-CPU window per point (default 1500 ms) and settling time before each window (default 800 ms). */
  idleMs?: number;
  settleMs?: number;
  roomCounts: number[];
  rounds: number;
  durationMs: number;
  bitrate: number;
  cpuProfDir?: string;
  log?: (line: string) => void;
}

export interface MediaWindow {
  /** CPU microseconds of the measured process (server or bare sender) in the window. */
  cpuUs: number;
  wallMs: number;
  /** RTP packets generated (summed over publishers) and received by listeners in the window. */
  sent: number;
  received: number;
  expected: number;
  rss: number;
  usPerPacket: number;
  /** CPU per packet after subtracting the process's idle CPU (timers, RTCP, ICE consent) at this size. */
  marginalUsPerPacket: number;
  packetsPerSec: number;
  cpuPct: number;
  lossPct: number;
  /** Part of the loss the server itself did not send (its rtp_packets_sent counter); the rest was lost after it (kernel buffers, busy receivers). */
  notSentPct: number;
}

const MEDIA_ENV = { ROOM_MODE: "mcu", PUBLIC_IPV4: "127.0.0.1" };
const range = (n: number) => Array.from({ length: n }, (_, i) => i);
const sentOf = (s: MediaStats) => s.videoSent + s.audioSent;

/**
 * One window: starts the generators of `gen`, lets them settle, then measures `measured`'s CPU and
 * what the listener processes received; `fanout` is how many listeners get each generated packet.
 */
async function measureWindow(
  gen: MediaProc[],
  measured: () => Promise<{ cpuUs: number; rss: number; out?: number }>,
  listenerProcs: MediaProc[],
  fanout: number,
  ms: number,
  idleUsPerSec: number,
  settleMs: number,
): Promise<MediaWindow> {
  const [gPre, lPre, mPre] = await Promise.all([sumStats(gen), sumStats(listenerProcs), measured()]);
  await Promise.all(gen.map((g) => g.call({ type: "start" })));
  await sleep(settleMs);
  const [m0, l0] = await Promise.all([measured(), sumStats(listenerProcs)]);
  const t0 = performance.now();
  await sleep(ms);
  const [m1, l1] = await Promise.all([measured(), sumStats(listenerProcs)]);
  const wallMs = performance.now() - t0;
  await Promise.all(gen.map((g) => g.call({ type: "stop" })));
  await sleep(Math.max(300, settleMs / 2));
  // Loss over the whole start..stop period (after draining), so no packet is in flight at either end.
  const [gPost, lPost, mPost] = await Promise.all([sumStats(gen), sumStats(listenerProcs), measured()]);
  const out = mPre.out !== undefined && mPost.out !== undefined ? mPost.out - mPre.out : undefined;
  const cpuUs = m1.cpuUs - m0.cpuUs;
  const received = l1.received - l0.received;
  const sent = sentOf(gPost) - sentOf(gPre);
  const expected = sent * fanout;
  const arrived = lPost.received - lPre.received;
  for (const e of [...gPost.errors, ...lPost.errors, ...l0.errors, ...l1.errors])
    console.error(`  peer error: ${e}`);
  return {
    cpuUs,
    wallMs,
    sent,
    received,
    expected,
    rss: m1.rss,
    usPerPacket: cpuUs / Math.max(1, received),
    marginalUsPerPacket: Math.max(0, cpuUs - (idleUsPerSec * wallMs) / 1000) / Math.max(1, received),
    packetsPerSec: (received * 1000) / wallMs,
    cpuPct: (cpuUs / (wallMs * 1000)) * 100,
    lossPct: expected > 0 ? Math.max(0, (1 - arrived / expected) * 100) : 0,
    notSentPct: out !== undefined && expected > 0 ? Math.max(0, (1 - out / expected) * 100) : Number.NaN,
  };
}

/** CPU microseconds per second the process burns with every connection up and no media flowing. */
async function idleRate(measured: () => Promise<{ cpuUs: number }>, ms = 1500): Promise<number> {
  const a = await measured();
  const t0 = performance.now();
  await sleep(ms);
  const b = await measured();
  return ((b.cpuUs - a.cpuUs) * 1000) / (performance.now() - t0);
}

const serverCpu = (s: MeasuredProcess) => async () => {
  const st = await s.stats();
  return {
    cpuUs: st.cpuUserUs + st.cpuSystemUs,
    rss: st.rss,
    ...(st.rtpOut !== undefined ? { out: st.rtpOut } : {}),
  };
};
const procCpu = (p: MediaProc) => async () => {
  const st = await p.stats();
  return { cpuUs: st.cpuUs, rss: st.rss };
};

async function waitFor(
  procs: MediaProc[],
  field: "receivingPcs" | "connectedPcs",
  want: number,
  what: string,
  timeoutMs: number,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  let s = await sumStats(procs);
  const seen: string[] = [];
  while (s[field] < want) {
    seen.push(...s.errors);
    if (performance.now() > deadline) {
      throw new Error(
        `${what}: only ${s[field]}/${want} listener connections ${field === "connectedPcs" ? "connected" : "received video"} (${seen.slice(0, 3).join("; ")})`,
      );
    }
    await sleep(250);
    s = await sumStats(procs);
  }
}

/**
 * Connections first (no media flowing, so ICE/DTLS handshakes do not compete with forwarding on a
 * small machine), then each path warmed up on its own until every listener got video.
 */
async function warmUp(
  serverGen: MediaProc[],
  bare: MediaProc,
  listenerProcs: MediaProc[],
  n: number,
  what: string,
) {
  await waitFor(listenerProcs, "connectedPcs", 2 * n, what, 30_000 + n * 600);
  for (const [gen, want] of [
    [serverGen, n],
    [[bare], 2 * n],
  ] as const) {
    await Promise.all(gen.map((g) => g.call({ type: "start" })));
    await waitFor(listenerProcs, "receivingPcs", want, what, 20_000 + n * 200);
    await Promise.all(gen.map((g) => g.call({ type: "stop" })));
  }
  await sleep(500);
}

/** Bare werift senders in `bare` connected to `count` answering peers spread over `listenerProcs`. */
async function connectBare(bare: MediaProc, listenerProcs: MediaProc[], count: number, bitrate: number) {
  const offers = await bare.call<string[]>({ type: "bareSenders", count, bitrate }, 300_000);
  const per = Math.ceil(count / listenerProcs.length);
  const answers = (
    await Promise.all(
      listenerProcs.map((p, k) =>
        p.call<string[]>({ type: "bareListen", offers: offers.slice(k * per, (k + 1) * per) }, 300_000),
      ),
    )
  ).flat();
  await bare.call({ type: "bareConnect", answers }, 300_000);
}

/** Server and bare-werift windows of one measured point, with each process's idle CPU (us/s). */
export interface ServerVsBare {
  server: MediaWindow[];
  bare: MediaWindow[];
  serverIdle: number;
  bareIdle: number;
}

/**
 * Idle CPU of the server and of the bare sender, then `rounds` windows taking turns: the server
 * path (generators `gen`, each packet reaching `fanout.server` listeners) and the bare floor.
 */
async function measureServerVsBare(
  server: MeasuredProcess,
  bare: MediaProc,
  gen: MediaProc[],
  listenerProcs: MediaProc[],
  fanout: { server: number; bare: number },
  o: { rounds: number; durationMs: number; idleMs?: number; settleMs?: number },
): Promise<ServerVsBare> {
  const p: ServerVsBare = { server: [], bare: [], serverIdle: 0, bareIdle: 0 };
  p.serverIdle = await idleRate(serverCpu(server), o.idleMs);
  p.bareIdle = await idleRate(procCpu(bare), o.idleMs);
  const settleMs = o.settleMs ?? 800;
  for (let r = 0; r < o.rounds; r++) {
    p.server.push(
      await measureWindow(
        gen,
        serverCpu(server),
        listenerProcs,
        fanout.server,
        o.durationMs,
        p.serverIdle,
        settleMs,
      ),
    );
    p.bare.push(
      await measureWindow(
        [bare],
        procCpu(bare),
        listenerProcs,
        fanout.bare,
        o.durationMs,
        p.bareIdle,
        settleMs,
      ),
    );
  }
  return p;
}

const median = (w: readonly MediaWindow[], f: (m: MediaWindow) => number) => spread(w.map(f)).median;

/**
 * Medians over the rounds of a point: CPU per packet of the server and the bare sender (su, bu),
 * the same minus idle CPU (sm, bm), and the server path's packets/s, CPU and loss.
 */
function medians(p: ServerVsBare) {
  return {
    su: median(p.server, (w) => w.usPerPacket),
    bu: median(p.bare, (w) => w.usPerPacket),
    sm: median(p.server, (w) => w.marginalUsPerPacket),
    bm: median(p.bare, (w) => w.marginalUsPerPacket),
    packetsPerSec: median(p.server, (w) => w.packetsPerSec),
    cpuPct: median(p.server, (w) => w.cpuPct),
    lossPct: median(p.server, (w) => w.lossPct),
  };
}

/**
 * The table rows of a point, in three groups the scenarios order differently: CPU per packet
 * (server and bare, then both minus idle CPU), throughput (forwarded packets/s, server CPU), and
 * the rest (bare CPU, idle CPU, server RSS, loss).
 */
function serverVsBareRows(p: ServerVsBare) {
  const row = (
    name: string,
    unit: string,
    w: MediaWindow[],
    f: (m: MediaWindow) => number,
    digits?: number,
  ) => spreadRow(name, unit, w.map(f), digits);
  const { server: s, bare: b } = p;
  return {
    perPacket: [
      row("server CPU per forwarded packet", "us", s, (w) => w.usPerPacket),
      row("bare werift CPU per sent packet", "us", b, (w) => w.usPerPacket),
      row("  same, minus idle CPU: server", "us", s, (w) => w.marginalUsPerPacket),
      row("  same, minus idle CPU: bare", "us", b, (w) => w.marginalUsPerPacket),
    ],
    throughput: [
      row("forwarded packets/s", "1/s", s, (w) => w.packetsPerSec),
      row("server CPU", "%", s, (w) => w.cpuPct),
    ],
    rest: [
      row("bare werift CPU", "%", b, (w) => w.cpuPct),
      ["server / bare idle CPU", "%", "", `${fmt(p.serverIdle / 1e4)} / ${fmt(p.bareIdle / 1e4)}`, ""],
      row("server RSS", "MiB", s, (w) => w.rss / 2 ** 20),
      row("loss through server", "%", s, (w) => w.lossPct, 2),
      row("  of which not sent by the server", "%", s, (w) => w.notSentPct, 2),
      row("loss bare werift", "%", b, (w) => w.lossPct, 2),
    ],
  };
}

function srtpBaseline(bitrate: number, packets: number): SrtpCost {
  const shape = streamShape(bitrate);
  // The packet mix of one second of the stream: video packets and audio packets by their rates.
  const sizes: number[] = [];
  for (let f = 0; f < 30; f++) sizes.push(...shape.videoPacketSizes);
  for (let a = 0; a < shape.audioPps; a++) sizes.push(80);
  const costs = range(3).map(() => srtpProtectCostUs(sizes, packets));
  const med = (f: (c: SrtpCost) => number) => spread(costs.map(f)).median;
  return {
    cm: med((c) => c.cm),
    gcm: med((c) => c.gcm),
    cmKeyObject: med((c) => c.cmKeyObject),
    gcmKeyObject: med((c) => c.gcmKeyObject),
  };
}

export interface FanoutPoint extends ServerVsBare {
  listeners: number;
  srtp: SrtpVariant;
}

export async function runFanout(o: FanoutOptions): Promise<{ points: FanoutPoint[]; srtp: SrtpCost }> {
  const log = o.log ?? ((l: string) => console.log(l));
  const shape = streamShape(o.bitrate);
  const ppsPerListener = shape.videoPps + shape.audioPps;
  log(
    `\n## 3. Media fan-out: 1 publisher, VP8 ${shape.videoPacketSizes.length} packets/frame x 30 fps + Opus 50/s (${ppsPerListener} packets/s, ~${fmt(o.bitrate / 1e6, 2)} Mbit/s), L = ${o.listeners.join(", ")}, ${o.rounds} x ${o.durationMs} ms windows`,
  );
  const srtp = srtpBaseline(o.bitrate, o.srtpPackets ?? 20_000);
  log(
    `baseline (b): node:crypto SRTP protect of the same packet mix, new cipher per packet: AES-GCM (what werift peers negotiate) ${fmt(srtp.gcm)} us/packet, AES-CM+HMAC-SHA1-80 ${fmt(srtp.cm)} us; with keys reused as KeyObjects: GCM ${fmt(srtp.gcmKeyObject)} us, CM ${fmt(srtp.cmKeyObject)} us`,
  );
  const variants = o.srtp ?? [defaultSrtp()];
  const points: FanoutPoint[] = [];
  const perProcess = o.perProcess ?? 25;
  for (const L of o.listeners) {
    for (const variant of variants) {
      // werift's ciphers compared with the node:crypto protect that uses keys the same way.
      const srtpFloor = variant === "cache" ? srtp.gcmKeyObject : srtp.gcm;
      const server = await spawnMeasured({
        role: "server",
        env: { ...MEDIA_ENV, ...srtpEnv(variant), ROOM_MAX_MEMBERS: String(Math.max(8, L + 1)) },
        ...(o.cpuProfDir ? { cpuProfDir: o.cpuProfDir } : {}),
      });
      const procs: MediaProc[] = [];
      try {
        const spawned = await Promise.all(
          range(2 + Math.ceil(L / perProcess)).map(() => MediaProc.spawn(undefined, srtpEnv(variant))),
        );
        procs.push(...spawned);
        const [pub, bare, ...lps] = spawned as [MediaProc, MediaProc, ...MediaProc[]];
        await pub.join(server.url, [{ roomId: "fanout", userId: "publisher", publish: true }], o.bitrate);
        await Promise.all(
          lps.map((p, k) => {
            const members: MemberSpec[] = range(L)
              .filter((i) => i % lps.length === k)
              .map((i) => ({ roomId: "fanout", userId: `listener-${i}`, publish: false }));
            return p.join(server.url, members, o.bitrate);
          }),
        );
        await connectBare(bare, lps, L, o.bitrate);
        await warmUp([pub], bare, lps, L, `fan-out L=${L}`);
        const point: FanoutPoint = {
          listeners: L,
          srtp: variant,
          ...(await measureServerVsBare(server, bare, [pub], lps, { server: L, bare: L }, o)),
        };
        points.push(point);
        const tag = variant === "cache" ? "SRTP key cache" : "stock werift SRTP";
        log(`\nL = ${L} (${tag})`);
        const rows = serverVsBareRows(point);
        log(table(SPREAD_HEADER, [...rows.perPacket, ...rows.throughput, ...rows.rest]));
        const { su, bu, sm, bm, packetsPerSec, cpuPct, lossPct } = medians(point);
        log(
          `SUMMARY fan-out L=${L}${variants.length > 1 ? ` [${tag}]` : ""}: server ${fmt(su)} us/packet = ${fmt(ratio(su, bu), 2)}x the bare werift floor (${fmt(bu)} us; target <= 1.3x: ${verdict(ratio(su, bu) <= 1.3)}; minus idle CPU ${fmt(sm)} vs ${fmt(bm)} us = ${fmt(ratio(sm, bm), 2)}x), = ${fmt(ratio(su, srtpFloor), 1)}x node:crypto SRTP-GCM protect (${fmt(srtpFloor)} us); ${fmt(packetsPerSec)} packets/s at ${fmt(cpuPct)} % CPU, loss ${fmt(lossPct, 2)} %`,
        );
      } finally {
        await Promise.all(procs.map((p) => p.close()));
        await server.close();
      }
    }
  }
  if (variants.length > 1) {
    const pct = (a: number, b: number) => `${b <= a ? "-" : "+"}${fmt((Math.abs(b - a) / a) * 100, 0)} %`;
    for (const L of o.listeners) {
      const st = points.find((p) => p.listeners === L && p.srtp === "stock");
      const ca = points.find((p) => p.listeners === L && p.srtp === "cache");
      if (!st || !ca) continue;
      const { su: s0, bu: b0, cpuPct: c0 } = medians(st);
      const { su: s1, bu: b1, cpuPct: c1 } = medians(ca);
      log(
        `SUMMARY SRTP key cache L=${L}: server ${fmt(s0)} -> ${fmt(s1)} us/packet (${pct(s0, s1)}), CPU ${fmt(c0)} -> ${fmt(c1)} %; bare werift floor ${fmt(b0)} -> ${fmt(b1)} us (${pct(b0, b1)}); server/floor ${fmt(ratio(s0, b0), 2)}x -> ${fmt(ratio(s1, b1), 2)}x`,
      );
    }
  }
  if (points.length > 0) {
    // Largest measured L without loss (< 0.5 %) whose server CPU stayed under one core
    // (with the last variant measured, the server's default when comparing).
    const last = variants[variants.length - 1];
    const ok = points
      .filter((p) => p.srtp === last)
      .filter((p) => median(p.server, (w) => w.lossPct) < 0.5 && median(p.server, (w) => w.cpuPct) < 100);
    const largest = ok.length > 0 ? Math.max(...ok.map((p) => p.listeners)) : 0;
    const top = points.filter((p) => p.srtp === last).at(-1) as FanoutPoint;
    const { su: us, bu: bareUs } = medians(top);
    const perCore = Math.floor(1e6 / (us * ppsPerListener));
    const barePerCore = Math.floor(1e6 / (bareUs * ppsPerListener));
    log(
      `\nSUMMARY fan-out: largest measured L without loss ${largest}; at ${fmt(us)} us/packet one core would carry ~${perCore} listeners of this ${ppsPerListener} packets/s stream (bare werift floor: ~${barePerCore}); target >= 100 on one core: ${verdict(perCore >= 100)}${Math.max(...o.listeners) < 100 ? " (extrapolated: run --listeners 100 to measure it)" : ""}`,
    );
  }
  return { points, srtp };
}

export interface RoomsPoint extends ServerVsBare {
  rooms: number;
}

export async function runRooms(o: RoomsOptions): Promise<RoomsPoint[]> {
  const log = o.log ?? ((l: string) => console.log(l));
  const shape = streamShape(o.bitrate);
  log(
    `\n## 4. Rooms at scale: R rooms of 4 members, all publishing ~${fmt(o.bitrate / 1e6, 2)} Mbit/s, each receiving the other 3; R = ${o.roomCounts.join(", ")}, ${o.rounds} x ${o.durationMs} ms windows`,
  );
  const out: RoomsPoint[] = [];
  for (const R of o.roomCounts) {
    const server = await spawnMeasured({
      role: "server",
      env: { ...MEDIA_ENV, ROOM_MAX_MEMBERS: "8" },
      ...(o.cpuProfDir ? { cpuProfDir: o.cpuProfDir } : {}),
    });
    const procs: MediaProc[] = [];
    try {
      const nProcs = Math.min(4, Math.max(1, Math.ceil(R / 3)));
      const spawned = await Promise.all(range(nProcs + 1).map(() => MediaProc.spawn()));
      procs.push(...spawned);
      const [bare, ...mps] = spawned as [MediaProc, ...MediaProc[]];
      await Promise.all(
        mps.map((p, k) => {
          const members: MemberSpec[] = range(R)
            .filter((r) => r % nProcs === k)
            .flatMap((r) =>
              range(4).map((m) => ({ roomId: `meeting-${r}`, userId: `m-${r}-${m}`, publish: true })),
            );
          return p.join(server.url, members, o.bitrate);
        }),
      );
      const streams = R * 12;
      await connectBare(bare, mps, streams, o.bitrate);
      await warmUp(mps, bare, mps, streams, `rooms R=${R}`);
      // Each generated packet of a member reaches the 3 others.
      const point: RoomsPoint = {
        rooms: R,
        ...(await measureServerVsBare(server, bare, mps, mps, { server: 3, bare: streams }, o)),
      };
      out.push(point);
      log(
        `\nR = ${R} (${R * 4} publishers, ${streams} forwarded streams of ${shape.videoPps + shape.audioPps} packets/s)`,
      );
      const rows = serverVsBareRows(point);
      log(table(SPREAD_HEADER, [...rows.throughput, ...rows.perPacket, ...rows.rest]));
      const { su, bu, sm, bm, packetsPerSec, cpuPct, lossPct } = medians(point);
      log(
        `SUMMARY rooms R=${R}: ${fmt(packetsPerSec)} forwarded packets/s at ${fmt(cpuPct)} % server CPU; ${fmt(su)} us/packet = ${fmt(ratio(su, bu), 2)}x the bare werift floor for the same packet count (${fmt(bu)} us; minus idle CPU ${fmt(sm)} vs ${fmt(bm)} us = ${fmt(ratio(sm, bm), 2)}x); loss ${fmt(lossPct, 2)} %`,
      );
    } finally {
      await Promise.all(procs.map((p) => p.close()));
      await server.close();
    }
  }
  return out;
}
