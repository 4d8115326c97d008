/**
 * `node bench/profile-timeline.ts <file.cpuprofile> [--step S]`: busy share of a V8 CPU profile per
 * S-second step (default 3), to find a steady measuring window for `profile-top.ts --from/--to`.
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";

interface Profile {
  nodes: { id: number; callFrame: { functionName: string } }[];
  startTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { step: { type: "string", default: "3" } },
});
const file = positionals[0];
if (file === undefined) {
  console.error("usage: node bench/profile-timeline.ts <file.cpuprofile> [--step S]");
  process.exit(2);
}
const p = JSON.parse(readFileSync(file, "utf8")) as Profile;
const idle = new Set(p.nodes.filter((n) => n.callFrame.functionName === "(idle)").map((n) => n.id));
const step = Number(values.step) * 1e6;
const busy: number[] = [];
const samples = p.samples ?? [];
const deltas = p.timeDeltas ?? [];
let t = p.startTime;
for (let i = 0; i < samples.length; i++) {
  const dt = deltas[i] ?? 0;
  t += dt;
  if (idle.has(samples[i] as number)) continue;
  const b = Math.floor((t - p.startTime) / step);
  busy[b] = (busy[b] ?? 0) + dt;
}
for (let b = 0; b < busy.length; b++) {
  const share = ((busy[b] ?? 0) / step) * 100;
  console.log(
    `${String((b * step) / 1e6).padStart(5)} s  ${share.toFixed(1).padStart(5)} %  ${"#".repeat(Math.round(share / 2))}`,
  );
}
