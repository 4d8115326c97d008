import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { waitFor } from "../helpers/wait-for.ts";
import { TestClient } from "../helpers/ws-client.ts";

let server: TestServer;
const clients: TestClient[] = [];
before(async () => {
  server = await startTestServer({
    ROOM_MODE: "p2p",
    RECONNECT_GRACE_MS: "1500",
    HEARTBEAT_INTERVAL_MS: "100",
    HEARTBEAT_TIMEOUT_MS: "400",
  });
});
after(async () => {
  for (const c of clients) c.close();
  await server.close();
});
async function connect(options = {}): Promise<TestClient> {
  const c = await TestClient.connect(server.url, options);
  clients.push(c);
  return c;
}

test("a dropped member keeps its place; reconnect resumes it and replays what it missed, in order", async () => {
  const alice = await connect();
  const a = await alice.join("rc", "alice");
  const aliceId = String(a.d?.socketId);
  const bob = await connect();
  const b = await bob.join("rc", "bob");
  alice.drop();
  await waitFor("alice detached", () => server.rooms.member(aliceId)?.connected === false);
  for (let i = 0; i < 5; i++) await bob.request("sendMessage", { to: aliceId, message: i });
  assert.equal(bob.all("eventLeave").length, 0);

  const again = await connect();
  const r = await again.request("reconnect", { socketId: aliceId, bearer: "alice" });
  assert.equal(r.s, true);
  assert.equal(r.d?.socketId, aliceId);
  assert.equal(r.d?.roomSize, 2);
  assert.deepEqual(r.d?.sessions, [{ socketId: b.d?.socketId, userId: "bob" }]);
  const replayed = await waitFor("5 replayed messages", () => {
    const got = again.all("eventMessage");
    return got.length === 5 ? got : undefined;
  });
  assert.deepEqual(
    replayed.map((m) => m.d?.message),
    [0, 1, 2, 3, 4],
  );
  // The replay comes after reconnectR.
  assert.ok(
    again.received.findIndex((m) => m.a === "reconnectR") <
      again.received.findIndex((m) => m.a === "eventMessage"),
  );
  // And the resumed socket works both ways.
  await again.request("sendMessage", { to: b.d?.socketId, message: "back" });
  assert.equal((await bob.next("eventMessage")).d?.message, "back");
});

test("reconnect to another user's socketId is refused with 1317", async () => {
  const alice = await connect();
  const a = await alice.join("rc-steal", "alice");
  alice.drop();
  const mallory = await connect();
  const r = await mallory.request("reconnect", { socketId: a.d?.socketId, bearer: "mallory" });
  assert.deepEqual(r, { a: "reconnectR", s: false, e: 1317 });
  const unknown = await mallory.request("reconnect", { socketId: "0".repeat(32), bearer: "mallory" });
  assert.equal(unknown.e, 1317);
});

test("after the grace period the others get eventLeave", async () => {
  const alice = await connect();
  const a = await alice.join("rc-expire", "alice");
  const bob = await connect();
  await bob.join("rc-expire", "bob");
  const dropped = Date.now();
  alice.drop();
  const leave = await bob.next("eventLeave", () => true, 4000);
  const waited = Date.now() - dropped;
  assert.deepEqual(leave.d, { roomId: "rc-expire", roomSize: 1, socketId: a.d?.socketId, userId: "alice" });
  assert.ok(waited >= 1400, `eventLeave after ${waited} ms, grace is 1500 ms`);
});

test("a client that stops answering pings is closed after the heartbeat timeout", async () => {
  const silent = await connect({ autoPong: false });
  await silent.join("rc-heartbeat", "silent");
  const closed = await silent.waitClosed(3000);
  assert.equal(closed.code, 1006);
  assert.ok(Number((await server.metrics.heartbeatTimeouts.get()).values[0]?.value) >= 1);
});

test("events are numbered; reconnect with lastSeq replays what was written into a socket not yet known dead", async () => {
  const alice = await connect();
  const a = await alice.join("rc-seq", "alice");
  const aliceId = String(a.d?.socketId);
  const bob = await connect();
  const b = await bob.join("rc-seq", "bob");
  const seen = await alice.next("eventOrientationChange");
  const lastRead = Number((seen as { n?: number }).n);
  assert.ok(lastRead >= 1, "events carry n");
  // These reach Alice's socket, but her app never reads them (a half-dead connection).
  for (let i = 0; i < 3; i++) await bob.request("sendMessage", { to: aliceId, message: `lost-${i}` });
  await waitFor("3 messages written", () => alice.all("eventMessage").length === 3);
  alice.drop();
  const again = await connect();
  const r = await again.request("reconnect", { socketId: aliceId, bearer: "alice", lastSeq: lastRead });
  assert.equal(r.s, true);
  assert.equal(typeof r.d?.lastSeq, "number");
  const replayed = await waitFor("replay after lastSeq", () => {
    const got = again.all("eventMessage");
    return got.length === 3 ? got : undefined;
  });
  assert.deepEqual(
    replayed.map((m) => m.d?.message),
    ["lost-0", "lost-1", "lost-2"],
  );
  const numbers = again.received.filter((m) => m.a !== "reconnectR").map((m) => (m as { n?: number }).n);
  assert.deepEqual(
    numbers,
    [...numbers].sort((x, y) => Number(x) - Number(y)),
  );
  assert.ok(Number(numbers[0]) > lastRead);
  assert.equal(b.s, true);
});
