import { readFileSync } from "node:fs";
import type { z } from "zod";
import { z as zod } from "zod";
import { ConfigError } from "../lib/errors.ts";

/** Building blocks shared by every configuration area (core, events, media, profiling). */
export type EnvSource = Record<string, string | undefined>;

export const int = (def: number, min = 0, max = Number.MAX_SAFE_INTEGER) =>
  zod.coerce.number().int().min(min).max(max).default(def);

/** Unset or blank is undefined; otherwise the trimmed value. */
export const optionalString = zod
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === "" ? undefined : v.trim()));

/** A comma-separated list, blanks removed. */
export const list = zod
  .string()
  .optional()
  .transform((v) =>
    (v ?? "")
      .split(",")
      .map((s) => s.trim())
      .filter((s) => s.length > 0),
  );

/** Parses `env` with `schema`; a ConfigError lists every bad variable with what is wrong. */
export function parseEnv<S extends z.ZodType>(
  schema: S,
  env: EnvSource,
  area = "configuration",
): z.output<S> {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
    throw new ConfigError(`invalid ${area}:\n  ${lines.join("\n  ")}`);
  }
  return parsed.data;
}

/** Reads a file a variable names; a ConfigError names the variable when it cannot. */
export function readConfigFile(variable: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new ConfigError(`${variable}: cannot read ${path}: ${(err as Error).message}`);
  }
}
