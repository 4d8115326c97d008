import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { waitFor } from "../helpers/wait-for.ts";
import { TestClient } from "../helpers/ws-client.ts";

let server: TestServer;
const clients: TestClient[] = [];
let witness: TestClient;
let witnessPeer: TestClient;
let peerId: string;
before(async () => {
  server = await startTestServer({
    ROOM_MODE: "p2p",
    MAX_MESSAGE_BYTES: "4096",
    RATE_LIMIT_PER_SECOND: "20",
    RATE_LIMIT_BURST: "20",
    RATE_LIMIT_STRIKES: "5",
  });
  witness = await connect();
  await witness.join("calm", "witness");
  witnessPeer = await connect();
  peerId = String((await witnessPeer.join("calm", "peer")).d?.socketId);
});
after(async () => {
  // Whatever happened to the others, the well-behaved pair still talks.
  await witness.request("sendMessage", { to: peerId, message: "still here" });
  assert.equal((await witnessPeer.next("eventMessage")).d?.message, "still here");
  for (const c of clients) c.close();
  await server.close();
});
async function connect(): Promise<TestClient> {
  const c = await TestClient.connect(server.url);
  clients.push(c);
  return c;
}

test("malformed JSON, unknown actions, wrong types, actions before join", async () => {
  const c = await connect();
  c.sendRaw("{not json");
  assert.deepEqual(await c.next("generalR"), { a: "generalR", s: false, e: 1282 });
  assert.deepEqual(await c.request("fly", {}), { a: "flyR", s: false, e: 1296 });
  assert.deepEqual(await c.request("join", { roomId: 12, bearer: [] }), { a: "joinR", s: false, e: 1282 });
  assert.deepEqual(await c.request("exchangeSdp", { to: "x" }), { a: "exchangeSdpR", s: false, e: 1282 });
  assert.deepEqual(await c.request("orientationChange", { orientation: 90, camera: "front" }), {
    a: "orientationChangeR",
    s: false,
    e: 1297,
  });
  assert.deepEqual(await c.request("eventCpu", { cpuUsed: 3 }), { a: "eventCpuR", s: false, e: 1297 });
  c.sendRaw("null");
  assert.equal((await c.next("generalR")).e, 1282);
  assert.equal(c.closed, undefined);
});

test("a binary frame gets 1282 and a close 1003", async () => {
  const c = await connect();
  c.sendRaw(Buffer.from([1, 2, 3]));
  assert.equal((await c.next("generalR")).e, 1282);
  assert.equal((await c.waitClosed()).code, 1003);
});

test("an oversized frame closes with 1009", async () => {
  const c = await connect();
  c.sendRaw(JSON.stringify({ a: "sendMessage", d: { to: "x", message: "y".repeat(8000) } }));
  assert.equal((await c.waitClosed()).code, 1009);
});

test("a real-size SDP (10 KiB) passes under the default limit", async () => {
  const big = await startTestServer({ ROOM_MODE: "p2p" });
  try {
    const a = await TestClient.connect(big.url);
    const b = await TestClient.connect(big.url);
    await a.join("sdp", "a");
    const bId = String((await b.join("sdp", "b")).d?.socketId);
    const sdp = { type: "offer", sdp: `v=0\r\n${"a=candidate:x\r\n".repeat(700)}` };
    assert.equal((await a.request("exchangeSdp", { to: bId, sdp })).s, true);
    const got = (await b.next("eventExchangeSdp")).d?.sdp as { sdp: string } | undefined;
    assert.equal(got?.sdp.length, sdp.sdp.length);
    a.close();
    b.close();
  } finally {
    await big.close();
  }
});

test("a flood gets 1322 replies, then a close 1008", async () => {
  const c = await connect();
  await c.join("flood", "flooder");
  for (let i = 0; i < 200; i++) c.send("orientationChange", { orientation: 0, camera: "front" });
  const closed = await c.waitClosed();
  assert.equal(closed.code, 1008);
  assert.ok(c.all("generalR").some((m) => m.e === 1322));
  await waitFor("flooder removed", () => !server.rooms.room("flood"));
});
