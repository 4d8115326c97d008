/**
 * `node bench/profile-top.ts <file.cpuprofile | dir> [--top N] [--from S] [--to S]`: the hottest
 * functions of V8 CPU profiles (self time), and self time summed by package/area, to name a hot path's
 * top costs. `--from`/`--to` (seconds since the profile started) count one stretch only, e.g. a long
 * measuring window without the start-up; `node bench/profile-timeline.ts` shows where that is.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { table } from "./lib/stats.ts";

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}
interface Profile {
  nodes: Node[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { top: { type: "string", default: "20" }, from: { type: "string" }, to: { type: "string" } },
});
const files = positionals.flatMap((p) =>
  statSync(p).isDirectory()
    ? readdirSync(p)
        .filter((f) => f.endsWith(".cpuprofile"))
        .map((f) => join(p, f))
    : [p],
);
if (files.length === 0) {
  console.error("usage: node bench/profile-top.ts <file.cpuprofile | dir> [--top N] [--from S] [--to S]");
  process.exit(2);
}

function area(url: string, name: string): string {
  if (name === "(garbage collector)") return "GC";
  if (name === "(idle)" || name === "(program)") return name;
  if (!url) return name.startsWith("(") ? name : "native/builtin";
  const nm = url.match(/node_modules\/((?:@[^/]+\/)?[^/]+)/);
  if (nm) return nm[1] as string;
  if (url.startsWith("node:")) return url.replace(/^node:(internal\/)?/, "node:").split("/")[0] as string;
  const src = url.match(/\/(src\/[^/]+|bench|test)\//);
  return src ? (src[1] as string) : "other";
}

for (const file of files) {
  const p = JSON.parse(readFileSync(file, "utf8")) as Profile;
  const self = new Map<number, number>();
  const deltas = p.timeDeltas ?? [];
  const samples = p.samples ?? [];
  const from = p.startTime + Number(values.from ?? 0) * 1e6;
  const to = values.to === undefined ? p.endTime : p.startTime + Number(values.to) * 1e6;
  let t = p.startTime;
  for (let i = 0; i < samples.length; i++) {
    t += deltas[i] ?? 0;
    if (t < from || t > to) continue;
    const id = samples[i] as number;
    self.set(id, (self.get(id) ?? 0) + (deltas[i] ?? 0));
  }
  const byFn = new Map<string, number>();
  const byArea = new Map<string, number>();
  let total = 0;
  let idle = 0;
  for (const n of p.nodes) {
    const us = self.get(n.id) ?? 0;
    const { functionName, url, lineNumber } = n.callFrame;
    if (functionName === "(idle)") {
      idle += us;
      continue;
    }
    total += us;
    const short = url.replace(/^file:\/\/.*?\/(node_modules|src|bench|test)\//, "$1/");
    const key = `${functionName || "(anonymous)"}  ${short}${url ? `:${lineNumber + 1}` : ""}`;
    byFn.set(key, (byFn.get(key) ?? 0) + us);
    const a = area(url, functionName);
    byArea.set(a, (byArea.get(a) ?? 0) + us);
  }
  const top = Number(values.top);
  const pct = (us: number) => `${((us / total) * 100).toFixed(1)} %`;
  console.log(
    `\n# ${file}: ${(total / 1e6).toFixed(2)} s busy, ${(idle / 1e6).toFixed(2)} s idle over ${((Math.min(p.endTime, to) - from) / 1e6).toFixed(1)} s`,
  );
  console.log(
    table(
      ["area (self time)", "share"],
      [...byArea.entries()]
        .sort((a, b) => b[1] - a[1])
        .slice(0, 12)
        .map(([k, v]) => [k, pct(v)]),
    ),
  );
  console.log();
  console.log(
    table(
      ["function (self time)", "share"],
      [...byFn.entries()]
        .sort((a, b) => b[1] - a[1])
        .slice(0, top)
        .map(([k, v]) => [k, pct(v)]),
    ),
  );
}
