/**
 * Regression (found by fuzz-protocol): a `sendMessage` whose `message` was nested a few thousand
 * levels deep fits in a frame and parses, but serialising the relayed event overflowed the stack.
 * Sent to a live member it was answered 1280; sent to a member in its reconnect grace it poisoned
 * the replay queue: the reconnect got reconnectR then a second reconnectR 1280, and every queued
 * message after it was lost. Such a message is now refused at the edge with 1282.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { startTestServer } from "../helpers/server.ts";
import { waitFor } from "../helpers/wait-for.ts";
import { TestClient } from "../helpers/ws-client.ts";

const deep = (n: number) => `${"[".repeat(n)}${"]".repeat(n)}`;

async function sendDeep(c: TestClient, to: string) {
  const mark = c.received.length;
  c.sendRaw(`{"a":"sendMessage","d":{"to":"${to}","message":${deep(5000)}}}`);
  return waitFor("sendMessageR", () => c.received.slice(mark).find((m) => m.a === "sendMessageR"));
}

test("a deeply nested sendMessage is refused with 1282 and never reaches the target or its replay queue", async () => {
  const server = await startTestServer({ ROOM_MODE: "p2p", RECONNECT_GRACE_MS: "5000" });
  const clients: TestClient[] = [];
  try {
    const a = await TestClient.connect(server.url);
    const b = await TestClient.connect(server.url);
    clients.push(a, b);
    await a.join("nest", "alice");
    const bId = String((await b.join("nest", "bob")).d?.socketId);

    assert.deepEqual(await sendDeep(a, bId), { a: "sendMessageR", s: false, e: 1282 });
    // Moderate nesting is still relayed.
    const nested = JSON.parse(deep(20)) as unknown;
    assert.equal((await a.request("sendMessage", { to: bId, message: nested })).s, true);
    assert.deepEqual((await b.next("eventMessage")).d?.message, nested);

    // While bob is in his grace, the deep message must not be queued for him.
    b.drop();
    await waitFor("bob detached", () => server.rooms.member(bId)?.connected === false);
    assert.equal((await sendDeep(a, bId)).e, 1282);
    assert.equal((await a.request("sendMessage", { to: bId, message: "after" })).s, true);

    const b2 = await TestClient.connect(server.url);
    clients.push(b2);
    assert.equal((await b2.request("reconnect", { socketId: bId, bearer: "bob" })).s, true);
    assert.equal((await b2.next("eventMessage")).d?.message, "after");
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(
      b2.all("reconnectR").map((m) => m.s),
      [true],
    );
    const crashes = (await server.metrics.programmerErrors.get()).values[0]?.value ?? 0;
    assert.equal(crashes, 0);
  } finally {
    for (const c of clients) c.close();
    await server.close();
  }
});
