/**
 * `npm run load -- --url ws://host:8080/api [options]`: a load generator for any running server.
 * Members connect and join (ramped), then each sends relay messages to random members of its
 * room at a fixed rate for the duration; a progress line shows the state every second and a
 * summary ends the run. Exit status 1 when joins failed or messages were lost.
 */
import { parseArgs } from "node:util";
import type { MemberSpec } from "./lib/media-child.ts";
import { MediaProc, sumStats } from "./lib/media-proc.ts";
import { type Frame, SigClient, sleep } from "./lib/sig-client.ts";
import { fmt, latencySummary, table } from "./lib/stats.ts";
import { signTokens } from "./lib/tokens.ts";

const HELP = `usage: npm run load -- --url <ws(s)://host:port/api> [options]

  --url URL[,URL...]    the server's WebSocket endpoint (required); several (a cluster's nodes):
                        member i connects to the (i mod n)-th
  --rooms N             rooms to fill (default 10)
  --members N           members per room (default 4; the server's ROOM_MAX_MEMBERS caps it)
  --duration S          seconds of steady load after everyone joined (default 30)
  --rate R              relay messages per second per member (default 2; server default limit 50/s)
  --action A            sendMessage | exchangeCandidate (default sendMessage)
  --join-rate R         connect+join ramp, joins per second (default 200)
  --jwt-secret S        sign HS256 bearers with this secret (as the server's JWT_SECRET)
  --jwt-claim C         claim carrying the user id (default userId)
  --jwt-audience A      aud claim to put in the tokens
  --jwt-issuer I        iss claim to put in the tokens
  --bearer-prefix P     without --jwt-secret: bearer = P + member index (server in development mode)
  --room-prefix P       room id prefix (default load-<random>)
  --origin O            Origin header (for servers with ALLOWED_ORIGINS)
  --insecure            accept self-signed TLS certificates (wss)
  --media               MCU servers (ROOM_MODE=mcu): members are werift peers that publish generated
                        VP8+Opus and receive each other instead of relaying messages
  --publishers N        with --media: publishers per room (default: every member)
  --bitrate BPS         with --media: bitrate per publisher (default 500000)
  --json                also print the summary as one JSON line
  -h, --help            this text

Note: the server allows MAX_CONNECTIONS_PER_IP (default 200) sockets per client address.`;

interface Opts {
  url: string;
  /** --url split on commas: member i connects to urls[i % urls.length]. */
  urls: string[];
  rooms: number;
  members: number;
  durationS: number;
  rate: number;
  action: "sendMessage" | "exchangeCandidate";
  joinRate: number;
  secret?: string;
  claim: string;
  audience?: string;
  issuer?: string;
  bearerPrefix: string;
  roomPrefix: string;
  origin?: string;
  insecure: boolean;
  json: boolean;
  media: boolean;
  publishers: number;
  bitrate: number;
}

function parse(argv: string[]): Opts {
  const { values } = parseArgs({
    args: argv,
    options: {
      url: { type: "string" },
      rooms: { type: "string", default: "10" },
      members: { type: "string", default: "4" },
      duration: { type: "string", default: "30" },
      rate: { type: "string", default: "2" },
      action: { type: "string", default: "sendMessage" },
      "join-rate": { type: "string", default: "200" },
      "jwt-secret": { type: "string" },
      "jwt-claim": { type: "string", default: "userId" },
      "jwt-audience": { type: "string" },
      "jwt-issuer": { type: "string" },
      "bearer-prefix": { type: "string", default: "load-user-" },
      "room-prefix": { type: "string" },
      origin: { type: "string" },
      insecure: { type: "boolean", default: false },
      json: { type: "boolean", default: false },
      media: { type: "boolean", default: false },
      publishers: { type: "string" },
      bitrate: { type: "string", default: "500000" },
      help: { type: "boolean", short: "h", default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(HELP);
    process.exit(0);
  }
  const num = (name: string, v: string, min: number) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < min) throw new Error(`--${name} must be a number >= ${min}`);
    return n;
  };
  if (!values.url) throw new Error("--url is required");
  const urls = values.url.split(",").map((u) => u.trim());
  if (!urls.every((u) => /^wss?:\/\//.test(u))) throw new Error("--url must start with ws:// or wss://");
  if (values.action !== "sendMessage" && values.action !== "exchangeCandidate") {
    throw new Error("--action must be sendMessage or exchangeCandidate");
  }
  return {
    url: values.url,
    urls,
    rooms: num("rooms", values.rooms, 1),
    members: num("members", values.members, 1),
    durationS: num("duration", values.duration, 0),
    rate: num("rate", values.rate, 0),
    action: values.action,
    joinRate: num("join-rate", values["join-rate"], 1),
    ...(values["jwt-secret"] ? { secret: values["jwt-secret"] } : {}),
    claim: values["jwt-claim"],
    ...(values["jwt-audience"] ? { audience: values["jwt-audience"] } : {}),
    ...(values["jwt-issuer"] ? { issuer: values["jwt-issuer"] } : {}),
    bearerPrefix: values["bearer-prefix"],
    roomPrefix: values["room-prefix"] ?? `load-${Math.random().toString(36).slice(2, 8)}`,
    ...(values.origin ? { origin: values.origin } : {}),
    insecure: values.insecure,
    json: values.json,
    media: values.media,
    publishers:
      values.publishers === undefined ? Number(values.members) : num("publishers", values.publishers, 0),
    bitrate: num("bitrate", values.bitrate, 10_000),
  };
}

async function bearers(o: Opts, n: number, runId: string): Promise<string[]> {
  const ids = Array.from({ length: n }, (_, i) => `${o.bearerPrefix}${runId}-${i}`);
  if (!o.secret) return ids;
  if (o.claim === "userId" && !o.audience && !o.issuer) return signTokens(o.secret, ids, 24 * 3600);
  const { SignJWT } = await import("jose");
  const key = new TextEncoder().encode(o.secret);
  return Promise.all(
    ids.map((id) => {
      let jwt = new SignJWT({ [o.claim]: id }).setProtectedHeader({ alg: "HS256", typ: "JWT" }).setIssuedAt();
      if (o.audience) jwt = jwt.setAudience(o.audience);
      if (o.issuer) jwt = jwt.setIssuer(o.issuer);
      return jwt.setExpirationTime("24h").sign(key);
    }),
  );
}

interface Member {
  index: number;
  room: number;
  client?: SigClient;
  joined: boolean;
  credit: number;
}

/** Shared counters; `window` holds the latencies since the last progress line. */
class Counters {
  connectFailed = 0;
  joinFailed = 0;
  joined = 0;
  sent = 0;
  received = 0;
  errors = new Map<string, number>();
  closes = new Map<number, number>();
  joinRtt: number[] = [];
  relay: number[] = [];
  window: number[] = [];
  error(key: string): void {
    this.errors.set(key, (this.errors.get(key) ?? 0) + 1);
  }
}

function payload(o: Opts, to: string, t: number, seq: number): string {
  if (o.action === "sendMessage") return JSON.stringify({ a: "sendMessage", d: { to, message: { t, seq } } });
  return JSON.stringify({
    a: "exchangeCandidate",
    d: {
      to,
      candidate: {
        candidate: "candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host",
        sdpMid: "0",
        sdpMLineIndex: 0,
        usernameFragment: String(t),
      },
    },
  });
}

function sentAt(f: Frame): number | undefined {
  const d = f.d as { message?: { t?: unknown }; candidate?: { usernameFragment?: unknown } } | undefined;
  const t = d?.message?.t ?? d?.candidate?.usernameFragment;
  const n = Number(t);
  return Number.isFinite(n) ? n : undefined;
}

async function main(): Promise<void> {
  let o: Opts;
  try {
    o = parse(process.argv.slice(2));
  } catch (err) {
    console.error(`load: ${(err as Error).message}\n\n${HELP}`);
    process.exit(2);
  }
  const total = o.rooms * o.members;
  const runId = Math.random().toString(36).slice(2, 8);
  const tokens = await bearers(o, total, runId);
  if (o.media) return runMedia(o, tokens, runId);
  const c = new Counters();
  const members: Member[] = Array.from({ length: total }, (_, i) => ({
    index: i,
    room: Math.floor(i / o.members),
    joined: false,
    credit: 0,
  }));
  const byRoom: Member[][] = Array.from({ length: o.rooms }, () => []);
  const wsOptions = {
    ...(o.origin ? { headers: { Origin: o.origin } } : {}),
    ...(o.insecure ? { rejectUnauthorized: false } : {}),
  };
  const eventName = o.action === "sendMessage" ? "eventMessage" : "eventExchangeCandidate";
  const started = performance.now();
  let phase = "joining";
  let steadyStart = 0;
  let lastLine = { t: started, sent: 0, received: 0 };
  const tty = process.stderr.isTTY;

  const progress = (final = false) => {
    const now = performance.now();
    const dt = (now - lastLine.t) / 1000;
    const l = latencySummary(c.window);
    c.window = [];
    const line =
      `[${fmt((now - started) / 1000, 1).padStart(6)} s] ${phase.padEnd(8)} joined ${c.joined}/${total}` +
      ` failed ${c.connectFailed + c.joinFailed}  sent ${c.sent} recv ${c.received}` +
      `  ${fmt((c.received - lastLine.received) / Math.max(dt, 0.001))} msg/s` +
      `  latency p50 ${fmt(l.p50)} ms p99 ${fmt(l.p99)} ms  errors ${[...c.errors.values()].reduce((a, b) => a + b, 0)}`;
    lastLine = { t: now, sent: c.sent, received: c.received };
    if (tty) process.stderr.write(`\r\x1b[2K${line}${final ? "\n" : ""}`);
    else process.stderr.write(`${line}\n`);
  };
  const ticker = setInterval(progress, 1000);

  const connectOne = async (m: Member) => {
    let client: SigClient;
    try {
      client = await SigClient.connect(o.urls[m.index % o.urls.length] as string, 15_000, wsOptions);
    } catch (err) {
      c.connectFailed++;
      c.error(`connect: ${(err as Error).message}`);
      return;
    }
    m.client = client;
    client.onEvent = (f) => {
      if (f.a === eventName) {
        c.received++;
        const t = sentAt(f);
        if (t !== undefined) {
          const ms = performance.now() - t;
          c.relay.push(ms);
          c.window.push(ms);
        }
      } else if (f.a.endsWith("R") && f.s === false) {
        c.error(`${f.a} e=${f.e}`);
      }
    };
    client.onClose = (code) => {
      m.joined = false;
      if (phase !== "closing") c.closes.set(code, (c.closes.get(code) ?? 0) + 1);
    };
    const t0 = performance.now();
    try {
      await client.join(`${o.roomPrefix}-${m.room}`, tokens[m.index] as string);
      c.joinRtt.push(performance.now() - t0);
      m.joined = true;
      c.joined++;
      byRoom[m.room]?.push(m);
    } catch (err) {
      c.joinFailed++;
      c.error(`join: ${(err as Error).message}`);
    }
  };

  // Ramp: start joins at --join-rate, without waiting for the previous ones.
  const joins: Promise<void>[] = [];
  const rampStart = performance.now();
  for (let i = 0; i < total; ) {
    const due = Math.min(total, Math.floor(((performance.now() - rampStart) * o.joinRate) / 1000) + 1);
    for (; i < due; i++) joins.push(connectOne(members[i] as Member));
    await sleep(5);
  }
  await Promise.all(joins);

  phase = "load";
  steadyStart = performance.now();
  let seq = 0;
  const receivedAtStart = c.received;
  const sentAtStart = c.sent;
  let last = performance.now();
  while (performance.now() - steadyStart < o.durationS * 1000) {
    await sleep(20);
    const now = performance.now();
    const dt = (now - last) / 1000;
    last = now;
    for (const m of members) {
      if (!m.joined || !m.client) continue;
      const peers = byRoom[m.room] as Member[];
      if (peers.length < 2) continue;
      m.credit += o.rate * dt;
      while (m.credit >= 1) {
        m.credit -= 1;
        let to = peers[Math.floor(Math.random() * peers.length)] as Member;
        if (to === m) to = peers[(peers.indexOf(m) + 1) % peers.length] as Member;
        if (!to.joined || !to.client) continue;
        m.client.sendRaw(payload(o, to.client.socketId, performance.now(), seq++));
        c.sent++;
      }
    }
  }
  phase = "draining";
  const sentInLoad = c.sent - sentAtStart;
  const drainUntil = performance.now() + 3000;
  while (c.received - receivedAtStart < sentInLoad && performance.now() < drainUntil) await sleep(50);
  const steadyS = (performance.now() - steadyStart) / 1000;
  clearInterval(ticker);
  progress(true);
  phase = "closing";
  for (const m of members) m.client?.close();

  const j = latencySummary(c.joinRtt);
  const r = latencySummary(c.relay);
  const delivered = sentInLoad === 0 ? 1 : (c.received - receivedAtStart) / sentInLoad;
  const summary = {
    url: o.url,
    rooms: o.rooms,
    membersPerRoom: o.members,
    joined: c.joined,
    connectFailed: c.connectFailed,
    joinFailed: c.joinFailed,
    joinRttP50Ms: j.p50,
    joinRttP99Ms: j.p99,
    sent: sentInLoad,
    received: c.received - receivedAtStart,
    delivered,
    msgsPerSec: (c.received - receivedAtStart) / Math.max(0.001, steadyS),
    relayP50Ms: r.p50,
    relayP99Ms: r.p99,
    errors: Object.fromEntries(c.errors),
    unexpectedCloses: Object.fromEntries(c.closes),
  };
  console.log(
    `\n${table(
      ["figure", "value"],
      [
        ["members joined", `${c.joined} / ${total} (${o.rooms} rooms x ${o.members})`],
        ["connect / join failures", `${c.connectFailed} / ${c.joinFailed}`],
        ["join RTT p50 / p99", `${fmt(j.p50)} / ${fmt(j.p99)} ms`],
        [`${o.action} sent / received`, `${sentInLoad} / ${summary.received} (${fmt(delivered * 100, 2)} %)`],
        ["relayed messages/s", fmt(summary.msgsPerSec)],
        ["relay latency p50 / p99", `${fmt(r.p50)} / ${fmt(r.p99)} ms`],
        ["error replies", JSON.stringify(summary.errors)],
        ["unexpected closes", JSON.stringify(summary.unexpectedCloses)],
      ],
    )}`,
  );
  const ok = c.connectFailed + c.joinFailed === 0 && delivered >= 0.999;
  console.log(
    `SUMMARY load: ${c.joined}/${total} joined, ${fmt(summary.msgsPerSec)} msg/s relayed, latency p99 ${fmt(r.p99)} ms, delivered ${fmt(delivered * 100, 2)} %: ${ok ? "OK" : "FAILURES"}`,
  );
  if (o.json) console.log(JSON.stringify(summary));
  await sleep(200);
  process.exit(ok ? 0 : 1);
}

/** --media: werift members publish and receive through an MCU server; reports packets and loss. */
async function runMedia(o: Opts, tokens: string[], runId: string): Promise<void> {
  const total = o.rooms * o.members;
  const procs = await Promise.all(
    Array.from({ length: Math.max(1, Math.ceil(total / 25)) }, () => MediaProc.spawn()),
  );
  const started = performance.now();
  const publishers = Math.min(o.publishers, o.members);
  // Every publisher's stream reaches every other member of its room.
  const streams = o.rooms * publishers * (o.members - 1);
  let phase = "joining";
  let last = { t: started, received: 0 };
  const progress = async (final = false) => {
    const s = await sumStats(procs);
    const now = performance.now();
    const pps = ((s.received - last.received) * 1000) / Math.max(1, now - last.t);
    last = { t: now, received: s.received };
    const line =
      `[${fmt((now - started) / 1000, 1).padStart(6)} s] ${phase.padEnd(8)} listener connections ${s.connectedPcs}/${streams} connected,` +
      ` ${s.receivingPcs} receiving  ${fmt(pps)} packets/s in  load CPU ${fmt(s.cpuUs / 1e6, 1)} s`;
    for (const e of s.errors) process.stderr.write(`\n  peer error: ${e}\n`);
    if (process.stderr.isTTY) process.stderr.write(`\r\x1b[2K${line}${final ? "\n" : ""}`);
    else process.stderr.write(`${line}\n`);
    return s;
  };
  const ticker = setInterval(() => void progress().catch(() => undefined), 1000);
  let failed = "";
  try {
    await Promise.all(
      procs.map((p, k) => {
        const members: MemberSpec[] = [];
        for (let i = k; i < total; i += procs.length) {
          const room = Math.floor(i / o.members);
          members.push({
            roomId: `${o.roomPrefix}-${room}`,
            userId: `${o.bearerPrefix}${runId}-${i}`,
            bearer: tokens[i] as string,
            publish: i % o.members < publishers,
          });
        }
        return p.join(o.urls[k % o.urls.length] as string, members, o.bitrate);
      }),
    );
    // Every listener connection up, and a short warm-up, before the counted window starts.
    phase = "connect";
    const deadline = performance.now() + 30_000 + streams * 300;
    while ((await sumStats(procs)).connectedPcs < streams && performance.now() < deadline) await sleep(250);
    phase = "warm-up";
    await Promise.all(procs.map((p) => p.call({ type: "start" })));
    await sleep(1500);
    await Promise.all(procs.map((p) => p.call({ type: "stop" })));
    await sleep(500);
    phase = "load";
    const before = await sumStats(procs);
    await Promise.all(procs.map((p) => p.call({ type: "start" })));
    const t0 = performance.now();
    await sleep(o.durationS * 1000);
    await Promise.all(procs.map((p) => p.call({ type: "stop" })));
    phase = "draining";
    await sleep(1000);
    const after = await progress(true);
    const seconds = (performance.now() - t0) / 1000;
    const sent = after.videoSent + after.audioSent - (before.videoSent + before.audioSent);
    const expected = sent * (o.members - 1);
    const received = after.received - before.received;
    const delivered = expected === 0 ? 1 : received / expected;
    console.log(
      `\n${table(
        ["figure", "value"],
        [
          ["members", `${total} (${o.rooms} rooms x ${o.members}, ${publishers} publishing per room)`],
          [
            "listener connections connected / receiving",
            `${after.connectedPcs} / ${after.receivingPcs} of ${streams}`,
          ],
          ["RTP packets sent by publishers", String(sent)],
          ["RTP packets received / expected", `${received} / ${expected} (${fmt(delivered * 100, 2)} %)`],
          ["received packets/s", fmt(received / seconds)],
          ["load generator CPU", `${fmt(after.cpuUs / 1e6, 1)} s`],
        ],
      )}`,
    );
    const ok = after.receivingPcs >= streams && delivered >= 0.99;
    console.log(
      `SUMMARY load --media: ${after.receivingPcs}/${streams} streams received, ${fmt(received / seconds)} packets/s, delivered ${fmt(delivered * 100, 2)} %: ${ok ? "OK" : "FAILURES"}`,
    );
    if (o.json) {
      console.log(
        JSON.stringify({ url: o.url, members: total, streams, sent, received, expected, delivered }),
      );
    }
    if (!ok) failed = "loss";
  } catch (err) {
    failed = (err as Error).message;
    console.error(`\nload --media: ${failed}`);
  } finally {
    clearInterval(ticker);
    await Promise.all(procs.map((p) => p.close()));
  }
  process.exit(failed ? 1 : 0);
}

main().catch((err: unknown) => {
  console.error(`load: ${(err as Error)?.stack ?? String(err)}`);
  process.exit(1);
});
