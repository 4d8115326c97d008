import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Redis } from "ioredis";
import { fromOf, MediaClient, startCluster, type TestCluster } from "../helpers/cluster.ts";
import {
  openTestQueue,
  RABBITMQ_TEST_URL,
  type TestQueue,
  testExchangeName,
} from "../helpers/events-broker.ts";
import { REDIS_TEST_URL } from "../helpers/redis.ts";
import { waitFor } from "../helpers/wait-for.ts";
import { TestClient, type WireMessage } from "../helpers/ws-client.ts";

/**
 * Three server processes on 127.0.0.1 (different ports), one Redis (the machine's, under this
 * file's own key prefix) and RabbitMQ: members of one room on different nodes see the protocol of
 * one node; events are published once, by the room's home; a killed home's room moves.
 */
let cluster: TestCluster;
let q: TestQueue;
const closers: Array<() => unknown> = [];
const ROOM_LIVE_MS = 1000;

before(async () => {
  const exchange = testExchangeName();
  q = await openTestQueue(exchange, ["room.#"]);
  cluster = await startCluster(["node-a", "node-b", "node-c"], {
    RABBITMQ_URL: RABBITMQ_TEST_URL,
    RABBITMQ_EXCHANGE: exchange,
    ROOM_LIVE_INTERVAL_MS: String(ROOM_LIVE_MS),
    RECONNECT_GRACE_MS: "30000",
  });
});
after(async () => {
  if (process.env.CLUSTER_TEST_LOGS)
    for (const n of cluster?.nodes ?? [])
      for (const l of n.logs)
        if (Number(l.level) >= 40) console.log(n.nodeId, JSON.stringify(l).slice(0, 400));
  for (const close of closers.reverse()) await close();
  await cluster?.close();
  await q?.close();
});

async function client(node: number): Promise<TestClient> {
  const c = await TestClient.connect(cluster.nodes[node]!.wsUrl);
  closers.push(() => c.close());
  return c;
}

/** Every `n` a client received, in order: 1, 2, 3... without gap. */
function numbering(c: TestClient): number[] {
  return c.received.map((m) => (m as { n?: number }).n).filter((n): n is number => n !== undefined);
}

function eventsFor(roomId: string, key: string) {
  return q.received.filter((r) => r.routingKey === key && r.body.roomId === roomId);
}

describe("a room spread over three nodes", () => {
  it("members on three nodes exchange every protocol message as on one node; the room is homed where it was first joined", async () => {
    const alice = await client(2);
    const a = await alice.join("spread", "alice");
    assert.equal(
      await cluster.homeOf("spread"),
      2,
      "a new room goes to the node that got the join when loads tie",
    );
    const bob = await client(0);
    const b = await bob.join("spread", "bob", { platform: "iOS", orientation: 0 });
    assert.equal(b.d?.roomSize, 2);
    assert.deepEqual(b.d?.sessions, [{ socketId: a.d?.socketId, userId: "alice" }]);
    assert.ok(typeof b.d?.socketId === "string" && /^[0-9A-F]{32}$/.test(String(b.d.socketId)));
    const carol = await client(1);
    const c = await carol.join("spread", "carol");
    assert.equal(c.d?.roomSize, 3);

    // Orientation of the joiner to the others, theirs to the joiner, new sizes to everyone.
    const toAlice = await alice.next("eventOrientationChange", (m) => fromOf(m).socketId === b.d?.socketId);
    assert.deepEqual(toAlice.d, {
      from: { socketId: b.d?.socketId, userId: "bob" },
      platform: "iOS",
      orientation: 0,
      camera: "front",
    });
    await carol.next("eventOrientationChange", (m) => fromOf(m).socketId === a.d?.socketId);
    await carol.next("eventOrientationChange", (m) => fromOf(m).socketId === b.d?.socketId);

    // A message from a member on node 0 to a member on node 1, through the home on node 2.
    assert.deepEqual(await bob.request("sendMessage", { to: c.d?.socketId, message: { hi: [1, 2] } }), {
      a: "sendMessageR",
      s: true,
    });
    const msg = await carol.next("eventMessage");
    assert.deepEqual(msg.d, { from: { socketId: b.d?.socketId, userId: "bob" }, message: { hi: [1, 2] } });

    // Replies in request order, errors included, whether the home (1298, 1315) or the edge (1296, 1282) answers.
    const from = bob.received.length;
    bob.send("sendMessage", { to: "0".repeat(32), message: 1 });
    bob.send("orientationChange", { orientation: 180, camera: "back" });
    bob.send("noSuchAction", {});
    bob.sendRaw("not json");
    bob.send("join", { roomId: "elsewhere", bearer: "bob" });
    bob.send("sendMessage", { to: a.d?.socketId, message: "last" });
    await waitFor(
      "six replies",
      () => bob.received.slice(from).filter((m) => m.s !== undefined).length === 6,
    );
    assert.deepEqual(
      bob.received
        .slice(from)
        .filter((m) => m.s !== undefined)
        .map((m) => [m.a, m.e ?? "ok"]),
      [
        ["sendMessageR", 1298],
        ["orientationChangeR", "ok"],
        ["noSuchActionR", 1296],
        ["generalR", 1282],
        ["joinR", 1315],
        ["sendMessageR", "ok"],
      ],
    );
    await alice.next(
      "eventOrientationChange",
      (m) => fromOf(m).socketId === b.d?.socketId && m.d?.orientation === 180,
    );

    // Carol leaves cleanly: the others are told, with the new size.
    carol.close(1000);
    const leave = await alice.next("eventLeave");
    assert.deepEqual(leave.d, { roomId: "spread", roomSize: 2, socketId: c.d?.socketId, userId: "carol" });
    await bob.next("eventLeave");
    await bob.next("eventUserMediaConfiguration");

    // Every event was numbered by the home, without a gap, for the members on every node.
    for (const m of [alice, bob]) {
      const ns = numbering(m);
      assert.deepEqual(
        ns,
        ns.map((_, i) => i + 1),
      );
    }
    // The same user joining on another node takes the call there: the old socket closes with 4001.
    const bob2 = await client(1);
    await bob2.join("spread", "bob");
    assert.equal((await bob.waitClosed()).code, 4001);
    await alice.next("eventLeave", (m) => m.d?.socketId === b.d?.socketId);

    // Metrics per node: the edges counted the messages they bridged, the home the texts it sent back.
    const metric = async (node: number, line: RegExp) => {
      const text = await (await fetch(`${cluster.nodes[node]!.httpUrl}/metrics`)).text();
      return Number(text.match(line)?.[1]);
    };
    // Bob's join, his four forwarded requests and the second join (1315); 1296 and 1282 stayed on the edge.
    assert.equal(await metric(0, /^webrtcsignaling_cluster_bridged_frames_total\{kind="in"\} (\d+)/m), 6);
    assert.ok((await metric(0, /^webrtcsignaling_cluster_bridged_frames_total\{kind="out"\} (\d+)/m)) >= 8);
    assert.equal(await metric(2, /^webrtcsignaling_cluster_nodes (\d+)/m), 3);
    assert.equal(await metric(2, /^webrtcsignaling_cluster_redis_up (\d+)/m), 1);
  });

  it("the home publishes one room.join per join and one room.leave per leave, and one room.live per room per interval", async () => {
    const members = [await client(0), await client(1), await client(2)];
    const ids: string[] = [];
    for (const [i, m] of members.entries())
      ids.push(String((await m.join("events-once", `u${i}`)).d?.socketId));
    members[1]!.close(1000);
    await members[0]!.next("eventLeave");
    await waitFor("the events", () => eventsFor("events-once", "room.leave").length === 1, 10_000);
    const windowStart = q.received.length;
    await new Promise((r) => setTimeout(r, 3 * ROOM_LIVE_MS + 200));
    assert.deepEqual(
      eventsFor("events-once", "room.join").map((r) => r.body.socketId),
      ids,
      "exactly one room.join per join, in order",
    );
    assert.deepEqual(
      eventsFor("events-once", "room.leave").map((r) => r.body.socketId),
      [ids[1]],
    );
    const lives = q.received
      .slice(windowStart)
      .filter((r) => r.routingKey === "room.live" && r.body.roomId === "events-once");
    assert.ok(lives.length >= 2 && lives.length <= 4, `${lives.length} room.live in ${3 * ROOM_LIVE_MS} ms`);
    assert.equal(new Set(lives.map((r) => r.body.instanceId)).size, 1, "one node publishes it: the home");
  });

  it("a member whose socket dropped reconnects on another node and gets what it missed", async () => {
    const dora = await client(0);
    const d = await dora.join("resume", "dora");
    const eve = await client(1);
    await eve.join("resume", "eve");
    await dora.next("eventOrientationChange");
    const lastSeq = Math.max(...numbering(dora));
    dora.drop();
    await new Promise((r) => setTimeout(r, 200));
    assert.equal((await eve.request("sendMessage", { to: d.d?.socketId, message: "while away" })).s, true);
    const again = await client(2);
    const r = await again.request("reconnect", { socketId: d.d?.socketId, bearer: "dora", lastSeq });
    assert.equal(r.s, true, JSON.stringify(r));
    assert.equal(r.d?.socketId, d.d?.socketId);
    assert.equal(r.d?.roomSize, 2);
    const missed = await again.next("eventMessage");
    assert.equal(
      (missed as { n?: number }).n,
      lastSeq + 1,
      "numbering continues where the client stopped reading",
    );
    assert.deepEqual(missed.d?.message, "while away");
    // Another user's socketId is refused as on one node.
    const mallory = await client(1);
    assert.equal(
      (await mallory.request("reconnect", { socketId: d.d?.socketId, bearer: "mallory" })).e,
      1317,
    );
    assert.equal(
      (await mallory.request("reconnect", { socketId: "F".repeat(32), bearer: "mallory" })).e,
      1317,
    );
  });

  it("new rooms spread over the nodes by load even when every first join arrives at one node", async (t) => {
    const rooms = 24;
    const perRoom = 4;
    for (let r = 0; r < rooms; r++) {
      const first = await client(0);
      await first.join(`load-${r}`, `load-${r}-0`);
      for (let k = 1; k < perRoom; k++) await (await client(k % 3)).join(`load-${r}`, `load-${r}-${k}`);
    }
    const states = await Promise.all(cluster.nodes.map((n) => n.state()));
    const perNode = states.map((s) => s.rooms.filter((r) => r.roomId.startsWith("load-")));
    const members = perNode.map((list) => list.reduce((sum, r) => sum + r.roomSize, 0));
    assert.equal(
      members.reduce((a, b) => a + b, 0),
      rooms * perRoom,
      "every member is in exactly one place",
    );
    t.diagnostic(`members homed per node: ${members.join(", ")}`);
    for (const [i, m] of members.entries())
      assert.ok(m >= 20 && m <= 48, `node ${i} homes ${m} of ${rooms * perRoom} members (${members})`);
    // /state shows the cluster: every node, its rooms and members.
    const view = states[0]!.cluster;
    assert.deepEqual(view.nodes.map((n) => n.id).sort(), cluster.nodes.map((n) => n.nodeId).sort());
    await new Promise((r) => setTimeout(r, 1200)); // a refresh period or two
    const loads = (await cluster.nodes[1]!.state()).cluster.nodes;
    assert.equal(
      loads.reduce((sum, n) => sum + n.rooms, 0),
      states.reduce((sum, s) => sum + s.rooms.length, 0),
      "the registry's load figures add up to the rooms the nodes hold",
    );
  });
});

describe("a home taken for dead while it was cut off", () => {
  it("finds its room held by another node and drops its copy: its sockets reconnect to the new home, nobody leaves", async () => {
    const alice = await client(0);
    await alice.join("stale", "alice");
    const home = await cluster.homeOf("stale");
    const other = [0, 1, 2].find((i) => i !== home)!;
    // Carol's socket is on the home itself, Bob's on another node.
    const carol = await client(home);
    const c = await carol.join("stale", "carol");
    const bob = await client(other);
    const b = await bob.join("stale", "bob");
    await carol.next("eventOrientationChange", (m) => fromOf(m).socketId === b.d?.socketId);
    // What the survivors do with a dead node's room, done by hand while the home is still running:
    // the lease goes to another node, which restores the room from the records.
    const redis = new Redis(REDIS_TEST_URL);
    closers.push(() => redis.disconnect());
    const newHome = cluster.nodes[other]!.nodeId;
    await redis.set(`${cluster.prefix}room:stale`, newHome, "PX", 10_000);
    await redis.publish(
      `${cluster.prefix}inbox:${newHome}`,
      JSON.stringify([{ t: "restore", room: "stale" }]),
    );
    await bob.next("eventWebrtcDown", (m) => fromOf(m).socketId === "publisher", 5000);
    // The old home's next renewal fails: it drops its copy and closes the sockets it held (1001).
    assert.equal((await carol.waitClosed(5000)).code, 1001);
    await waitFor(
      "the old home dropped its copy",
      async () => !(await cluster.nodes[home]!.state()).rooms.some((r) => r.roomId === "stale"),
      5000,
    );
    assert.equal(await cluster.homeOf("stale"), other);
    assert.equal(bob.closed, undefined, "bob's socket is on the new home: it stays");
    const back = await client(other);
    const r = await back.request("reconnect", { socketId: c.d?.socketId, bearer: "carol" }, 10_000);
    assert.equal(r.s, true, JSON.stringify(r));
    assert.equal(r.d?.roomSize, 3);
    assert.ok(
      ((r.d?.sessions ?? []) as Array<{ socketId: string }>).some((x) => x.socketId === b.d?.socketId),
    );
    assert.equal(eventsFor("stale", "room.leave").length, 0, "nobody left");
  });
});

describe("a node stopped with SIGTERM", () => {
  it("hands its rooms to the other nodes: their members keep the call, its own members reconnect elsewhere, nobody leaves; it leaves the registry at once", async () => {
    // A room of the test's own, placed before node-d exists, so that its home is another node.
    const elsewhere = "drain-elsewhere";
    const host = await client(1);
    const hh = await host.join(elsewhere, "host");
    assert.ok((await cluster.homeOf(elsewhere)) < 3);
    const d = await cluster.addNode("node-d");
    await cluster.settled(4);
    // The new node has no members: a room first joined there is homed there.
    const dan = await TestClient.connect(d.wsUrl);
    closers.push(() => dan.close());
    const dn = await dan.join("drain", "dan");
    assert.equal(await cluster.homeOf("drain"), 3);
    const olga = await client(0);
    const o = await olga.join("drain", "olga");
    assert.equal(o.d?.roomSize, 2);
    await olga.next("eventOrientationChange");
    // And a member whose socket is on node-d, in a room homed on another node: it keeps its place.
    const guest = await TestClient.connect(d.wsUrl);
    const g = await guest.join(elsewhere, "guest");
    await host.next("eventOrientationChange", (m) => fromOf(m).socketId === g.d?.socketId);

    d.signal("SIGTERM");
    assert.equal((await d.exited).code, 0);
    // Dan's socket was on the stopped node (1001); Olga's stays open and the room goes on elsewhere.
    assert.equal((await dan.waitClosed()).code, 1001);
    assert.equal((await guest.waitClosed()).code, 1001);
    await olga.next("eventWebrtcDown", (m) => fromOf(m).socketId === "publisher", 5000);
    assert.equal(olga.closed, undefined, "the member on another node keeps its socket");
    const newHome = await cluster.homeOf("drain");
    assert.ok(newHome < 3);
    await cluster.settled(3, 3000);
    assert.deepEqual(
      await cluster.nodes[0]!.state().then((s) => s.cluster.deadNodes),
      [],
      "deregistered, not dead",
    );
    // Dan reconnects on another node and is in the same room with Olga; they talk through the new home.
    const danBack = await client(2);
    const r = await danBack.request("reconnect", { socketId: dn.d?.socketId, bearer: "dan" }, 10_000);
    assert.equal(r.s, true, JSON.stringify(r));
    assert.deepEqual(r.d?.sessions, [{ socketId: o.d?.socketId, userId: "olga" }]);
    assert.equal((await olga.request("sendMessage", { to: dn.d?.socketId, message: "still here" })).s, true);
    assert.equal((await danBack.next("eventMessage")).d?.message, "still here");
    // Nobody left and nobody joined again: the events say so.
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(eventsFor("drain", "room.leave").length, 0);
    assert.equal(eventsFor("drain", "room.join").length, 2);
    // The guest was only bridged through node-d: still a member at its home, in its grace.
    assert.deepEqual(
      host.all("eventLeave").filter((m) => m.d?.socketId === g.d?.socketId),
      [],
    );
    const back = await client(2);
    const rg = await back.request("reconnect", { socketId: g.d?.socketId, bearer: "guest" });
    assert.equal(rg.s, true, JSON.stringify(rg));
    assert.ok(
      ((rg.d?.sessions ?? []) as Array<{ socketId: string }>).some((x) => x.socketId === hh.d?.socketId),
    );
  });
});

describe("a home node killed with SIGKILL", () => {
  it("its room is re-homed within 10 s, media flows again for every remaining member, and a member of the dead node reconnects elsewhere", async (t) => {
    // The room's first member joins on the node with the fewest members: it becomes the home.
    const states = await Promise.all(cluster.nodes.slice(0, 3).map((n) => n.state()));
    const home = states
      .map((s, i) => ({ i, members: s.rooms.reduce((sum, r) => sum + r.roomSize, 0) }))
      .sort((a, b) => a.members - b.members)[0]!.i;
    const [e1, e2] = [0, 1, 2].filter((i) => i !== home) as [number, number];
    const x = await client(home);
    const xr = await x.join("failover", "xavier");
    assert.equal(await cluster.homeOf("failover"), home);
    const y = await MediaClient.connect(cluster.nodes[e1]!.wsUrl);
    const z = await MediaClient.connect(cluster.nodes[e2]!.wsUrl);
    closers.push(
      () => y.close(),
      () => z.close(),
    );
    await y.join("failover", "yann");
    await z.join("failover", "zoe");
    await y.publish();
    await z.publish();
    await waitFor(
      "media both ways before the kill",
      () => y.videoFrom(z.socketId) > 20 && z.videoFrom(y.socketId) > 20,
      20_000,
    );

    const killedAt = performance.now();
    cluster.nodes[home]!.child.kill("SIGKILL");
    const down = (c: TestClient) =>
      c.next("eventWebrtcDown", (m: WireMessage) => fromOf(m).socketId === "publisher", 15_000);
    await Promise.all([down(y.c), down(z.c)]);
    const rehomedMs = performance.now() - killedAt;
    t.diagnostic(`eventWebrtcDown from the new home ${Math.round(rehomedMs)} ms after SIGKILL`);
    assert.ok(rehomedMs < 10_000, `re-homed after ${Math.round(rehomedMs)} ms`);
    const newHome = await cluster.homeOf("failover");
    assert.notEqual(newHome, home);
    // Each remaining member is also told that its listener connection for the other is down.
    await y.c.next("eventWebrtcDown", (m) => fromOf(m).socketId === z.socketId, 5000);

    // The members publish again to the new home; each gets the other's media again, on a new
    // listener connection offered by the new home.
    const yOld = y.listeners.get(z.socketId);
    const zOld = z.listeners.get(y.socketId);
    await y.publish();
    await z.publish();
    const republishedAt = performance.now();
    await waitFor(
      "media both ways after the move, on new connections",
      () =>
        y.listeners.get(z.socketId) !== yOld &&
        z.listeners.get(y.socketId) !== zOld &&
        y.videoFrom(z.socketId) > 20 &&
        z.videoFrom(y.socketId) > 20,
      20_000,
    );

    t.diagnostic(
      `media both ways again ${Math.round(performance.now() - killedAt)} ms after SIGKILL (${Math.round(performance.now() - republishedAt)} ms after publishing again)`,
    );
    // Numbering goes on above what the old home sent (a gap, never a number twice).
    for (const m of [y.c, z.c]) {
      const ns = numbering(m);
      assert.ok(
        ns.every((n, i) => i === 0 || n > ns[i - 1]!),
        "event numbers only increase across the move",
      );
    }
    // Xavier's socket was on the dead node: it reconnects on a survivor and keeps its place.
    assert.ok(x.closed ?? (await x.waitClosed(5000)));
    const x2 = await client(e1);
    const r = await x2.request("reconnect", { socketId: xr.d?.socketId, bearer: "xavier" }, 15_000);
    assert.equal(r.s, true, JSON.stringify(r));
    assert.equal(r.d?.roomSize, 3);
    // Nobody joined: the move published no room.join.
    assert.equal(eventsFor("failover", "room.join").length, 3);
  });

  it("a node that was only an edge dies: its members keep their place for the grace and reconnect on the home", async () => {
    const live = [0, 1, 2].filter(
      (i) => cluster.nodes[i]!.child.exitCode === null && cluster.nodes[i]!.child.signalCode === null,
    );
    // The room is placed by load; then one member on its home and one on the other live node.
    const opener = await client(live[0]!);
    await opener.join("edge-death", "opener");
    const home = await cluster.homeOf("edge-death");
    const edge = live.find((i) => i !== home)!;
    const onHome = await client(home);
    const h = await onHome.join("edge-death", "homer");
    opener.close(1000);
    await onHome.next("eventLeave");
    const onEdge = await TestClient.connect(cluster.nodes[edge]!.wsUrl);
    const e = await onEdge.join("edge-death", "eddie");
    await onHome.next("eventOrientationChange", (m) => fromOf(m).socketId === e.d?.socketId);
    const bridgedIn = (await cluster.nodes[home]!.state()).cluster.bridgedIn;
    cluster.nodes[edge]!.child.kill("SIGKILL");
    // The home notices the edge is gone (3 refreshes), drops its stand-in for eddie's socket and
    // keeps eddie in his grace: no eventLeave.
    await waitFor(
      "the home dropped the dead edge's stand-ins",
      async () => (await cluster.nodes[home]!.state()).cluster.bridgedIn < bridgedIn,
      10_000,
    );
    assert.deepEqual(
      onHome.all("eventLeave").filter((m) => m.d?.socketId === e.d?.socketId),
      [],
    );
    assert.equal((await onHome.request("sendMessage", { to: e.d?.socketId, message: "kept" })).s, true);
    const back = await TestClient.connect(cluster.nodes[home]!.wsUrl);
    closers.push(() => back.close());
    const r = await back.request("reconnect", { socketId: e.d?.socketId, bearer: "eddie" }, 10_000);
    assert.equal(r.s, true, JSON.stringify(r));
    assert.deepEqual(r.d?.sessions, [{ socketId: h.d?.socketId, userId: "homer" }]);
    assert.equal((await back.next("eventMessage")).d?.message, "kept", "replayed from the home");
  });
});
