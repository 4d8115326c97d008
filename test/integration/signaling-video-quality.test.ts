/**
 * setVideoQuality over the WebSocket (docs/protocol.md): answered setVideoQualityR in MCU rooms,
 * also through a media worker thread (the call crosses the worker boundary); 1298 for a `to` that is
 * not another member, 1282 for a malformed wish, 1296 in P2P rooms.
 */
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { TestClient } from "../helpers/ws-client.ts";

async function room(
  server: TestServer,
  roomId: string,
): Promise<{ a: TestClient; b: TestClient; bId: string }> {
  const url = `ws://127.0.0.1:${server.port}/api`;
  const a = await TestClient.connect(url);
  const b = await TestClient.connect(url);
  await a.join(roomId, "alice");
  const bId = ((await b.join(roomId, "bob")).d as { socketId: string }).socketId;
  return { a, b, bId };
}

describe("setVideoQuality", () => {
  const servers: TestServer[] = [];
  const clients: TestClient[] = [];
  after(async () => {
    for (const c of clients) c.close();
    await Promise.all(servers.map((s) => s.close()));
  });

  for (const workers of ["0", "1"]) {
    it(`MCU room (MEDIA_WORKERS=${workers}): accepted for another member, 1298 for anyone else, 1282 when malformed`, async () => {
      const server = await startTestServer({ ROOM_MODE: "mcu", MEDIA_WORKERS: workers });
      servers.push(server);
      const { a, b, bId } = await room(server, `vq-${workers}`);
      clients.push(a, b);
      const ok = await a.request("setVideoQuality", { to: bId, maxHeight: 180 });
      assert.deepEqual(ok, { a: "setVideoQualityR", s: true });
      assert.equal((await a.request("setVideoQuality", { to: bId, paused: true, maxLayer: 0 })).s, true);
      assert.equal((await a.request("setVideoQuality", { to: bId })).s, true, "every field optional");
      assert.equal((await a.request("setVideoQuality", { to: "NOBODY", maxHeight: 180 })).e, 1298);
      assert.equal((await a.request("setVideoQuality", { to: "publisher", maxHeight: 180 })).e, 1298);
      assert.equal((await a.request("setVideoQuality", { to: bId, maxHeight: -1 })).e, 1282);
      assert.equal((await a.request("setVideoQuality", { to: bId, paused: "yes" })).e, 1282);
    });
  }

  it("P2P room: 1296 (the server forwards no media there)", async () => {
    const server = await startTestServer({ ROOM_MODE: "p2p" });
    servers.push(server);
    const { a, b, bId } = await room(server, "vq-p2p");
    clients.push(a, b);
    assert.equal((await a.request("setVideoQuality", { to: bId, maxHeight: 180 })).e, 1296);
  });
});
