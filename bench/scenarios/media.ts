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

import { udpRcvbufErrors } from "../../src/metrics/metrics.ts";
import type { MediaStats, MemberSpec } from "../lib/media-child.ts";
import { MediaProc, sumStats } from "../lib/media-proc.ts";
import { type MeasuredProcess, spawnMeasured } from "../lib/proc.ts";
import { streamShape } from "../lib/rtp-gen.ts";
import { sleep } from "../lib/sig-client.ts";
import { nodeForwardFloorUs, type SrtpCost, srtpProtectCostUs } from "../lib/srtp-cost.ts";
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
   * src/media/werift/srtp-key-cache.ts, in the server and in every werift peer process) and/or "stock"
   * (werift's SRTP as shipped). Default: ["stock"] with BENCH_STOCK_SRTP=1 in the environment, else ["cache"].
   */
  srtp?: SrtpVariant[];
  /**
   * Forwarding paths to measure at each L (MEDIA_FORWARDING): one server process per path, all
   * connected to the same listener processes, their windows alternated round by round with the bare
   * floor. Default: ["own"] (the server's default).
   */
  forwarding?: Forwarding[];
}

export type SrtpVariant = "cache" | "stock";
/**
 * A server's media path: "own" (own egress, own SRTP receive and own RTP ingress, the default),
 * "own-srtp" (own egress and SRTP receive, werift's RTP parsing, router and receiver chain:
 * MEDIA_RECEIVE=own-srtp, before the ingress), "own-egress" (own egress, publishers' SRTP decrypted
 * by werift: MEDIA_RECEIVE=werift, issue 11 before the receive side was owned), "werift" (werift's
 * sender and receiver), "own-youngN" (the default path with N MiB V8 semi-spaces instead of the start
 * script's cap, e.g. own-young16 for V8's default: what the cap costs).
 */
export type Forwarding = "own" | "own-srtp" | "own-egress" | "werift" | `own-young${number}`;
/** The server environment of a media path. */
const pathEnv = (f: Forwarding): Record<string, string> => ({
  MEDIA_FORWARDING: f === "werift" ? "werift" : "own",
  MEDIA_RECEIVE:
    f === "own" || f === "own-srtp" || f === "own-young16" ? (f === "own-srtp" ? f : "own") : "werift",
  ...(f === "own-young16" ? { BENCH_NODE_FLAGS: "--max-semi-space-size=16" } : {}),
});
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
  /** Forwarding paths (MEDIA_FORWARDING), one server each with its own member processes, windows alternated. */
  forwarding?: Forwarding[];
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
  /** Datagrams the kernel dropped for full receive buffers, start..stop: on the server's media sockets, and in the whole namespace (/proc/net/snmp RcvbufErrors, peers included). */
  serverDrops: number;
  rcvbufErrors: number;
}

const MEDIA_ENV = { ROOM_MODE: "mcu", PUBLIC_IPV4: "127.0.0.1" };
const range = (n: number) => Array.from({ length: n }, (_, i) => i);
const sentOf = (s: MediaStats) => s.videoSent + s.audioSent;

/**
 * One window: starts the generators of `gen`, lets them settle, then measures `measured`'s CPU and
 * what the listener processes received; `fanout` is how many listeners get each generated packet.
 */
export async function measureWindow(
  gen: MediaProc[],
  measured: () => Promise<{ cpuUs: number; rss: number; out?: number; drops?: number }>,
  listenerProcs: MediaProc[],
  fanout: number,
  ms: number,
  idleUsPerSec: number,
  settleMs: number,
): Promise<MediaWindow> {
  const [gPre, lPre, mPre] = await Promise.all([sumStats(gen), sumStats(listenerProcs), measured()]);
  const rcvbufPre = udpRcvbufErrors() ?? 0;
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
  const rcvbufErrors = (udpRcvbufErrors() ?? 0) - rcvbufPre;
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
    serverDrops: (mPost.drops ?? Number.NaN) - (mPre.drops ?? Number.NaN),
    rcvbufErrors,
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
    ...(st.udpDrops !== undefined ? { drops: st.udpDrops } : {}),
  };
};
const procCpu = (p: MediaProc) => async () => {
  const st = await p.stats();
  return { cpuUs: st.cpuUs, rss: st.rss };
};

export async function waitFor(
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
        `${what}: only ${s[field]}/${want} listener connections ${field === "connectedPcs" ? "connected" : "received video"} (states ${JSON.stringify(s.states)}, ${s.retries} members joined again; ${seen.slice(0, 3).join("; ")})`,
      );
    }
    await sleep(250);
    s = await sumStats(procs);
  }
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
 * Several servers against one bare floor: idle CPU of each, then `rounds` rounds in which every
 * server (its own generators, each packet reaching `fanout` listeners) and then the bare floor take
 * one window each, so that all paths see the same machine load over the run.
 */
async function measureServersVsBare(
  servers: { server: MeasuredProcess; gen: MediaProc[] }[],
  bare: MediaProc,
  listenerProcs: MediaProc[],
  fanout: number | { server: number; bare: number },
  o: { rounds: number; durationMs: number; idleMs?: number; settleMs?: number },
): Promise<ServerVsBare[]> {
  const f = typeof fanout === "number" ? { server: fanout, bare: fanout } : fanout;
  const points: ServerVsBare[] = servers.map(() => ({ server: [], bare: [], serverIdle: 0, bareIdle: 0 }));
  for (const [i, s] of servers.entries())
    (points[i] as ServerVsBare).serverIdle = await idleRate(serverCpu(s.server), o.idleMs);
  const bareIdle = await idleRate(procCpu(bare), o.idleMs);
  const bareWindows: MediaWindow[] = [];
  const settleMs = o.settleMs ?? 800;
  for (let r = 0; r < o.rounds; r++) {
    // The server measured second in a round costs more per packet (up to 1.3x at L = 10 for the
    // same code, in either order; 2026-12-02): the order is rotated round by round.
    for (let k = 0; k < servers.length; k++) {
      const i = (k + r) % servers.length;
      const s = servers[i] as { server: MeasuredProcess; gen: MediaProc[] };
      const p = points[i] as ServerVsBare;
      p.server.push(
        await measureWindow(
          s.gen,
          serverCpu(s.server),
          listenerProcs,
          f.server,
          o.durationMs,
          p.serverIdle,
          settleMs,
        ),
      );
    }
    bareWindows.push(
      await measureWindow([bare], procCpu(bare), listenerProcs, f.bare, o.durationMs, bareIdle, settleMs),
    );
  }
  // Idle again with everything quiet: right after the connections come up, handshakes and their
  // garbage can still be finishing (14 % of a core at L = 10 once, against 1-4 % later), which would
  // make "minus idle" too low. The lower of the two counts.
  for (const [i, s] of servers.entries()) {
    const p = points[i] as ServerVsBare;
    p.serverIdle = Math.min(p.serverIdle, await idleRate(serverCpu(s.server), o.idleMs));
    for (const w of p.server) subtractIdle(w, p.serverIdle);
  }
  const bareIdleAfter = Math.min(bareIdle, await idleRate(procCpu(bare), o.idleMs));
  for (const w of bareWindows) subtractIdle(w, bareIdleAfter);
  for (const p of points) {
    p.bare = bareWindows;
    p.bareIdle = bareIdleAfter;
  }
  return points;
}

/** The window's CPU per packet minus `idleUsPerSec` of idle CPU. */
function subtractIdle(w: MediaWindow, idleUsPerSec: number): void {
  w.marginalUsPerPacket = Math.max(0, w.cpuUs - (idleUsPerSec * w.wallMs) / 1000) / Math.max(1, w.received);
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
      row("kernel drops on server sockets", "1", s, (w) => w.serverDrops, 0),
      row("RcvbufErrors (namespace)", "1", s, (w) => w.rcvbufErrors, 0),
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
  forwarding: Forwarding;
  /** A late listener per round, joining while the publisher streams: join to first video packet, and connected to first video packet (ms). */
  lateJoinMs: number[];
  lateConnectedMs: number[];
  /** The same join split: join to the server's offer, offer to connected (ICE + DTLS). */
  lateOfferMs: number[];
  lateHandshakeMs: number[];
}

/** `rounds` late listeners, one at a time, each joining 1 s into a stream of `pub`. */
async function lateListeners(
  pub: MediaProc,
  lp: MediaProc,
  url: string,
  rounds: number,
  bitrate: number,
  tag: string,
): Promise<{ join: number[]; connected: number[]; offer: number[]; handshake: number[] }> {
  const out = {
    join: [] as number[],
    connected: [] as number[],
    offer: [] as number[],
    handshake: [] as number[],
  };
  for (let r = 0; r < rounds; r++) {
    await pub.call({ type: "start" });
    await sleep(1000);
    const t = await lp.call<{
      joinToFirstVideoMs: number;
      connectedToFirstVideoMs: number;
      joinToOfferMs: number;
      offerToConnectedMs: number;
    }>(
      {
        type: "lateJoin",
        url,
        member: { roomId: "fanout", userId: `late-${tag}-${r}`, publish: false },
        bitrate,
      },
      60_000,
    );
    out.join.push(t.joinToFirstVideoMs);
    out.connected.push(t.connectedToFirstVideoMs);
    out.offer.push(t.joinToOfferMs);
    out.handshake.push(t.offerToConnectedMs);
    await pub.call({ type: "stop" });
    await sleep(300);
  }
  return out;
}

export async function runFanout(
  o: FanoutOptions,
): Promise<{ points: FanoutPoint[]; srtp: SrtpCost; floorUs: number }> {
  const log = o.log ?? ((l: string) => console.log(l));
  const shape = streamShape(o.bitrate);
  const ppsPerListener = shape.videoPps + shape.audioPps;
  const forwardings = o.forwarding ?? ["own"];
  log(
    `\n## 3. Media fan-out: 1 publisher, VP8 ${shape.videoPacketSizes.length} packets/frame x 30 fps + Opus 50/s (${ppsPerListener} packets/s, ~${fmt(o.bitrate / 1e6, 2)} Mbit/s), L = ${o.listeners.join(", ")}, ${o.rounds} x ${o.durationMs} ms windows` +
      (forwardings.length > 1
        ? `; media paths ${forwardings.join(" and ")} (MEDIA_FORWARDING/MEDIA_RECEIVE), one server each, windows alternated`
        : ""),
  );
  const srtp = srtpBaseline(o.bitrate, o.srtpPackets ?? 20_000);
  log(
    `baseline (b): node:crypto SRTP protect of the same packet mix, new cipher per packet: AES-GCM (what werift peers negotiate) ${fmt(srtp.gcm)} us/packet, AES-CM+HMAC-SHA1-80 ${fmt(srtp.cm)} us; with keys reused as KeyObjects: GCM ${fmt(srtp.gcmKeyObject)} us, CM ${fmt(srtp.cmKeyObject)} us`,
  );
  const floorUs = await forwardFloor(o.bitrate, o.srtpPackets ?? 20_000);
  log(
    `floor (c): a Node forwarding path, AES-128-GCM protect with a KeyObject + one dgram send to loopback per packet, same mix: ${fmt(floorUs)} us/packet (sender thread CPU)`,
  );
  const variants = o.srtp ?? [defaultSrtp()];
  const points: FanoutPoint[] = [];
  const perProcess = o.perProcess ?? 25;
  for (const L of o.listeners) {
    for (const variant of variants) {
      // werift's ciphers compared with the node:crypto protect that uses keys the same way.
      const srtpFloor = variant === "cache" ? srtp.gcmKeyObject : srtp.gcm;
      const servers: MeasuredProcess[] = [];
      const procs: MediaProc[] = [];
      try {
        for (const forwarding of forwardings) {
          servers.push(
            await spawnMeasured({
              role: "server",
              env: {
                ...MEDIA_ENV,
                ...srtpEnv(variant),
                ...pathEnv(forwarding),
                ROOM_MAX_MEMBERS: String(Math.max(8, L + 2 + o.rounds)),
              },
              ...(o.cpuProfDir ? { cpuProfDir: o.cpuProfDir } : {}),
            }),
          );
        }
        const S = servers.length;
        if (o.cpuProfDir)
          log(
            `CPU profiles: ${servers.map((sv, i) => `server pid ${sv.pid} = forwarding ${forwardings[i]}`).join(", ")}`,
          );
        const spawned = await Promise.all(
          range(S + 1 + Math.ceil((L * S) / perProcess)).map(() =>
            MediaProc.spawn(undefined, srtpEnv(variant)),
          ),
        );
        procs.push(...spawned);
        const pubs = spawned.slice(0, S);
        const [bare, ...lps] = spawned.slice(S) as [MediaProc, ...MediaProc[]];
        for (const [i, server] of servers.entries()) {
          await (pubs[i] as MediaProc).join(
            server.url,
            [{ roomId: "fanout", userId: "publisher", publish: true }],
            o.bitrate,
          );
          await Promise.all(
            lps.map((p, k) => {
              const members: MemberSpec[] = range(L)
                .filter((j) => (j + i * L) % lps.length === k)
                .map((j) => ({ roomId: "fanout", userId: `listener-${j}`, publish: false }));
              return members.length > 0 ? p.join(server.url, members, o.bitrate) : Promise.resolve();
            }),
          );
          // One server's handshakes at a time: on 2 busy cores, 100+ at once miss ICE/DTLS timeouts.
          await waitFor(lps, "connectedPcs", (i + 1) * L, `fan-out L=${L}`, 60_000 + L * 1000);
        }
        await connectBare(bare, lps, L, o.bitrate);
        await warmUpAll(pubs, bare, lps, L, `fan-out L=${L}`);
        const measured = await measureServersVsBare(
          servers.map((server, i) => ({ server, gen: [pubs[i] as MediaProc] })),
          bare,
          lps,
          L,
          o,
        );
        const late: { join: number[]; connected: number[]; offer: number[]; handshake: number[] }[] = [];
        for (const [i, server] of servers.entries()) {
          late.push(
            await lateListeners(
              pubs[i] as MediaProc,
              lps[0] as MediaProc,
              server.url,
              o.rounds,
              o.bitrate,
              String(i),
            ),
          );
        }
        for (const [i, forwarding] of forwardings.entries()) {
          const point: FanoutPoint = {
            listeners: L,
            srtp: variant,
            forwarding,
            ...(measured[i] as ServerVsBare),
            lateJoinMs: late[i]?.join ?? [],
            lateConnectedMs: late[i]?.connected ?? [],
            lateOfferMs: late[i]?.offer ?? [],
            lateHandshakeMs: late[i]?.handshake ?? [],
          };
          points.push(point);
          // The server installs the key cache only on werift SRTP paths (own-egress, werift); peers always.
          const cached =
            forwarding === "own" || forwarding === "own-srtp"
              ? "SRTP key cache in the peers"
              : "SRTP key cache";
          const tag = `${variant === "cache" ? cached : "stock werift SRTP"}, forwarding ${forwarding}`;
          log(`\nL = ${L} (${tag})`);
          const rows = serverVsBareRows(point);
          const lateRows = [
            spreadRow("late listener: join to first video", "ms", point.lateJoinMs, 0),
            spreadRow("  join to the server's offer", "ms", point.lateOfferMs, 0),
            spreadRow("  offer to connected (ICE + DTLS)", "ms", point.lateHandshakeMs, 0),
            spreadRow("  connected to first video", "ms", point.lateConnectedMs, 0),
          ];
          log(table(SPREAD_HEADER, [...rows.perPacket, ...rows.throughput, ...rows.rest, ...lateRows]));
          const { su, bu, sm, bm, packetsPerSec, cpuPct, lossPct } = medians(point);
          log(
            `SUMMARY fan-out L=${L}${variants.length > 1 || forwardings.length > 1 ? ` [${tag}]` : ""}: server ${fmt(su)} us/packet = ${fmt(ratio(su, bu), 2)}x the bare werift floor (${fmt(bu)} us; target <= 1.3x: ${verdict(ratio(su, bu) <= 1.3)}; minus idle CPU ${fmt(sm)} vs ${fmt(bm)} us = ${fmt(ratio(sm, bm), 2)}x), = ${fmt(ratio(su, srtpFloor), 1)}x node:crypto SRTP-GCM protect (${fmt(srtpFloor)} us), = ${fmt(ratio(su, floorUs), 1)}x the Node forwarding floor (${fmt(floorUs)} us); ${fmt(packetsPerSec)} packets/s at ${fmt(cpuPct)} % CPU, loss ${fmt(lossPct, 2)} % (max ${fmt(Math.max(...point.server.map((w) => w.lossPct)), 2)} %); late listener's first video ${fmt(spread(point.lateJoinMs).median, 0)} ms after its join (max ${fmt(Math.max(...point.lateJoinMs), 0)})`,
          );
        }
      } finally {
        await Promise.all(procs.map((p) => p.close()));
        await Promise.all(servers.map((s) => s.close()));
      }
    }
  }
  const pct = (a: number, b: number) => `${b <= a ? "-" : "+"}${fmt((Math.abs(b - a) / a) * 100, 0)} %`;
  if (variants.length > 1) {
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
  for (const base of forwardings.filter((f) => f !== "own")) {
    if (!forwardings.includes("own")) break;
    for (const L of o.listeners) {
      for (const variant of variants) {
        const w = points.find((p) => p.listeners === L && p.srtp === variant && p.forwarding === base);
        const own = points.find((p) => p.listeners === L && p.srtp === variant && p.forwarding === "own");
        if (!w || !own) continue;
        const a = medians(w);
        const b = medians(own);
        const perRound = own.server.map((x, r) =>
          ratio(x.usPerPacket, w.server[r]?.usPerPacket ?? Number.NaN),
        );
        log(
          `SUMMARY own forwarding L=${L} vs ${base}: server ${fmt(a.su)} -> ${fmt(b.su)} us/packet (${pct(a.su, b.su)}; own/${base} per round ${perRound.map((x) => fmt(x, 2)).join(", ")}), CPU ${fmt(a.cpuPct)} -> ${fmt(b.cpuPct)} %, loss ${fmt(a.lossPct, 2)} -> ${fmt(b.lossPct, 2)} %; own = ${fmt(ratio(b.su, floorUs), 1)}x the Node floor`,
        );
      }
    }
  }
  if (points.length > 0) {
    // Largest measured L without loss (< 0.5 %) whose server CPU stayed under one core
    // (with the last variant measured, the server's default when comparing).
    const last = variants[variants.length - 1];
    const lastFwd = forwardings[forwardings.length - 1];
    const mine = points.filter((p) => p.srtp === last && p.forwarding === lastFwd);
    const ok = mine.filter(
      (p) => median(p.server, (w) => w.lossPct) < 0.5 && median(p.server, (w) => w.cpuPct) < 100,
    );
    const largest = ok.length > 0 ? Math.max(...ok.map((p) => p.listeners)) : 0;
    const top = mine.at(-1) as FanoutPoint;
    const { su: us, bu: bareUs } = medians(top);
    const perCore = Math.floor(1e6 / (us * ppsPerListener));
    const barePerCore = Math.floor(1e6 / (bareUs * ppsPerListener));
    log(
      `\nSUMMARY fan-out: largest measured L without loss ${largest}; at ${fmt(us)} us/packet one core would carry ~${perCore} listeners of this ${ppsPerListener} packets/s stream (bare werift floor: ~${barePerCore}); target >= 100 on one core: ${verdict(perCore >= 100)}${Math.max(...o.listeners) < 100 ? " (extrapolated: run --listeners 100 to measure it)" : ""}`,
    );
  }
  return { points, srtp, floorUs };
}

/** Floor (c) over the stream's packet mix, median of 3 runs. */
async function forwardFloor(bitrate: number, packets: number): Promise<number> {
  const shape = streamShape(bitrate);
  const sizes: number[] = [];
  for (let f = 0; f < 30; f++) sizes.push(...shape.videoPacketSizes);
  for (let a = 0; a < shape.audioPps; a++) sizes.push(80);
  const runs: number[] = [];
  for (let i = 0; i < 3; i++) runs.push(await nodeForwardFloorUs(sizes, packets));
  return spread(runs).median;
}

/** Every server's publisher, then the bare floor, warmed up until every listener got video. */
async function warmUpAll(pubs: MediaProc[], bare: MediaProc, lps: MediaProc[], n: number, what: string) {
  const S = pubs.length;
  await waitFor(lps, "connectedPcs", (S + 1) * n, what, 60_000 + n * S * 1000);
  let want = 0;
  for (const gen of [...pubs.map((p) => [p]), [bare]]) {
    want += n;
    await Promise.all(gen.map((g) => g.call({ type: "start" })));
    await waitFor(lps, "receivingPcs", want, what, 20_000 + n * 200);
    await Promise.all(gen.map((g) => g.call({ type: "stop" })));
  }
  await sleep(500);
}

export interface RoomsPoint extends ServerVsBare {
  rooms: number;
  forwarding: Forwarding;
}

export async function runRooms(o: RoomsOptions): Promise<RoomsPoint[]> {
  const log = o.log ?? ((l: string) => console.log(l));
  const shape = streamShape(o.bitrate);
  const forwardings = o.forwarding ?? ["own"];
  log(
    `\n## 4. Rooms at scale: R rooms of 4 members, all publishing ~${fmt(o.bitrate / 1e6, 2)} Mbit/s, each receiving the other 3; R = ${o.roomCounts.join(", ")}, ${o.rounds} x ${o.durationMs} ms windows` +
      (forwardings.length > 1
        ? `; forwarding ${forwardings.join(" and ")}, one server each, windows alternated`
        : ""),
  );
  const out: RoomsPoint[] = [];
  for (const R of o.roomCounts) {
    const servers: MeasuredProcess[] = [];
    const procs: MediaProc[] = [];
    try {
      for (const forwarding of forwardings) {
        servers.push(
          await spawnMeasured({
            role: "server",
            env: { ...MEDIA_ENV, ROOM_MAX_MEMBERS: "8", ...pathEnv(forwarding) },
            ...(o.cpuProfDir ? { cpuProfDir: o.cpuProfDir } : {}),
          }),
        );
      }
      if (o.cpuProfDir)
        log(
          `CPU profiles: ${servers.map((sv, i) => `server pid ${sv.pid} = forwarding ${forwardings[i]}`).join(", ")}`,
        );
      const nProcs = Math.min(4, Math.max(1, Math.ceil(R / 3)));
      const bare = await MediaProc.spawn();
      procs.push(bare);
      const mpsPer: MediaProc[][] = [];
      for (const server of servers) {
        const mps = await Promise.all(range(nProcs).map(() => MediaProc.spawn()));
        procs.push(...mps);
        mpsPer.push(mps);
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
        await waitFor(mps, "connectedPcs", R * 12, `rooms R=${R}`, 60_000 + R * 12 * 1000);
      }
      const allMps = mpsPer.flat();
      const streams = R * 12;
      await connectBare(bare, mpsPer[0] as MediaProc[], streams, o.bitrate);
      const what = `rooms R=${R}`;
      await waitFor(allMps, "connectedPcs", (servers.length + 1) * streams, what, 60_000 + streams * 1000);
      let want = 0;
      for (const gen of [...mpsPer, [bare]]) {
        want += streams;
        await Promise.all(gen.map((g) => g.call({ type: "start" })));
        await waitFor(allMps, "receivingPcs", want, what, 20_000 + streams * 200);
        await Promise.all(gen.map((g) => g.call({ type: "stop" })));
      }
      await sleep(500);
      // Each generated packet of a member reaches the 3 others; each bare packet all the bare streams.
      const measured = await measureServersVsBare(
        servers.map((server, i) => ({ server, gen: mpsPer[i] as MediaProc[] })),
        bare,
        allMps,
        { server: 3, bare: streams },
        o,
      );
      for (const [i, forwarding] of forwardings.entries()) {
        const point: RoomsPoint = { rooms: R, forwarding, ...(measured[i] as ServerVsBare) };
        out.push(point);
        log(
          `\nR = ${R} (${R * 4} publishers, ${streams} forwarded streams of ${shape.videoPps + shape.audioPps} packets/s${forwardings.length > 1 ? `; forwarding ${forwarding}` : ""})`,
        );
        const rows = serverVsBareRows(point);
        log(table(SPREAD_HEADER, [...rows.throughput, ...rows.perPacket, ...rows.rest]));
        const { su, bu, sm, bm, packetsPerSec, cpuPct, lossPct } = medians(point);
        log(
          `SUMMARY rooms R=${R}${forwardings.length > 1 ? ` [forwarding ${forwarding}]` : ""}: ${fmt(packetsPerSec)} forwarded packets/s at ${fmt(cpuPct)} % server CPU; ${fmt(su)} us/packet = ${fmt(ratio(su, bu), 2)}x the bare werift floor for the same packet count (${fmt(bu)} us; minus idle CPU ${fmt(sm)} vs ${fmt(bm)} us = ${fmt(ratio(sm, bm), 2)}x); loss ${fmt(lossPct, 2)} %`,
        );
      }
      for (const base of forwardings.filter((f) => f !== "own")) {
        const w = out.find((p) => p.rooms === R && p.forwarding === base);
        const own = out.find((p) => p.rooms === R && p.forwarding === "own");
        if (w && own) {
          const a = medians(w);
          const b = medians(own);
          const perRound = own.server.map((x, r) =>
            ratio(x.usPerPacket, w.server[r]?.usPerPacket ?? Number.NaN),
          );
          log(
            `SUMMARY own forwarding rooms R=${R} vs ${base}: server ${fmt(a.su)} -> ${fmt(b.su)} us/packet (own/${base} ${fmt(ratio(b.su, a.su), 2)}; per round ${perRound.map((x) => fmt(x, 2)).join(", ")}), CPU ${fmt(a.cpuPct)} -> ${fmt(b.cpuPct)} %, loss ${fmt(a.lossPct, 2)} -> ${fmt(b.lossPct, 2)} %`,
          );
        }
      }
    } finally {
      await Promise.all(procs.map((p) => p.close()));
      await Promise.all(servers.map((s) => s.close()));
    }
  }
  return out;
}
