/**
 * Signaling under a bad network, with a userspace impairment relay (runs anywhere, no root):
 * 2 s one-way delay, 100 ms jitter, and a WebSocket cut followed by `reconnect` within the grace,
 * also when the server only learns of the cut from its heartbeat. Asserts what the user sees and
 * prints the figures. The media-path scenarios are in media-impairment.test.ts (userspace UDP relay)
 * and impairment.test.ts (namespaces + netem, where the kernel has it).
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { waitFor } from "../helpers/wait-for.ts";
import { TestClient } from "../helpers/ws-client.ts";
import { type LagProxy, startLagProxy } from "./lag-proxy.ts";

let server: TestServer;
const proxies: LagProxy[] = [];
const clients: TestClient[] = [];
const figures: string[] = [];

before(async () => {
  server = await startTestServer({
    ROOM_MODE: "p2p",
    RECONNECT_GRACE_MS: "8000",
    HEARTBEAT_INTERVAL_MS: "500",
    HEARTBEAT_TIMEOUT_MS: "3000",
  });
});
after(async () => {
  for (const c of clients) c.drop();
  for (const p of proxies) await p.close();
  await server.close();
  console.log(`signaling impairment figures:\n  ${figures.join("\n  ")}`);
});

function figure(text: string): void {
  figures.push(text);
  console.log(`signaling impairment: ${text}`);
}

/** A client whose WebSocket goes through its own impairment relay. */
async function impaired(): Promise<{ c: TestClient; p: LagProxy }> {
  const p = await startLagProxy(server.port);
  proxies.push(p);
  const c = await TestClient.connect(`ws://127.0.0.1:${p.port}/api`);
  clients.push(c);
  return { c, p };
}

async function direct(): Promise<TestClient> {
  const c = await TestClient.connect(server.url);
  clients.push(c);
  return c;
}

async function timed<T>(f: () => Promise<T>): Promise<[T, number]> {
  const t = performance.now();
  const v = await f();
  return [v, Math.round(performance.now() - t)];
}

test("2 s one-way delay: join, relay and replies work, the heartbeat does not kill the socket", async () => {
  const peer = await direct();
  await peer.join("delay", "peer");
  const { c, p } = await impaired();
  p.setDelay(2000);
  const [joined, joinMs] = await timed(() => c.join("delay", "slow", {}));
  assert.equal(joined.s, true);
  assert.ok(joinMs >= 4000, `join round trip ${joinMs} ms under 2 s each way`);
  const [, msgMs] = await timed(async () => {
    c.send("sendMessage", {
      to: String(peer.received.find((m) => m.a === "joinR")?.d?.socketId),
      message: "hi",
    });
    await peer.next("eventMessage", () => true, 10_000);
  });
  // Heartbeat timeout is 3 s; pongs come back after 4 s of round trip but the socket stays open
  // because every pong refreshes it: wait two timeouts.
  await new Promise((r) => setTimeout(r, 7000));
  const alive = c.closed === undefined;
  figure(`2 s delay: join ${joinMs} ms, message to a peer ${msgMs} ms, socket alive after 7 s: ${alive}`);
  assert.ok(msgMs >= 2000 && msgMs < 6000);
});

test("100 ms jitter: 50 messages arrive, in order", async () => {
  const a = await direct();
  await a.join("jitter", "a");
  const { c, p } = await impaired();
  p.setDelay(50, 100);
  const bId = String((await c.join("jitter", "b")).d?.socketId);
  const started = performance.now();
  for (let i = 0; i < 50; i++) a.send("sendMessage", { to: bId, message: i });
  await waitFor("50 messages", () => c.all("eventMessage").length === 50, 10_000);
  const order = c.all("eventMessage").map((m) => m.d?.message);
  figure(
    `100 ms jitter: 50 messages in ${Math.round(performance.now() - started)} ms, in order: ${order.every((v, i) => v === i)}`,
  );
  assert.deepEqual(
    order,
    Array.from({ length: 50 }, (_, i) => i),
  );
});

for (const serverNotices of [false, true]) {
  const label = serverNotices ? "longer than the heartbeat timeout" : "short";
  test(`WebSocket cut (${label}) then reconnect within the grace: not dropped, messages flow again`, async () => {
    const room = `cut-${serverNotices}`;
    const peer = await direct();
    await peer.join(room, "peer");
    const { c, p } = await impaired();
    const joined = await c.join(room, "walker");
    const socketId = String(joined.d?.socketId);
    const peerId = String(peer.received.find((m) => m.a === "joinR")?.d?.socketId);
    // The last event number the client read before its link went dark.
    const lastSeq = Math.max(0, ...c.received.map((m) => Number((m as { n?: number }).n ?? 0)));
    p.blackhole();
    const cutAt = performance.now();
    c.drop(); // the client gives up on its socket; the server does not see it go
    if (serverNotices) {
      await waitFor(
        "server notices the dead socket",
        () => server.rooms.member(socketId)?.connected === false,
        6000,
      );
    }
    const noticedMs = Math.round(performance.now() - cutAt);
    for (let i = 0; i < 5; i++)
      await peer.request("sendMessage", { to: socketId, message: `while away ${i}` });
    const again = await direct();
    const [r, reconnectMs] = await timed(() =>
      again.request("reconnect", { socketId, bearer: "walker", lastSeq }),
    );
    assert.equal(r.s, true, JSON.stringify(r));
    // Replayed from lastSeq: also what was written into the dead socket before the server noticed.
    const replayed = await waitFor("5 messages replayed", () => {
      const got = again.all("eventMessage").map((m) => m.d?.message);
      return got.length >= 5 ? got : undefined;
    });
    assert.deepEqual(
      replayed,
      [0, 1, 2, 3, 4].map((i) => `while away ${i}`),
    );
    const afterPeer = peer.received.length;
    assert.equal((await peer.request("sendMessage", { to: socketId, message: "welcome back" })).s, true);
    assert.equal(
      (await again.next("eventMessage", (m) => m.d?.message === "welcome back")).d?.message,
      "welcome back",
    );
    assert.ok(peer.received.length > afterPeer);
    assert.equal(peer.all("eventLeave").length, 0, "the peer saw a leave");
    assert.equal((await again.request("sendMessage", { to: peerId, message: "back" })).s, true);
    const away = Math.round(performance.now() - cutAt);
    figure(
      `WebSocket cut (${label}): server noticed after ${serverNotices ? `${noticedMs} ms` : "- (replaced by the reconnect)"}, reconnect ${reconnectMs} ms, away ${away} ms, ${replayed.length}/5 messages sent meanwhile replayed, no eventLeave`,
    );
    p.restore();
  });
}

test("a cut longer than the grace ends the membership: the peer sees eventLeave and the reconnect gets 1317", async () => {
  const short = await startTestServer({
    ROOM_MODE: "p2p",
    RECONNECT_GRACE_MS: "300",
    HEARTBEAT_INTERVAL_MS: "100",
    HEARTBEAT_TIMEOUT_MS: "500",
  });
  try {
    const peer = await TestClient.connect(short.url);
    await peer.join("gone", "peer");
    const p = await startLagProxy(short.port);
    proxies.push(p);
    const c = await TestClient.connect(`ws://127.0.0.1:${p.port}/api`);
    const socketId = String((await c.join("gone", "walker")).d?.socketId);
    p.blackhole();
    c.drop();
    const [, leaveMs] = await timed(() => peer.next("eventLeave", () => true, 5000));
    const again = await TestClient.connect(short.url);
    assert.equal((await again.request("reconnect", { socketId, bearer: "walker" })).e, 1317);
    figure(`cut beyond a 300 ms grace (heartbeat timeout 500 ms): eventLeave after ${leaveMs} ms`);
    peer.close();
    again.close();
  } finally {
    await short.close();
  }
});
