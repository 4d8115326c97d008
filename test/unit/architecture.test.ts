import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { WERIFT_VERSION, weriftVersion } from "../../src/media/werift/compat.ts";

/**
 * The import direction of docs/architecture.md, checked on the source: app -> signaling -> rooms
 * <- mcu -> media; the wire protocol (src/protocol) is shared; only src/media/werift/ touches werift.
 */
const root = fileURLToPath(new URL("../..", import.meta.url));

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith(".ts") ? [join(dir, e.name)] : [],
  );
}

/**
 * Each file's imports: package names as written, relative ones resolved to repository paths.
 * Static (`import ... from`, `export ... from`), side-effect (`import "x"`) and dynamic
 * (`import("x")`) imports all count.
 */
function importsOf(file: string, text = readFileSync(file, "utf8")): string[] {
  const out: string[] = [];
  const patterns = [
    /(?:^|\n)\s*(?:import|export)[^"';]*?from\s+["']([^"']+)["']/g,
    /(?:^|\n)\s*import\s+["']([^"']+)["']/g,
    /\bimport\(\s*["']([^"']+)["']\s*\)/g,
  ];
  for (const pattern of patterns)
    for (const m of text.matchAll(pattern)) {
      const spec = m[1] ?? "";
      out.push(spec.startsWith(".") ? relative(root, resolve(dirname(file), spec)) : spec);
    }
  return out;
}

const graph = new Map(sources(join(root, "src")).map((f) => [relative(root, f), importsOf(f)]));

function violations(from: (file: string) => boolean, forbidden: (target: string) => boolean): string[] {
  const out: string[] = [];
  for (const [file, targets] of graph)
    if (from(file)) for (const t of targets) if (forbidden(t)) out.push(`${file} -> ${t}`);
  return out;
}

test("the import graph was read", () => {
  assert.ok(graph.size > 50);
  assert.ok(graph.get("src/rooms/room-manager.ts")?.includes("src/rooms/member.ts"));
  // The reader sees every form of import.
  const probe = [
    'import type { A } from "./a.ts";',
    'export { B } from "../protocol/wire.ts";',
    'import "werift";',
    'const compat = await import("../media/werift/compat.ts");',
  ].join("\n");
  assert.deepEqual(importsOf(join(root, "src/rooms/x.ts"), probe).sort(), [
    "src/media/werift/compat.ts",
    "src/protocol/wire.ts",
    "src/rooms/a.ts",
    "werift",
  ]);
});

test("rooms/ imports neither signaling/, http/, mcu/, media/ nor the protocol's serialisation", () => {
  assert.deepEqual(
    violations(
      (f) => f.startsWith("src/rooms/"),
      (t) =>
        t.startsWith("src/signaling/") ||
        t.startsWith("src/http/") ||
        t.startsWith("src/mcu/") ||
        t.startsWith("src/media/") ||
        t === "src/protocol/replies.ts" ||
        t === "src/protocol/parse.ts" ||
        t === "src/server.ts" ||
        t === "src/app.ts",
    ),
    [],
  );
});

test("signaling/ reaches media only through rooms/ (no mcu/ or media/ import)", () => {
  assert.deepEqual(
    violations(
      (f) => f.startsWith("src/signaling/"),
      (t) =>
        t.startsWith("src/mcu/") || t.startsWith("src/media/") || t === "src/server.ts" || t === "src/app.ts",
    ),
    [],
  );
});

test("mcu/ (the adapter between rooms/ and media/) never imports signaling/", () => {
  assert.deepEqual(
    violations(
      (f) => f.startsWith("src/mcu/"),
      (t) => t.startsWith("src/signaling/") || t === "src/server.ts" || t === "src/app.ts",
    ),
    [],
  );
});

test("media/ never imports rooms/ or signaling/", () => {
  assert.deepEqual(
    violations(
      (f) => f.startsWith("src/media/"),
      (t) => t.startsWith("src/rooms/") || t.startsWith("src/signaling/"),
    ),
    [],
  );
});

test("only src/media/werift/ imports werift; only media/ reaches into media/werift/", () => {
  assert.deepEqual(
    violations(
      (f) => !f.startsWith("src/media/werift/"),
      (t) => t === "werift" || t.startsWith("werift/"),
    ),
    [],
  );
  assert.deepEqual(
    violations(
      (f) => !f.startsWith("src/media/"),
      (t) => t.startsWith("src/media/werift/"),
    ),
    [],
  );
});

test("only src/events/ imports amqplib (its one reach inside is events/amqplib-compat.ts)", () => {
  assert.deepEqual(
    violations(
      (f) => !f.startsWith("src/events/"),
      (t) => t === "amqplib" || t.startsWith("amqplib/"),
    ),
    [],
  );
});

test("the protocol module is shared and depends on nothing of the server", () => {
  assert.deepEqual(
    violations(
      (f) => f.startsWith("src/protocol/"),
      (t) => t.startsWith("src/") && !t.startsWith("src/protocol/") && t !== "src/lib/errors.ts",
    ),
    [],
  );
});

test("werift is pinned to the version its compat hooks were written for", () => {
  const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
    dependencies: Record<string, string>;
  };
  assert.equal(pkg.dependencies.werift, WERIFT_VERSION, "package.json pins werift exactly");
  assert.equal(weriftVersion(), WERIFT_VERSION, "the installed werift is the pinned one");
});
