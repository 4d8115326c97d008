/** One sample line of the Prometheus text exposition format (0.0.4). */
export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface Scrape {
  readonly samples: readonly Sample[];
  /** `# TYPE` per metric family. */
  readonly types: ReadonlyMap<string, string>;
  /** `# HELP` per metric family. */
  readonly help: ReadonlyMap<string, string>;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+-?\d+)?$/;
const LABEL = /\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*(,|$)/y;

/** Parses the text format strictly: any line it does not understand throws, naming the line. */
export function parsePrometheusText(text: string): Scrape {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  const help = new Map<string, string>();
  for (const [i, line] of text.split("\n").entries()) {
    if (line.trim() === "") continue;
    if (line.startsWith("#")) {
      const m = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) ?(.*)$/.exec(line);
      if (!m) continue; // a plain comment
      const [, kind, name = "", rest = ""] = m;
      if (kind === "TYPE") {
        if (!/^(counter|gauge|histogram|summary|untyped)$/.test(rest)) throw bad(i, line, "TYPE");
        types.set(name, rest);
      } else help.set(name, rest);
      continue;
    }
    const m = SAMPLE.exec(line);
    if (!m) throw bad(i, line, "sample");
    const [, name = "", , labelText = "", rawValue = ""] = m;
    const value = parseValue(rawValue);
    if (value === undefined) throw bad(i, line, "value");
    samples.push({ name, labels: parseLabels(labelText, i, line), value });
  }
  return { samples, types, help };
}

function parseLabels(text: string, i: number, line: string): Record<string, string> {
  const labels: Record<string, string> = {};
  LABEL.lastIndex = 0;
  while (LABEL.lastIndex < text.length) {
    const m = LABEL.exec(text);
    if (!m) throw bad(i, line, "labels");
    const [, key = "", raw = ""] = m;
    labels[key] = raw.replace(/\\(["\\n])/g, (_s, c: string) => (c === "n" ? "\n" : c));
  }
  return labels;
}

function parseValue(raw: string): number | undefined {
  if (raw === "+Inf") return Number.POSITIVE_INFINITY;
  if (raw === "-Inf") return Number.NEGATIVE_INFINITY;
  if (raw === "NaN") return Number.NaN;
  const n = Number(raw);
  return Number.isNaN(n) ? undefined : n;
}

function bad(i: number, line: string, what: string): Error {
  return new Error(`metrics line ${i + 1}: bad ${what}: ${line}`);
}
