import { matchesGlob } from "node:path";

/** One instruction of a Dockerfile, continuation lines joined, comments dropped. */
export interface Instruction {
  readonly keyword: string;
  /** The rest of the line, as written. */
  readonly args: string;
}

export interface Stage {
  readonly name: string;
  /** The image or earlier stage it starts from (ARG defaults substituted). */
  readonly from: string;
  readonly instructions: readonly Instruction[];
}

/** Splits a Dockerfile into stages; `${ARG}` in FROM lines gets the ARG's default. */
export function parseDockerfile(text: string): Stage[] {
  const lines: string[] = [];
  let pending = "";
  for (const raw of text.split("\n")) {
    const line = raw.trimEnd();
    if (pending === "" && /^\s*#/.test(line)) continue;
    if (line.endsWith("\\")) {
      pending += `${line.slice(0, -1)} `;
      continue;
    }
    const whole = (pending + line).trim();
    pending = "";
    if (whole !== "") lines.push(whole);
  }
  const args = new Map<string, string>();
  const stages: Array<{ name: string; from: string; instructions: Instruction[] }> = [];
  for (const line of lines) {
    const m = /^(\S+)\s*(.*)$/.exec(line);
    if (!m) continue;
    const keyword = (m[1] ?? "").toUpperCase();
    const rest = m[2] ?? "";
    if (keyword === "ARG" && stages.length === 0) {
      const [k = "", v = ""] = rest.split("=", 2);
      args.set(k.trim(), v.trim());
      continue;
    }
    if (keyword === "FROM") {
      const from = rest.replace(/\$\{(\w+)\}/g, (_s, k: string) => args.get(k) ?? "");
      const fm = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(from);
      if (!fm) throw new Error(`bad FROM: ${line}`);
      stages.push({ name: fm[2] ?? String(stages.length), from: fm[1] ?? "", instructions: [] });
      continue;
    }
    const stage = stages.at(-1);
    if (!stage) throw new Error(`instruction before FROM: ${line}`);
    stage.instructions.push({ keyword, args: rest });
  }
  return stages;
}

/** `KEY=value KEY2="v 2"` of an ENV instruction. */
export function parseEnv(args: string): Record<string, string> {
  const env: Record<string, string> = {};
  const re = /(\w+)=("(?:[^"\\]|\\.)*"|\S*)/g;
  for (const m of args.matchAll(re)) {
    const value = m[2] ?? "";
    env[m[1] ?? ""] = value.startsWith('"') ? (JSON.parse(value) as string) : value;
  }
  return env;
}

/** The JSON (exec) form of CMD/RUN/HEALTHCHECK CMD. */
export function parseExecForm(args: string): string[] {
  const json = args.slice(args.indexOf("["));
  const parsed: unknown = JSON.parse(json);
  if (!Array.isArray(parsed) || !parsed.every((p) => typeof p === "string")) {
    throw new Error(`not an exec form: ${args}`);
  }
  return parsed;
}

/**
 * Whether `.dockerignore` keeps `path` in the build context (Docker's rules: patterns in order,
 * the last match wins, `!` re-includes, a pattern matching a parent directory matches its files).
 */
export function dockerignoreKeeps(dockerignore: string, path: string): boolean {
  const patterns = dockerignore
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"));
  const parents: string[] = [];
  const parts = path.split("/");
  for (let i = 1; i <= parts.length; i++) parents.push(parts.slice(0, i).join("/"));
  let kept = true;
  for (const pattern of patterns) {
    const negated = pattern.startsWith("!");
    const glob = (negated ? pattern.slice(1) : pattern).replace(/^\/+/, "").replace(/\/+$/, "");
    if (parents.some((p) => matchesGlob(p, glob))) kept = negated;
  }
  return kept;
}
