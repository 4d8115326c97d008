/**
 * `npm run bench [-- options]`: the benchmark suite of issue 5. Each scenario prints a table of
 * min/median/max over rounds and a SUMMARY line comparing with a baseline measured in the same run.
 * Not part of `npm test`; test/integration/bench-smoke.test.ts runs every scenario at tiny size.
 */
import { cpus, totalmem } from "node:os";
import { parseArgs } from "node:util";
import { runJoinStorm } from "./scenarios/join-storm.ts";
import type { Forwarding, SrtpVariant } from "./scenarios/media.ts";
import { runRelay } from "./scenarios/relay.ts";

const HELP = `usage: npm run bench -- [options]

  --only LIST          scenarios to run, comma-separated: relay,join,fanout,rooms,peers,simulcast (default
                       all; peers needs Debian's janus and root, and skips saying why without them)
  --rounds N           rounds per figure (default 3)
  --cpu-prof DIR       write V8 CPU profiles of the measured server processes into DIR
  --stock-srtp         media scenarios without the server's SRTP key cache (src/media/werift/srtp-key-cache.ts),
                       in the server and in every werift peer process: werift's SRTP as shipped
  --srtp-compare       fanout: measure each L twice in the same run, stock werift SRTP then the key cache
  --forwarding LIST    fanout, rooms: media paths to measure, comma-separated: own (default), own-srtp (own
                       SRTP receive, werift routes: MEDIA_RECEIVE=own-srtp), own-egress (own egress, werift
                       decrypts publishers: MEDIA_RECEIVE=werift), werift (MEDIA_FORWARDING=werift),
                       own-youngN (own, with N MiB V8 semi-spaces instead of npm start's cap; 16 = V8's default);
                       with several, one server per path and their windows alternated
  relay:  --pairs K (20)  --window W (8)  --round-ms MS (2000)  --payload BYTES (100)
          --relay-action sendMessage|exchangeCandidate (sendMessage)
  join:   --join-sizes LIST (1000; e.g. 1000,10000)  --join-rate R (1000)  --join-concurrency C (64)
          --idle-ms MS (1000)
  fanout: --listeners LIST (1,10,50)  --fanout-ms MS (3000)  --bitrate BPS (1000000)
  rooms:  --room-counts LIST (2,5)  --rooms-ms MS (3000)
  peers:  --peer-listeners LIST (10,25,50)  --fanout-ms MS, --bitrate BPS as fanout
  simulcast: --simulcast-listeners N (10)  --simulcast-ms MS (4000)
  -h, --help`;

const { values } = parseArgs({
  options: {
    only: { type: "string", default: "relay,join,fanout,rooms,peers,simulcast" },
    rounds: { type: "string", default: "3" },
    "cpu-prof": { type: "string" },
    "stock-srtp": { type: "boolean", default: false },
    "srtp-compare": { type: "boolean", default: false },
    forwarding: { type: "string", default: "own" },
    pairs: { type: "string", default: "20" },
    window: { type: "string", default: "8" },
    "round-ms": { type: "string", default: "2000" },
    payload: { type: "string", default: "100" },
    "relay-action": { type: "string", default: "sendMessage" },
    "join-sizes": { type: "string", default: "1000" },
    "join-rate": { type: "string", default: "1000" },
    "join-concurrency": { type: "string", default: "64" },
    "idle-ms": { type: "string", default: "1000" },
    listeners: { type: "string", default: "1,10,50" },
    "fanout-ms": { type: "string", default: "3000" },
    bitrate: { type: "string", default: "1000000" },
    "room-counts": { type: "string", default: "2,5" },
    "peer-listeners": { type: "string", default: "10,25,50" },
    "rooms-ms": { type: "string", default: "3000" },
    "simulcast-listeners": { type: "string", default: "10" },
    "simulcast-ms": { type: "string", default: "4000" },
    help: { type: "boolean", short: "h", default: false },
  },
  strict: true,
});
if (values.help) {
  console.log(HELP);
  process.exit(0);
}
const int = (name: string, v: string, min = 1): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) {
    console.error(`bench: --${name} must be an integer >= ${min}`);
    process.exit(2);
  }
  return n;
};
const ints = (name: string, v: string): number[] => v.split(",").map((s) => int(name, s.trim()));
const only = new Set(values.only.split(",").map((s) => s.trim()));
for (const s of only) {
  if (!["relay", "join", "fanout", "rooms", "peers", "simulcast"].includes(s)) {
    console.error(`bench: unknown scenario ${s}`);
    process.exit(2);
  }
}
const rounds = int("rounds", values.rounds);
const forwarding = values.forwarding.split(",").map((s) => s.trim());
for (const f of forwarding) {
  if (
    f !== "own" &&
    f !== "own-srtp" &&
    f !== "own-egress" &&
    f !== "werift" &&
    !/^own-young[1-9]\d*$/.test(f)
  ) {
    console.error("bench: --forwarding takes own, own-srtp, own-egress, werift and/or own-youngN");
    process.exit(2);
  }
}
// Children inherit the environment: the server and every werift peer process go without the cache.
if (values["stock-srtp"]) process.env.BENCH_STOCK_SRTP = "1";
const cpuProfDir = values["cpu-prof"];
const relayAction = values["relay-action"];
if (relayAction !== "sendMessage" && relayAction !== "exchangeCandidate") {
  console.error("bench: --relay-action must be sendMessage or exchangeCandidate");
  process.exit(2);
}

const cpu = cpus()[0];
console.log(
  `# webrtcsignaling benchmarks  ${new Date().toISOString()}\n` +
    `node ${process.version}, ${cpus().length} x ${cpu?.model ?? "?"}, ${Math.round(totalmem() / 2 ** 30)} GiB RAM, ${process.platform}/${process.arch}` +
    (cpuProfDir ? `\nCPU profiles of the measured processes go to ${cpuProfDir}` : "") +
    (values["stock-srtp"]
      ? "\nSTOCK SRTP: werift's SRTP as shipped, without the server's key cache (src/media/werift/srtp-key-cache.ts)"
      : values["srtp-compare"]
        ? "\nfan-out measured with stock werift SRTP and with the server's SRTP key cache, one after the other"
        : ""),
);

const started = performance.now();
if (only.has("relay")) {
  await runRelay({
    pairs: int("pairs", values.pairs),
    window: int("window", values.window),
    roundMs: int("round-ms", values["round-ms"], 100),
    rounds,
    payloadBytes: int("payload", values.payload, 0),
    action: relayAction,
    ...(cpuProfDir ? { cpuProfDir } : {}),
  });
}
if (only.has("join")) {
  await runJoinStorm({
    sizes: ints("join-sizes", values["join-sizes"]),
    rounds,
    rate: int("join-rate", values["join-rate"]),
    concurrency: int("join-concurrency", values["join-concurrency"]),
    roomSize: 8,
    idleMs: int("idle-ms", values["idle-ms"], 0),
    ...(cpuProfDir ? { cpuProfDir } : {}),
  });
}
if (only.has("fanout") || only.has("rooms")) {
  const media = await import("./scenarios/media.ts");
  if (only.has("fanout")) {
    await media.runFanout({
      listeners: ints("listeners", values.listeners),
      rounds,
      durationMs: int("fanout-ms", values["fanout-ms"], 500),
      bitrate: int("bitrate", values.bitrate, 10_000),
      ...(cpuProfDir ? { cpuProfDir } : {}),
      ...(values["srtp-compare"] ? { srtp: ["stock", "cache"] satisfies SrtpVariant[] } : {}),
      forwarding: forwarding as Forwarding[],
    });
  }
  if (only.has("rooms")) {
    await media.runRooms({
      roomCounts: ints("room-counts", values["room-counts"]),
      rounds,
      durationMs: int("rooms-ms", values["rooms-ms"], 500),
      bitrate: int("bitrate", values.bitrate, 10_000),
      forwarding: forwarding as Forwarding[],
      ...(cpuProfDir ? { cpuProfDir } : {}),
    });
  }
}
if (only.has("peers")) {
  const peers = await import("./scenarios/peers.ts");
  const peerOptions = {
    listeners: ints("peer-listeners", values["peer-listeners"]),
    rounds,
    durationMs: int("fanout-ms", values["fanout-ms"], 500),
    bitrate: int("bitrate", values.bitrate, 10_000),
  };
  if (process.env.BENCH_IN_PEERS_NETNS === "1") {
    await peers.runPeers(peerOptions);
  } else {
    const why = peers.peersUnavailable();
    if (why) console.log(`\n## 5. Peers (Janus): skipped: ${why}`);
    else {
      // Janus skips loopback interfaces: the scenario runs again inside a namespace of its own.
      const args: string[] = [];
      const argv = process.argv.slice(1);
      for (let i = 0; i < argv.length; i++) {
        const a = argv[i] as string;
        if (a === "--only") i++;
        else if (!a.startsWith("--only=")) args.push(a);
      }
      const code = await peers.runPeersInNetns([...args, "--only", "peers"]);
      if (code !== 0) console.log(`peers scenario exited with ${code}`);
    }
  }
}
if (only.has("simulcast")) {
  const { runSimulcast } = await import("./scenarios/simulcast.ts");
  await runSimulcast({
    listeners: int("simulcast-listeners", values["simulcast-listeners"]),
    rounds,
    windowMs: int("simulcast-ms", values["simulcast-ms"], 500),
  });
}
console.log(`\nbench finished in ${((performance.now() - started) / 1000).toFixed(0)} s`);
process.exit(0);
