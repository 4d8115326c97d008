import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { serverNodeFlags } from "../../bench/lib/proc.ts";

/**
 * The server's Node flags (the V8 young generation cap that keeps RSS at 50 listeners near 150 MiB,
 * docs/operations.md) are written in three places: `npm start`, `npm run start:prod` and the Docker
 * image's CMD. They must agree, and the bench must measure with them.
 */
const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
  scripts: Record<string, string>;
};

function flagsOf(command: string): string[] {
  const tokens = command.split(/\s+/);
  const out: string[] = [];
  for (const t of tokens.slice(tokens.indexOf("node") + 1)) {
    if (!t.startsWith("--")) break;
    out.push(t);
  }
  return out;
}

describe("server Node flags", () => {
  it("npm start, start:prod, the Docker CMD and the bench run the server with the same flags", () => {
    const start = flagsOf(pkg.scripts.start ?? "");
    assert.ok(start.includes("--max-semi-space-size=2"), `npm start: ${start.join(" ")}`);
    assert.deepEqual(flagsOf(pkg.scripts["start:prod"] ?? ""), start);
    const cmd = readFileSync(new URL("../../Dockerfile", import.meta.url), "utf8")
      .split("\n")
      .find((l) => l.startsWith("CMD "));
    assert.ok(cmd, "Dockerfile has a CMD");
    const argv = JSON.parse(cmd.slice(4)) as string[];
    assert.deepEqual(flagsOf(argv.join(" ")), start);
    assert.equal(argv.at(-1), "dist/main.js");
    assert.deepEqual(serverNodeFlags(), start);
  });
});
