import assert from "node:assert/strict";
import { after, test } from "node:test";
import {
  openTestQueue,
  RABBITMQ_TEST_URL,
  type TestQueue,
  testExchangeName,
  waitFor,
} from "../helpers/events-broker.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { TestClient } from "../helpers/ws-client.ts";

const INSTANCE_ID = "events-server-test";
const cleanups: Array<() => Promise<void> | void> = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

async function serverWithBroker(exchange: string, env: Record<string, string> = {}): Promise<TestServer> {
  const server = await startTestServer({
    RABBITMQ_URL: RABBITMQ_TEST_URL,
    RABBITMQ_EXCHANGE: exchange,
    INSTANCE_ID,
    RECONNECT_GRACE_MS: "0",
    ...env,
  });
  cleanups.push(() => server.close());
  return server;
}

async function client(server: TestServer): Promise<TestClient> {
  const c = await TestClient.connect(server.url);
  cleanups.push(() => c.close());
  return c;
}

async function queue(exchange: string, patterns: readonly string[]): Promise<TestQueue> {
  const q = await openTestQueue(exchange, patterns);
  cleanups.push(() => q.close());
  return q;
}

test("a join/join/leave sequence reaches a room.# queue as exactly three events with exact payloads", async () => {
  const exchange = testExchangeName();
  const q = await queue(exchange, ["room.#"]);
  const server = await serverWithBroker(exchange);

  const alice = await client(server);
  const a = await alice.join("room-events", "alice", { maxVideoBitrate: 800_000 });
  const bob = await client(server);
  const b = await bob.join("room-events", "bob", {
    platform: "iOS",
    deviceName: "iPhone",
    networkType: "4g",
  });
  bob.close(1000);
  await alice.next("eventLeave");

  // A join in another room is the marker: once it arrived, everything before it has arrived.
  const carol = await client(server);
  await carol.join("room-marker", "carol");
  await waitFor("the marker join", () => q.received.some((r) => r.body.roomId === "room-marker"));
  const got = q.received.filter((r) => r.body.roomId === "room-events");

  const envelope = (i: number) => ({
    event: got[i]?.routingKey,
    messageId: got[i]?.properties.messageId,
    timestamp: got[i]?.body.timestamp,
    instanceId: INSTANCE_ID,
  });
  assert.deepEqual(
    got.map((r) => r.routingKey),
    ["room.join", "room.join", "room.leave"],
  );
  assert.deepEqual(got[0]?.body, {
    ...envelope(0),
    roomId: "room-events",
    roomSize: 1,
    socketId: a.d?.socketId,
    userId: "alice",
    platform: "Web",
    deviceName: "test",
    networkType: "wifi",
    appVersion: "1",
    version: "1",
    ip: "127.0.0.1",
    bitrate: 800_000,
  });
  assert.deepEqual(got[1]?.body, {
    ...envelope(1),
    roomId: "room-events",
    roomSize: 2,
    socketId: b.d?.socketId,
    userId: "bob",
    platform: "iOS",
    deviceName: "iPhone",
    networkType: "4g",
    appVersion: "1",
    version: "1",
    ip: "127.0.0.1",
    bitrate: 0,
  });
  assert.deepEqual(got[2]?.body, {
    ...envelope(2),
    roomId: "room-events",
    roomSize: 1,
    socketId: b.d?.socketId,
    userId: "bob",
  });
  for (const r of got) {
    assert.match(String(r.body.messageId), /^[0-9a-f]{32}$/);
    assert.equal(r.properties.appId, INSTANCE_ID);
    assert.equal(r.properties.contentType, "application/json");
    assert.equal(r.properties.deliveryMode, 2);
  }
  assert.equal(new Set(got.map((r) => r.body.messageId)).size, 3);
});

test("room.live arrives for every room on the configured interval", async () => {
  const exchange = testExchangeName();
  const q = await queue(exchange, ["room.live"]);
  const server = await serverWithBroker(exchange, { ROOM_LIVE_INTERVAL_MS: "100" });
  const alice = await client(server);
  const a = await alice.join("room-live", "alice");
  const bob = await client(server);
  const b = await bob.join("room-live", "bob");
  const isFull = (body: Record<string, unknown>) => body.roomId === "room-live" && body.roomSize === 2;
  await waitFor("room.live with both members", () => q.received.some((r) => isFull(r.body)));
  const live = q.received.find((r) => isFull(r.body));
  assert.equal(live?.routingKey, "room.live");
  assert.deepEqual(live?.body.sessions, [
    { socketId: a.d?.socketId, userId: "alice" },
    { socketId: b.d?.socketId, userId: "bob" },
  ]);
  const first = q.received.length;
  await waitFor("another room.live tick", () => q.received.length >= first + 1);
});
