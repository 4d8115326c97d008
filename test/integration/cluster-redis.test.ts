import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type MemberRecord, RoomDirectory } from "../../src/cluster/directory.ts";
import { NodeInbox } from "../../src/cluster/inbox.ts";
import { type ClusterKeys, clusterKeys } from "../../src/cluster/keys.ts";
import { RedisConnection } from "../../src/cluster/redis-connection.ts";
import { type NodeInfo, NodeRegistry } from "../../src/cluster/registry.ts";
import { newSilentLogger } from "../../src/lib/logger.ts";
import { deletePrefix, REDIS_TEST_URL, testPrefix } from "../helpers/redis.ts";
import { waitFor } from "../helpers/wait-for.ts";

/** The cluster's Redis parts, each against the machine's Redis under its own key prefix. */
const log = newSilentLogger();
const open: RedisConnection[] = [];
function connect(name: string, url = REDIS_TEST_URL): RedisConnection {
  const c = new RedisConnection({ url, name, log, connectTimeoutMs: 2000, commandTimeoutMs: 1000 });
  open.push(c);
  return c;
}
const prefixes: string[] = [];
function keysFor(name: string): ClusterKeys {
  const p = testPrefix(name);
  prefixes.push(p);
  return clusterKeys(p);
}

function node(id: string, members = 0, maxMembers = 100): NodeInfo {
  return {
    id,
    wsUrl: `ws://127.0.0.1/${id}`,
    publicIpv4: "127.0.0.1",
    maxMembers,
    load: { members, rooms: 0, connections: 0, cpu: 0, mediaWorkers: 0 },
    startedAt: Date.now(),
    at: Date.now(),
  };
}

function record(socketId: string, userId: string, joinedAt: number): MemberRecord {
  return {
    socketId,
    userId,
    edge: "n1",
    edgeSocketId: socketId,
    ip: "127.0.0.1",
    joinedAt,
    platform: "Web",
    deviceName: "d",
    networkType: "wifi",
    version: "1",
    appVersion: "1",
    orientation: 90,
    camera: "front",
    capabilities: ["reoffer"],
    lastSeq: 0,
  };
}

let redis: RedisConnection;
before(async () => {
  redis = connect("test");
  await waitFor("redis ready", () => redis.ready, 5000);
});
after(async () => {
  for (const c of open) await c.close();
  for (const p of prefixes) await deletePrefix(p);
});

describe("node registry", () => {
  it("lists a refreshed node as alive and one whose TTL lapsed as dead; forget and deregister remove them", async () => {
    const keys = keysFor("registry");
    const registry = new NodeRegistry(redis.redis, keys, 300);
    await registry.refresh(node("a", 3));
    await registry.refresh(node("b", 5));
    let view = await registry.view();
    assert.deepEqual(
      view.alive.map((n) => [n.id, n.load.members]),
      [
        ["a", 3],
        ["b", 5],
      ],
    );
    assert.deepEqual(view.dead, []);
    // b keeps refreshing, a stops: after the TTL a is dead, b alive.
    view = await waitFor(
      "a's entry lapsed",
      async () => {
        await registry.refresh(node("b", 5));
        const v = await registry.view();
        return v.dead.includes("a") ? v : undefined;
      },
      5000,
    );
    assert.deepEqual(
      view.alive.map((n) => n.id),
      ["b"],
    );
    assert.deepEqual(view.dead, ["a"]);
    await registry.forget("a");
    await registry.deregister("b");
    view = await registry.view();
    assert.deepEqual(view, { alive: [], dead: [] });
  });

  it("reads a garbage registry entry as a dead node, without throwing", async () => {
    const keys = keysFor("registry-garbage");
    const registry = new NodeRegistry(redis.redis, keys, 5000);
    await redis.redis.sadd(keys.nodes, "x");
    await redis.redis.set(keys.node("x"), "{not json");
    assert.deepEqual(await registry.view(), { alive: [], dead: ["x"] });
  });
});

/** Registers `nodes` (as their refresh would) and returns their ids, in order. */
async function registered(keys: ClusterKeys, ...nodes: NodeInfo[]): Promise<string[]> {
  const registry = new NodeRegistry(redis.redis, keys, 10_000);
  for (const n of nodes) await registry.refresh(n);
  return nodes.map((n) => n.id);
}

describe("room directory", () => {
  it("places a new room on the least-loaded node under its limit, counts claims until the next report, and keeps an existing home", async () => {
    const keys = keysFor("place");
    const dir = new RoomDirectory(redis.redis, keys, { leaseMs: 5000, recordTtlMs: 10_000 });
    const nodes = await registered(keys, node("self", 2), node("b", 1), node("c", 1));
    assert.equal(await dir.place("r1", nodes), "b", "least members wins");
    // b now counts one more (a placed room): c is the least loaded.
    assert.equal(await dir.place("r2", nodes), "c");
    // Tie between self (2) and b (2) and c (2): the first candidate wins.
    assert.equal(await dir.place("r3", nodes), "self");
    assert.equal(await dir.place("r1", ["c"]), "b", "a placed room keeps its home");
    assert.equal(await dir.owner("r1"), "b");
    assert.equal(await dir.owner("nope"), undefined);
    // A refresh of b's registry entry zeroes its claims.
    await new NodeRegistry(redis.redis, keys, 5000).refresh(node("b", 1));
    assert.equal(await dir.place("r4", ["self", "b"]), "b");
    // A candidate without a registry entry (dead, or never registered) is never chosen.
    assert.equal(await dir.place("r5", ["ghost", "self"]), "self");
  });

  it("answers undefined when every node is at its limit", async () => {
    const keys = keysFor("full");
    const dir = new RoomDirectory(redis.redis, keys, { leaseMs: 5000, recordTtlMs: 10_000 });
    const ids = await registered(keys, node("a", 10, 10), node("b", 11, 10));
    assert.equal(await dir.place("r", ids), undefined);
    await redis.redis.set(keys.node("bad"), "{not json");
    assert.equal(
      await dir.place("r", ["bad", "ghost"]),
      undefined,
      "unreadable or missing entries are skipped",
    );
    assert.equal(await dir.owner("r"), undefined);
    assert.equal(await dir.place("r", []), undefined);
  });

  it("one claim wins when many nodes place the same room at once", async () => {
    const keys = keysFor("race");
    const conns = [connect("race-1"), connect("race-2"), connect("race-3")];
    await waitFor("ready", () => conns.every((c) => c.ready));
    const dirs = conns.map((c) => new RoomDirectory(c.redis, keys, { leaseMs: 5000, recordTtlMs: 10_000 }));
    await registered(keys, node("n0", 0), node("n1", 0), node("n2", 0), node("z", 50));
    const homes = await Promise.all(
      dirs.flatMap((d, i) => Array.from({ length: 10 }, () => d.place("contested", [`n${i}`, "z"]))),
    );
    assert.equal(new Set(homes).size, 1, `one home for everyone: ${[...new Set(homes)]}`);
  });

  it("the home renews its lease and writes member records; a lapsed lease frees the room; release only by the holder", async () => {
    const keys = keysFor("lease");
    const dir = new RoomDirectory(redis.redis, keys, { leaseMs: 300, recordTtlMs: 10_000 });
    await registered(keys, node("h", 0), node("k", 0));
    assert.equal(await dir.place("r", ["h"]), "h");
    const rec = [record("S2", "bob", 2), record("S1", "alice", 1)];
    for (let i = 0; i < 4; i++) {
      const conflicts = await dir.sync("h", [{ roomId: "r", members: rec }], { rooms: [], sockets: [] });
      assert.equal(conflicts.size, 0);
      await new Promise((r) => setTimeout(r, 150));
    }
    assert.equal(await dir.owner("r"), "h", "renewed past several lease periods");
    assert.deepEqual(
      (await dir.members("r")).map((m) => m.userId),
      ["alice", "bob"],
      "oldest join first",
    );
    assert.equal(await dir.roomOfSocket("S1"), "r");
    assert.deepEqual(await dir.roomsOf("h"), ["r"]);
    // Another node cannot renew it, nor write its records.
    const conflicts = await dir.sync("other", [{ roomId: "r", members: [record("INTRUDER", "x", 9)] }], {
      rooms: [],
      sockets: [],
    });
    assert.deepEqual([...conflicts], [["r", "h"]]);
    assert.deepEqual(
      (await dir.members("r")).map((m) => m.socketId),
      ["S1", "S2"],
    );
    assert.equal(await dir.roomOfSocket("INTRUDER"), undefined);
    // A member leaves, then the room is released by a non-holder (no effect) and by its home.
    await dir.sync("h", [{ roomId: "r", members: [rec[1]!] }], {
      rooms: [],
      sockets: [{ roomId: "r", socketId: "S2" }],
    });
    assert.deepEqual(
      (await dir.members("r")).map((m) => m.socketId),
      ["S1"],
    );
    assert.equal(await dir.roomOfSocket("S2"), undefined);
    await dir.sync("other", [], { rooms: ["r"], sockets: [] });
    assert.equal(await dir.owner("r"), "h");
    await dir.sync("h", [], { rooms: ["r"], sockets: [{ roomId: "r", socketId: "S1" }] });
    assert.equal(await dir.owner("r"), undefined);
    assert.deepEqual(await dir.members("r"), []);
    assert.deepEqual(await dir.roomsOf("h"), []);
    // Not renewed: the lease lapses and another node may claim it.
    assert.equal(await dir.place("r2", ["h"]), "h");
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(await dir.owner("r2"), undefined);
    assert.equal(await dir.place("r2", ["k"]), "k");
  });

  it("a stopping home hands a room it holds to the least-loaded other node, atomically; a room it does not hold, or no room for it, stays", async () => {
    const keys = keysFor("handover");
    const dir = new RoomDirectory(redis.redis, keys, { leaseMs: 5000, recordTtlMs: 10_000 });
    await registered(keys, node("old", 0), node("busy", 5), node("idle", 1), node("full", 9, 9));
    assert.equal(await dir.place("r", ["old"]), "old");
    assert.equal(await dir.handOver("r", "old", ["busy", "idle", "full"]), "idle");
    assert.equal(await dir.owner("r"), "idle");
    assert.equal(await dir.handOver("r", "old", ["busy"]), undefined, "no longer held by old");
    assert.equal(await dir.owner("r"), "idle");
    assert.equal(await dir.place("r2", ["old"]), "old");
    assert.equal(await dir.handOver("r2", "old", ["full", "ghost"]), undefined, "nobody can take it");
    assert.equal(await dir.owner("r2"), "old", "the lease stays");
  });

  it("a home's first write of a room replaces the records an earlier home left", async () => {
    const keys = keysFor("first-write");
    const dir = new RoomDirectory(redis.redis, keys, { leaseMs: 5000, recordTtlMs: 10_000 });
    await dir.sync("old", [{ roomId: "r", members: [record("GHOST", "ghost", 1)] }], {
      rooms: [],
      sockets: [],
    });
    await redis.redis.del(keys.room("r")); // the old home died; its lease lapsed
    await dir.sync("new", [{ roomId: "r", members: [record("S1", "a", 2)], first: true }], {
      rooms: [],
      sockets: [],
    });
    assert.deepEqual(
      (await dir.members("r")).map((m) => m.socketId),
      ["S1"],
    );
    await dir.sync("new", [{ roomId: "r", members: [record("S2", "b", 3)] }], { rooms: [], sockets: [] });
    assert.deepEqual(
      (await dir.members("r")).map((m) => m.socketId),
      ["S1", "S2"],
      "later writes merge (members who left are removed explicitly)",
    );
  });

  it("after a Redis restart (keys gone) the home takes its rooms back on its next renewal", async () => {
    const keys = keysFor("retake");
    const dir = new RoomDirectory(redis.redis, keys, { leaseMs: 5000, recordTtlMs: 10_000 });
    await dir.sync("h", [{ roomId: "r", members: [record("S1", "a", 1)] }], { rooms: [], sockets: [] });
    await redis.redis.del(keys.room("r"), keys.roomMembers("r"));
    const conflicts = await dir.sync("h", [{ roomId: "r", members: [record("S1", "a", 1)] }], {
      rooms: [],
      sockets: [],
    });
    assert.equal(conflicts.size, 0);
    assert.equal(await dir.owner("r"), "h");
    assert.equal((await dir.members("r")).length, 1);
  });
});

describe("node inbox", () => {
  it("delivers frames to the named node only, in order, batched", async () => {
    const keys = keysFor("inbox");
    const received: Record<string, unknown[]> = { a: [], b: [] };
    const inboxes = ["a", "b"].map(
      (id) =>
        new NodeInbox({
          self: id,
          keys,
          pub: connect(`${id}-pub`),
          sub: connect(`${id}-sub`),
          outboxMax: 100_000,
          undeliveredMaxMs: 1000,
          log,
          onFrame: (f) => received[id]!.push(f),
        }),
    );
    await waitFor("subscribed", () => inboxes.every((i) => i.listening));
    for (let i = 0; i < 5000; i++) inboxes[0]!.send("b", { i });
    inboxes[1]!.send("a", { hello: 1 });
    await waitFor("all frames at b", () => received.b!.length === 5000, 5000);
    assert.deepEqual(
      received.b!.map((f) => (f as { i: number }).i),
      Array.from({ length: 5000 }, (_, i) => i),
    );
    await waitFor("frame at a", () => received.a!.length === 1);
    assert.deepEqual(received.a, [{ hello: 1 }]);
    for (const i of inboxes) i.close();
  });

  it("keeps frames for a node that is not listening yet, in order, and drops them after undeliveredMaxMs", async () => {
    const keys = keysFor("inbox-late");
    const drops: Array<[number, string]> = [];
    const sender = new NodeInbox({
      self: "s",
      keys,
      pub: connect("late-pub"),
      sub: connect("late-sub"),
      outboxMax: 1000,
      undeliveredMaxMs: 3000,
      log,
      onFrame: () => {},
      onDrop: (n, why) => drops.push([n, why]),
    });
    await waitFor("sender subscribed", () => sender.listening);
    for (let i = 0; i < 50; i++) sender.send("late", { i });
    for (let i = 0; i < 3; i++) sender.send("never", { i });
    await new Promise((r) => setTimeout(r, 400));
    // "late" subscribes 400 ms after the frames were sent (a node re-subscribing after a Redis restart).
    const got: unknown[] = [];
    const late = new NodeInbox({
      self: "late",
      keys,
      pub: connect("late2-pub"),
      sub: connect("late2-sub"),
      outboxMax: 1000,
      undeliveredMaxMs: 3000,
      log,
      onFrame: (f) => got.push(f),
    });
    await waitFor("late frames delivered", () => got.length === 50, 5000);
    assert.deepEqual(
      got.map((f) => (f as { i: number }).i),
      Array.from({ length: 50 }, (_, i) => i),
    );
    await waitFor("frames to a node that never listens are dropped", () => drops.length > 0, 8000);
    assert.deepEqual(drops, [[3, "no-subscriber"]]);
    sender.close();
    late.close();
  });

  it("ignores unreadable payloads on its channel and keeps working", async () => {
    const keys = keysFor("inbox-garbage");
    const got: unknown[] = [];
    const drops: string[] = [];
    const inbox = new NodeInbox({
      self: "a",
      keys,
      pub: connect("g-pub"),
      sub: connect("g-sub"),
      outboxMax: 10,
      undeliveredMaxMs: 1000,
      log,
      onFrame: (f) => got.push(f),
      onDrop: (_n, why) => drops.push(why),
    });
    await waitFor("subscribed", () => inbox.listening);
    await redis.redis.publish(keys.inbox("a"), "{nope");
    await redis.redis.publish(keys.inbox("a"), '{"not":"an array"}');
    inbox.send("a", { ok: true });
    await waitFor("good frame", () => got.length === 1);
    assert.deepEqual(drops, ["unreadable", "unreadable"]);
    inbox.close();
  });
});
