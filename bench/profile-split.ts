/**
 * `node bench/profile-split.ts <file.cpuprofile>`: a media server's busy time split by what the
 * stack was doing (per sample, first match wins): sending datagrams, our per-listener forwarding,
 * the publishers' SRTP decrypt (own unprotect or werift's) and werift's RTP receiver, timers, sender reports, DTLS handshakes, module loading,
 * GC; the rest (ICE/STUN consent checks, RTCP handling, NACK resends, signaling) is "other".
 */
import { readFileSync } from "node:fs";

interface Node {
  id: number;
  callFrame: { functionName: string; url: string };
  children?: number[];
}
const file = process.argv[2];
if (!file) {
  console.error("usage: node bench/profile-split.ts <file.cpuprofile>");
  process.exit(2);
}
const p = JSON.parse(readFileSync(file, "utf8")) as {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
};
const byId = new Map(p.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const rules: [string, (names: string[]) => boolean][] = [
  ["dgram send (sendto, after dgram's nextTick)", (s) => s.some((x) => /^(doSend|afterDns)@/.test(x))],
  [
    "our forwarding (per listener: rewrite, SRTP protect, history)",
    (s) => s.some((x) => x.startsWith("#forward@")),
  ],
  ["GC", (s) => (s[0] ?? "").startsWith("(garbage collector)")],
  ["(program)", (s) => (s[0] ?? "").startsWith("(program)")],
  ["module loading", (s) => s.some((x) => /loader|compile|wrapSafe|run_main|executeUserEntryPoint/.test(x))],
  ["DTLS handshakes", (s) => s.some((x) => /^flight|nacl|[Hh]andshake|Flight/.test(x))],
  [
    "own SRTP unprotect (publishers' packets)",
    (s) => s.some((x) => x.startsWith("unprotect@srtp-context.ts")),
  ],
  ["werift SRTP/SRTCP decrypt", (s) => s.some((x) => /^(decryptRtp|decrypt|decryptRTCP)@/.test(x))],
  [
    "werift RTP receiver (excluding decrypt and our forwarding)",
    (s) => s.some((x) => /^(handleRTP|routeRtp)@/.test(x)),
  ],
  ["our sender reports", (s) => s.some((x) => x.startsWith("tick@listener-session.ts"))],
  ["timers (werift RTCP, ICE consent, ...)", (s) => s.some((x) => x.startsWith("processTimers@"))],
];
const buckets = new Map<string, number>();
let busy = 0;
for (let i = 0; i < p.samples.length; i++) {
  const t = p.timeDeltas[i + 1] ?? 0;
  const names: string[] = [];
  for (let id: number | undefined = p.samples[i]; id !== undefined; id = parent.get(id)) {
    const n = byId.get(id);
    if (n) names.push(`${n.callFrame.functionName}@${n.callFrame.url.split("/").pop()}`);
  }
  if ((names[0] ?? "").startsWith("(idle)")) continue;
  busy += t;
  const b = rules.find(([, match]) => match(names))?.[0] ?? "other (ICE/STUN, RTCP, NACK resends, signaling)";
  buckets.set(b, (buckets.get(b) ?? 0) + t);
}
console.log(`${file}: ${(busy / 1e6).toFixed(2)} s busy`);
for (const [k, v] of [...buckets].sort((a, b) => b[1] - a[1]))
  console.log(`${((v / busy) * 100).toFixed(1).padStart(5)} %  ${k}`);
