/**
 * `npm test`: runs the phases one after the other (stopping at the first failure, as `a && b`
 * would), each through its own npm script so that its output is exactly what `npm run <phase>`
 * prints, then ends with a short summary: what passed, what was skipped or left as todo and why,
 * and what failed. The node test runner's own closing lines stay above it, unchanged.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { SummaryLine } from "./summary-reporter.ts";

const ALL_PHASES = ["lint", "typecheck", "test:unit", "test:integration", "test:e2e", "test:impairment"];
/** TEST_PHASES=test:unit,test:e2e runs only those (for trying the runner itself). */
const PHASES = process.env.TEST_PHASES ? process.env.TEST_PHASES.split(",") : ALL_PHASES;

interface PhaseResult {
  phase: string;
  ok: boolean;
  seconds: number;
  lines: SummaryLine[];
}

const dir = mkdtempSync(join(tmpdir(), "wrs-test-summary-"));
const npm = process.env.npm_execpath;
const results: PhaseResult[] = [];
try {
  for (const phase of PHASES) {
    const file = join(dir, `${phase.replace(":", "-")}.jsonl`);
    const started = performance.now();
    const run = npm
      ? spawnSync(process.execPath, [npm, "run", "--silent", phase], {
          stdio: "inherit",
          env: { ...process.env, TEST_SUMMARY_FILE: file },
        })
      : spawnSync("npm", ["run", "--silent", phase], {
          stdio: "inherit",
          env: { ...process.env, TEST_SUMMARY_FILE: file },
        });
    const lines = readLines(file);
    const ok = run.status === 0;
    results.push({ phase, ok, seconds: (performance.now() - started) / 1000, lines });
    if (!ok) break;
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
process.stdout.write(summary(results));
process.exitCode = results.every((r) => r.ok) && results.length === PHASES.length ? 0 : 1;

function readLines(file: string): SummaryLine[] {
  let text = "";
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return [];
  }
  return text
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as SummaryLine);
}

function summary(all: PhaseResult[]): string {
  const out: string[] = ["", "── npm test: summary ──"];
  let passed = 0;
  const skipped: string[] = [];
  const todo: string[] = [];
  const failed: string[] = [];
  for (const r of all) {
    const count = (kind: SummaryLine["kind"]) =>
      r.lines.filter((l) => l.kind === kind && l.type === "test").length;
    const p = count("pass");
    passed += p;
    const skippedTests = r.lines.filter((l) => l.kind === "skip" && l.type === "test").length;
    const skippedSuites = r.lines.filter((l) => l.kind === "skip" && l.type === "suite").length;
    const parts = r.lines.length || r.phase.startsWith("test:") ? [`${p} passed`] : [];
    if (skippedTests) parts.push(`${skippedTests} skipped`);
    if (skippedSuites) parts.push(`${skippedSuites} suite${skippedSuites > 1 ? "s" : ""} skipped`);
    if (count("todo")) parts.push(`${count("todo")} todo`);
    if (count("fail")) parts.push(`${count("fail")} FAILED`);
    const verdict = r.ok ? "ok" : "FAILED";
    out.push(
      `${r.phase.padEnd(17)}${verdict.padEnd(7)}${parts.join(", ").padEnd(48)}${r.seconds.toFixed(0)} s`,
    );
    for (const l of r.lines) {
      const where = `${l.file ? `${l.file}: ` : ""}${l.name}`;
      if (l.kind === "skip")
        skipped.push(
          `  - ${where}${l.type === "suite" ? " (whole suite)" : ""}: ${l.reason || "no reason given"}`,
        );
      else if (l.kind === "todo") todo.push(`  - ${where}: ${l.reason || "no reason given"}`);
      else if (
        l.kind === "fail" &&
        (l.type === "test" || !r.lines.some((x) => x.kind === "fail" && x.type === "test"))
      )
        failed.push(`  - ${where}: ${l.reason}`);
    }
  }
  const notRun = PHASES.slice(all.length);
  if (skipped.length) out.push("skipped, and why:", ...skipped);
  if (todo.length) out.push("todo (known gaps, not failures):", ...todo);
  if (failed.length) out.push("failed:", ...failed);
  const bad = all.find((r) => !r.ok);
  if (bad) {
    out.push(`RESULT: FAILED in ${bad.phase}${notRun.length ? `; not run: ${notRun.join(", ")}` : ""}`);
  } else {
    const extra = [
      skipped.length ? `${skipped.length} skipped` : "",
      todo.length ? `${todo.length} todo` : "",
    ]
      .filter(Boolean)
      .join(", ");
    const checks = ["lint", "typecheck"].filter((p) => PHASES.includes(p));
    const only = process.env.TEST_PHASES ? ` (only TEST_PHASES=${process.env.TEST_PHASES})` : "";
    const clean = checks.length ? `; ${checks.join(" and ")} clean` : "";
    out.push(`RESULT: all ${passed} tests passed${extra ? ` (${extra}, listed above)` : ""}${clean}${only}`);
  }
  return `${out.join("\n")}\n`;
}
