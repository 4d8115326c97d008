import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { TestClient } from "../helpers/ws-client.ts";

let server: TestServer;
const clients: TestClient[] = [];
before(async () => {
  server = await startTestServer({ ROOM_MODE: "p2p" });
});
after(async () => {
  for (const c of clients) c.close();
  await server.close();
});
async function joined(room: string, user: string): Promise<[TestClient, string]> {
  const c = await TestClient.connect(server.url);
  clients.push(c);
  const r = await c.join(room, user);
  return [c, String(r.d?.socketId)];
}

test("exchangeSdp, exchangeCandidate and sendMessage reach the named member with from", async () => {
  const [alice, aliceId] = await joined("relay", "alice");
  const [bob, bobId] = await joined("relay", "bob");
  const sdp = { type: "offer", sdp: "v=0\r\n" };
  assert.deepEqual(await alice.request("exchangeSdp", { to: bobId, sdp }), { a: "exchangeSdpR", s: true });
  const got = await bob.next("eventExchangeSdp");
  assert.deepEqual(got.d, { from: { socketId: aliceId, userId: "alice" }, sdp });
  const candidate = { candidate: "candidate:1 1 udp 1 127.0.0.1 9 typ host", sdpMid: "0", sdpMLineIndex: 0 };
  await bob.request("exchangeCandidate", { to: aliceId, candidate });
  assert.deepEqual((await alice.next("eventExchangeCandidate")).d, {
    from: { socketId: bobId, userId: "bob" },
    candidate,
  });
  await alice.request("sendMessage", { to: bobId, message: { hello: ["world"] } });
  assert.deepEqual((await bob.next("eventMessage")).d, {
    from: { socketId: aliceId, userId: "alice" },
    message: { hello: ["world"] },
  });
});

test("a target outside the sender's room gets 1298 and nothing is delivered", async () => {
  const [alice] = await joined("relay-a", "alice");
  const [mallory, malloryId] = await joined("relay-b", "mallory");
  const r = await alice.request("exchangeSdp", { to: malloryId, sdp: { type: "offer", sdp: "x" } });
  assert.deepEqual(r, { a: "exchangeSdpR", s: false, e: 1298 });
  assert.equal((await alice.request("sendMessage", { to: "F".repeat(32), message: 1 })).e, 1298);
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(mallory.all("eventExchangeSdp").length, 0);
});

test("client events are accepted without a reply and published", async () => {
  const [alice, aliceId] = await joined("relay-events", "alice");
  alice.send("eventCpu", { cpuUsed: 42 });
  alice.send("eventFreeze");
  alice.send("eventNetworkChange", { networkType: "mobile" });
  await alice.request("orientationChange", { orientation: 0, camera: "front" });
  const keys = server.published
    .filter((e) => "socketId" in e.payload && e.payload.socketId === aliceId)
    .map((e) => e.key);
  assert.deepEqual(
    keys.filter((k) => k.startsWith("client.")),
    ["client.cpu", "client.freeze", "client.network"],
  );
  assert.equal(alice.all("eventCpuR").length, 0);
});
