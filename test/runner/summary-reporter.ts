/**
 * A node:test reporter that prints nothing: with TEST_SUMMARY_FILE set (by test/runner/run-all.ts,
 * i.e. `npm test`), it appends one JSON line per finished test or suite that matters for the
 * summary (failed, skipped, todo) and one line of counts per test file run. Without the variable it
 * does nothing, so `npm run test:unit` alone prints only the spec reporter's output.
 */
import { appendFileSync } from "node:fs";
import { relative } from "node:path";

export interface SummaryLine {
  kind: "fail" | "skip" | "todo" | "pass";
  type: "test" | "suite";
  name: string;
  file: string;
  reason: string;
}

interface TestEventData {
  name: string;
  nesting: number;
  file?: string;
  skip?: string | boolean;
  todo?: string | boolean;
  details?: { type?: "test" | "suite"; error?: { message?: string; cause?: unknown } };
}

export default async function* summaryReporter(
  source: AsyncIterable<{ type: string; data: TestEventData }>,
): AsyncGenerator<string> {
  const out = process.env.TEST_SUMMARY_FILE;
  for await (const event of source) {
    if (!out) continue;
    if (event.type !== "test:pass" && event.type !== "test:fail") continue;
    const d = event.data;
    const type = d.details?.type === "suite" ? "suite" : "test";
    const file = d.file ? relative(process.cwd(), d.file) : "";
    // The runner's own entry for a whole file (named after the file) is not a test, unless the file
    // failed as a whole (it did not load, or failed outside any test).
    if (event.type === "test:pass" && d.file && d.name === d.file) continue;
    let line: SummaryLine;
    if (d.todo !== undefined && d.todo !== false) {
      line = { kind: "todo", type, name: d.name, file, reason: typeof d.todo === "string" ? d.todo : "" };
    } else if (d.skip !== undefined && d.skip !== false) {
      line = { kind: "skip", type, name: d.name, file, reason: typeof d.skip === "string" ? d.skip : "" };
    } else if (event.type === "test:fail") {
      const cause = d.details?.error?.cause;
      const message = cause instanceof Error ? cause.message : (d.details?.error?.message ?? "");
      line = { kind: "fail", type, name: d.name, file, reason: String(message).split("\n")[0] ?? "" };
    } else {
      if (type === "suite") continue;
      line = { kind: "pass", type, name: d.name, file, reason: "" };
    }
    appendFileSync(out, `${JSON.stringify(line)}\n`);
  }
  // A reporter is an async generator of output; this one has none for the terminal.
  yield "";
}
