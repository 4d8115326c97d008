import assert from "node:assert/strict";
import { after, test } from "node:test";
import { type ChildServer, spawnServer } from "../helpers/child-server.ts";
import {
  openTestQueue,
  RABBITMQ_HOST,
  RABBITMQ_PORT,
  RABBITMQ_TEST_URL,
  type TestQueue,
  testExchangeName,
  urlThroughProxy,
} from "../helpers/events-broker.ts";
import { startTestServer } from "../helpers/server.ts";
import { startTcpProxy, type TcpProxy } from "../helpers/tcp-proxy.ts";
import { waitFor } from "../helpers/wait-for.ts";
import { TestClient } from "../helpers/ws-client.ts";

const cleanups: Array<() => Promise<void> | void> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function readyz(httpUrl: string): Promise<number> {
  return (await fetch(`${httpUrl}/readyz`)).status;
}

async function withQueue(): Promise<{ exchange: string; queue: TestQueue }> {
  const exchange = testExchangeName();
  const queue = await openTestQueue(exchange, ["room.*"]);
  cleanups.push(() => queue.close());
  return { exchange, queue };
}

async function spawn(env: Record<string, string>): Promise<ChildServer> {
  const server = await spawnServer({ ROOM_MODE: "p2p", ...env });
  cleanups.push(() => server.kill());
  return server;
}

/** `n` members joined to rooms "r0".."r(rooms-1)", round robin; returns clients and socketIds. */
async function joinMembers(
  wsUrl: string,
  n: number,
  rooms: number,
): Promise<{ clients: TestClient[]; socketIds: string[] }> {
  const clients: TestClient[] = [];
  const socketIds: string[] = [];
  for (let i = 0; i < n; i++) {
    const c = await TestClient.connect(wsUrl);
    cleanups.push(() => c.drop());
    const reply = await c.join(`shutdown-r${i % rooms}`, `user-${i}`);
    clients.push(c);
    socketIds.push(String(reply.d?.socketId));
  }
  return { clients, socketIds };
}

function leavesFor(queue: TestQueue, socketIds: readonly string[]): string[] {
  const ids = new Set(socketIds);
  return queue.received
    .filter((e) => e.routingKey === "room.leave" && ids.has(String(e.body.socketId)))
    .map((e) => String(e.body.socketId));
}

test("SIGTERM: members see 1001, every room.leave reaches the broker, exit 0 within the deadline", async () => {
  const { exchange, queue } = await withQueue();
  const deadlineMs = 5000;
  const server = await spawn({
    RABBITMQ_URL: RABBITMQ_TEST_URL,
    RABBITMQ_EXCHANGE: exchange,
    SHUTDOWN_TIMEOUT_MS: String(deadlineMs),
  });
  await waitFor("readyz 200 (broker connected)", async () => (await readyz(server.httpUrl)) === 200);
  const { clients, socketIds } = await joinMembers(server.wsUrl, 8, 3);
  await waitFor("8 room.join at the broker", () =>
    queue.received.filter((e) => e.routingKey === "room.join").length === 8 ? true : undefined,
  );

  const sent = performance.now();
  server.signal("SIGTERM");
  const closes = await Promise.all(clients.map((c) => c.waitClosed(deadlineMs)));
  for (const close of closes) assert.deepEqual(close, { code: 1001, reason: "server shutting down" });
  const exit = await server.exited;
  assert.deepEqual([exit.code, exit.signal], [0, null], server.otherOutput.join("\n"));
  assert.ok(exit.at - sent < deadlineMs, `exited after ${Math.round(exit.at - sent)} ms`);

  // No event lost: one room.leave per member, each exactly once, confirmed before the exit.
  await waitFor("8 room.leave at the broker", () =>
    leavesFor(queue, socketIds).length >= 8 ? true : undefined,
  );
  assert.deepEqual(leavesFor(queue, socketIds).sort(), [...socketIds].sort());
  const messages = server.logs.map((l) => l.msg);
  assert.ok(messages.includes("event sink closed, every event confirmed"), messages.join(" | "));
  assert.ok(messages.includes("stopped"));
});

test("SIGTERM with the broker unreachable: the deadline bounds the shutdown", async () => {
  const { exchange } = await withQueue();
  const proxy = await proxyToBroker();
  const deadlineMs = 1500;
  const server = await spawn({
    RABBITMQ_URL: urlThroughProxy(proxy.port),
    RABBITMQ_EXCHANGE: exchange,
    RABBITMQ_RECONNECT_MIN_MS: "50",
    RABBITMQ_RECONNECT_MAX_MS: "200",
    EVENTS_FLUSH_TIMEOUT_MS: "60000",
    SHUTDOWN_TIMEOUT_MS: String(deadlineMs),
  });
  await waitFor("readyz 200", async () => (await readyz(server.httpUrl)) === 200);
  const { clients } = await joinMembers(server.wsUrl, 3, 1);
  proxy.cut();
  await waitFor("readyz 503 once the broker is gone", async () => (await readyz(server.httpUrl)) === 503);

  const sent = performance.now();
  server.signal("SIGTERM");
  for (const c of clients) assert.equal((await c.waitClosed(deadlineMs)).code, 1001);
  const exit = await server.exited;
  const took = exit.at - sent;
  assert.equal(exit.code, 0, server.otherOutput.join("\n"));
  assert.ok(took >= deadlineMs - 100, `waited for the broker until the deadline (${Math.round(took)} ms)`);
  assert.ok(took < deadlineMs + 1000, `exited after ${Math.round(took)} ms`);
  // The loss is reported, not silent.
  assert.ok(server.logs.some((l) => l.msg === "event sink closed with unconfirmed events: they are lost"));
});

test("a second signal exits at once", async () => {
  const { exchange } = await withQueue();
  const proxy = await proxyToBroker();
  const server = await spawn({
    RABBITMQ_URL: urlThroughProxy(proxy.port),
    RABBITMQ_EXCHANGE: exchange,
    RABBITMQ_RECONNECT_MIN_MS: "50",
    RABBITMQ_RECONNECT_MAX_MS: "200",
    EVENTS_FLUSH_TIMEOUT_MS: "60000",
    SHUTDOWN_TIMEOUT_MS: "60000",
  });
  await waitFor("readyz 200", async () => (await readyz(server.httpUrl)) === 200);
  const { clients } = await joinMembers(server.wsUrl, 2, 1);
  proxy.cut();
  server.signal("SIGTERM");
  // The first signal waits for the broker (up to 60 s) ...
  for (const c of clients) assert.equal((await c.waitClosed()).code, 1001);
  await waitFor("shutting down log", () => server.logs.some((l) => l.msg === "shutting down"));
  // ... the second ends it now.
  const sent = performance.now();
  server.signal("SIGINT");
  const exit = await server.exited;
  assert.equal(exit.code, 1);
  assert.ok(exit.at - sent < 1000, `exited ${Math.round(exit.at - sent)} ms after the second signal`);
  assert.ok(server.logs.some((l) => l.msg === "second signal: exiting now"));
});

test("/readyz flips to 503 when the broker goes away and back to 200 when it returns", async () => {
  const { exchange } = await withQueue();
  const proxy = await proxyToBroker();
  const server = await startTestServer({
    ROOM_MODE: "p2p",
    RABBITMQ_URL: urlThroughProxy(proxy.port),
    RABBITMQ_EXCHANGE: exchange,
    RABBITMQ_RECONNECT_MIN_MS: "50",
    RABBITMQ_RECONNECT_MAX_MS: "200",
    EVENTS_FLUSH_TIMEOUT_MS: "200",
  });
  cleanups.push(() => server.close());
  await waitFor("readyz 200", async () => (await readyz(server.httpUrl)) === 200);
  proxy.cut();
  await waitFor("readyz 503", async () => (await readyz(server.httpUrl)) === 503);
  // Still alive: liveness must not fail because a dependency is down.
  assert.equal((await fetch(`${server.httpUrl}/healthz`)).status, 200);
  proxy.restore();
  await waitFor("readyz 200 again", async () => (await readyz(server.httpUrl)) === 200, 5000);
});

async function proxyToBroker(): Promise<TcpProxy> {
  const proxy = await startTcpProxy({ targetHost: RABBITMQ_HOST, targetPort: RABBITMQ_PORT });
  cleanups.push(() => proxy.close());
  return proxy;
}
