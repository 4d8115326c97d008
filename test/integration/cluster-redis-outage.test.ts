import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { createServer } from "node:net";
import { after, before, it } from "node:test";
import { Redis } from "ioredis";
import { spawnServer } from "../helpers/child-server.ts";
import { MediaClient, startCluster, type TestCluster } from "../helpers/cluster.ts";
import { deletePrefix, testPrefix } from "../helpers/redis.ts";
import { waitFor } from "../helpers/wait-for.ts";
import { TestClient } from "../helpers/ws-client.ts";

/**
 * A Redis of this test's own (redis-server on a free loopback port, no persistence) is killed for
 * 5 s under a call whose members are on two nodes, then started again empty: no node crashes, the
 * call's media goes on, messages between nodes sent meanwhile arrive afterwards, the nodes register
 * again and the home takes its room back (nobody re-homes it).
 */
let port = 0;
let redis: ChildProcess | undefined;
let cluster: TestCluster;
const closers: Array<() => unknown> = [];

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", () => r()));
  const p = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return p;
}

async function startRedis(): Promise<void> {
  redis = spawn(
    "redis-server",
    ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
    {
      stdio: "ignore",
    },
  );
  const probe = new Redis({
    port,
    host: "127.0.0.1",
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  probe.on("error", () => {});
  await waitFor(
    "redis-server answers",
    async () => {
      try {
        if (probe.status !== "ready") await probe.connect();
        return (await probe.ping()) === "PONG";
      } catch {
        probe.disconnect();
        return false;
      }
    },
    10_000,
  );
  probe.disconnect();
}

async function stopRedis(): Promise<void> {
  const r = redis;
  if (!r || r.exitCode !== null) return;
  const exited = new Promise((res) => r.once("exit", res));
  r.kill("SIGKILL");
  await exited;
}

before(async () => {
  port = await freePort();
  await startRedis();
  cluster = await startCluster(
    ["out-a", "out-b", "out-c"],
    { RECONNECT_GRACE_MS: "30000" },
    {
      redisUrl: `redis://127.0.0.1:${port}`,
    },
  );
});
after(async () => {
  for (const close of closers.reverse()) await close();
  await cluster?.close().catch(() => {});
  await stopRedis();
});

it("Redis killed for 5 s: no node crashes, the call goes on, queued messages arrive, the nodes register again", async (t) => {
  const alice = await MediaClient.connect(cluster.nodes[0]!.wsUrl);
  const bob = await MediaClient.connect(cluster.nodes[1]!.wsUrl);
  const carol = await TestClient.connect(cluster.nodes[0]!.wsUrl);
  closers.push(
    () => alice.close(),
    () => bob.close(),
    () => carol.close(),
  );
  await alice.join("outage", "alice");
  assert.equal(await cluster.homeOf("outage"), 0);
  await bob.join("outage", "bob");
  const c = await carol.join("outage", "carol");
  await alice.publish();
  await bob.publish();
  await waitFor(
    "media both ways",
    () => alice.videoFrom(bob.socketId) > 20 && bob.videoFrom(alice.socketId) > 20,
    20_000,
  );

  await stopRedis();
  const stoppedAt = performance.now();
  const before = { atBob: bob.videoFrom(alice.socketId), atAlice: alice.videoFrom(bob.socketId) };
  // Members of the home node talk without Redis.
  assert.equal((await alice.c.request("sendMessage", { to: c.d?.socketId, message: "local" })).s, true);
  assert.equal((await carol.next("eventMessage")).d?.message, "local");
  // Bob's messages (bridged) wait for Redis; send a few while it is away.
  for (let i = 0; i < 20; i++) bob.c.send("sendMessage", { to: c.d?.socketId, message: `queued-${i}` });
  await new Promise((r) => setTimeout(r, 5000 - (performance.now() - stoppedAt)));
  assert.ok(bob.videoFrom(alice.socketId) > before.atBob + 50, "media reached bob during the outage");
  assert.ok(alice.videoFrom(bob.socketId) > before.atAlice + 50, "media reached alice during the outage");
  for (const n of cluster.nodes) assert.equal(n.child.exitCode, null, `${n.nodeId} is running`);
  const down = await cluster.nodes[2]!.state();
  assert.equal(down.cluster.redis, "down");
  const metrics = await (await fetch(`${cluster.nodes[2]!.httpUrl}/metrics`)).text();
  assert.match(metrics, /^webrtcsignaling_cluster_redis_up 0$/m);

  await startRedis();
  const restartedAt = performance.now();
  const fresh = new Redis({ port, host: "127.0.0.1" });
  fresh.on("error", () => {}); // Redis is stopped again by the next test
  closers.push(() => fresh.disconnect());
  await waitFor(
    "every node registered in the new Redis",
    async () => (await fresh.exists(...cluster.nodes.map((n) => `${cluster.prefix}node:${n.nodeId}`))) === 3,
    15_000,
  );
  t.diagnostic(
    `all 3 nodes registered again ${Math.round(performance.now() - restartedAt)} ms after Redis restarted`,
  );
  await waitFor(
    "every node says Redis is up and sees 3 nodes",
    async () => {
      for (const n of cluster.nodes) {
        const s = (await n.state()).cluster;
        if (s.redis !== "up" || s.nodes.length !== 3) return false;
      }
      return true;
    },
    5000,
  );
  await waitFor(
    "the 20 queued messages",
    () => carol.all("eventMessage").filter((m) => String(m.d?.message).startsWith("queued-")).length === 20,
    15_000,
  );
  assert.deepEqual(
    carol
      .all("eventMessage")
      .filter((m) => String(m.d?.message).startsWith("queued-"))
      .map((m) => m.d?.message),
    Array.from({ length: 20 }, (_, i) => `queued-${i}`),
    "in order",
  );
  // The home renewed its lease into the empty Redis; a new member on the third node lands in the same room.
  await waitFor(
    "lease re-taken",
    async () => (await fresh.get(`${cluster.prefix}room:outage`)) === cluster.nodes[0]!.nodeId,
    5000,
  );
  const dave = await TestClient.connect(cluster.nodes[2]!.wsUrl);
  closers.push(() => dave.close());
  const d = await dave.join("outage", "dave");
  assert.equal(d.d?.roomSize, 4);
  assert.equal(await cluster.homeOf("outage"), 0);
  for (const n of cluster.nodes) {
    assert.equal(n.child.exitCode, null);
    assert.deepEqual(
      n.logs.filter((l) => /re-homing|restored/.test(String(l.msg))),
      [],
      "nobody took the room over",
    );
  }
});

it("a node started while Redis is down listens after REDIS_CONNECT_TIMEOUT_MS, answers joins that need Redis with 1280, and registers once Redis answers", async () => {
  await stopRedis();
  const prefix = testPrefix("cold-start");
  const started = performance.now();
  const node = await spawnServer({
    REDIS_URL: `redis://127.0.0.1:${port}`,
    CLUSTER_KEY_PREFIX: prefix,
    NODE_ID: "cold",
    REDIS_CONNECT_TIMEOUT_MS: "1000",
    CLUSTER_REFRESH_MS: "500",
    CLUSTER_LEASE_MS: "2000",
    ROOM_MODE: "p2p",
  });
  closers.push(() => node.kill());
  assert.ok(performance.now() - started >= 1000, "waited for Redis before listening");
  assert.ok(node.logs.some((l) => /Redis unreachable at start/.test(String(l.msg))));
  const early = await TestClient.connect(node.wsUrl);
  closers.push(() => early.close());
  assert.equal((await early.request("join", { roomId: "cold", bearer: "u1" })).e, 1280);
  await startRedis();
  const fresh = new Redis({ port, host: "127.0.0.1" });
  fresh.on("error", () => {}); // Redis is stopped again by the next test
  closers.push(() => fresh.disconnect());
  await waitFor(
    "the node registered",
    async () => (await fresh.smembers(`${prefix}nodes`)).length === 1,
    10_000,
  );
  const late = await TestClient.connect(node.wsUrl);
  closers.push(() => late.close());
  assert.equal((await late.request("join", { roomId: "cold", bearer: "u2" })).s, true);
  assert.equal(node.child.exitCode, null);
  await deletePrefix(prefix, `redis://127.0.0.1:${port}`);
});
