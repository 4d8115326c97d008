import assert from "node:assert/strict";
import { test } from "node:test";
import { readFrame } from "../../src/cluster/wire.ts";
import { loadClusterConfig } from "../../src/config/cluster-config.ts";
import { ConfigError } from "../../src/lib/errors.ts";

test("without REDIS_URL there is no cluster (a single node, no Redis)", () => {
  assert.equal(loadClusterConfig({}), undefined);
  assert.equal(loadClusterConfig({ REDIS_URL: "  " }), undefined);
});

test("REDIS_URL turns the cluster on with its defaults; every node id is unique", () => {
  const a = loadClusterConfig({ REDIS_URL: "redis://127.0.0.1:6379", NODE_ID: "n1" });
  const b = loadClusterConfig({ REDIS_URL: "redis://127.0.0.1:6379", NODE_ID: "n1" });
  assert.ok(a && b);
  assert.match(a.nodeId, /^n1-[0-9a-f]{6}$/);
  assert.notEqual(a.nodeId, b.nodeId, "a restarted node is a new node");
  assert.equal(a.leaseMs, 5000);
  assert.equal(a.refreshMs, 1000);
  assert.equal(a.nodeTtlMs, 3000);
  assert.equal(a.nodeMaxMembers, 1000);
  assert.equal(a.keyPrefix, "webrtcsignaling:");
  assert.equal(a.publicUrl, undefined);
  assert.equal(
    loadClusterConfig({ REDIS_URL: "rediss://:pw@redis.internal:6380/2" })?.redisUrl,
    "rediss://:pw@redis.internal:6380/2",
  );
});

test("bad cluster values stop the server with a message naming the variable", () => {
  const bad: Array<[Record<string, string>, RegExp]> = [
    [{ REDIS_URL: "http://x" }, /REDIS_URL/],
    [{ REDIS_URL: "not a url" }, /REDIS_URL/],
    [{ REDIS_URL: "redis://x", NODE_ID: "a b" }, /NODE_ID/],
    [{ REDIS_URL: "redis://x", CLUSTER_LEASE_MS: "100" }, /CLUSTER_LEASE_MS/],
    [{ REDIS_URL: "redis://x", CLUSTER_LEASE_MS: "1000", CLUSTER_REFRESH_MS: "800" }, /CLUSTER_LEASE_MS/],
    [{ REDIS_URL: "redis://x", CLUSTER_NODE_MAX_MEMBERS: "-1" }, /CLUSTER_NODE_MAX_MEMBERS/],
  ];
  for (const [env, message] of bad)
    assert.throws(
      () => loadClusterConfig(env),
      (e: unknown) => e instanceof ConfigError && message.test(e.message),
      JSON.stringify(env),
    );
});

test("frames from Redis that are not what a node sends are refused, never thrown on", () => {
  const good = [
    { t: "in", e: "n", s: "S", ip: "1.2.3.4", m: { a: "join", d: {} } },
    { t: "closed", e: "n", s: "S", r: "dropped" },
    { t: "out", n: "n", s: "S", x: "{}" },
    { t: "end", n: "n", s: "S", r: "replaced" },
    { t: "done", n: "n", s: "S" },
    { t: "done", n: "n", s: "S", v: true },
    { t: "home", n: "n", s: "S", h: "m" },
    { t: "redirect", n: "n", s: "S", h: "m", m: { a: "join", d: {} } },
    { t: "restore", room: "r" },
  ];
  for (const f of good) assert.deepEqual(readFrame(f), f);
  const bad: unknown[] = [
    null,
    42,
    "x",
    [],
    {},
    { t: "nope" },
    { t: "in", e: "n", s: "S", ip: "1", m: null },
    { t: "in", e: "", s: "S", ip: "1", m: { a: "x" } },
    { t: "out", n: "n", s: "S", x: 5 },
    { t: "end", n: "n", s: "S", r: "whatever" },
    { t: "done", n: "n", s: "S", v: "yes" },
    { t: "home", n: "n", s: "S" },
    { t: "restore", room: "x".repeat(300) },
  ];
  for (const f of bad) assert.equal(readFrame(f), undefined, JSON.stringify(f));
});
