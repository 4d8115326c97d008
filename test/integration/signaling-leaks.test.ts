import assert from "node:assert/strict";
import { test } from "node:test";
import { startTestServer } from "../helpers/server.ts";
import { waitFor } from "../helpers/wait-for.ts";
import { TestClient } from "../helpers/ws-client.ts";

function resources(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const r of process.getActiveResourcesInfo()) counts[r] = (counts[r] ?? 0) + 1;
  return counts;
}

test("many join/leave/drop/reconnect cycles leave no socket, timer or member behind", async () => {
  const before = resources();
  const server = await startTestServer({ ROOM_MODE: "p2p", RECONNECT_GRACE_MS: "200" });
  for (let i = 0; i < 30; i++) {
    const a = await TestClient.connect(server.url);
    const b = await TestClient.connect(server.url);
    const joined = await a.join(`leak-${i % 3}`, `a${i}`);
    await b.join(`leak-${i % 3}`, `b${i}`);
    await b.request("orientationChange", { orientation: 0, camera: "front" });
    assert.equal((await b.request("sendMessage", { to: joined.d?.socketId, message: i })).s, true);
    if (i % 2 === 0) {
      a.drop();
      const again = await TestClient.connect(server.url);
      await waitFor(
        "drop noticed",
        () => server.rooms.member(String(joined.d?.socketId))?.connected === false,
      );
      await again.request("reconnect", { socketId: joined.d?.socketId, bearer: `a${i}` });
      again.close();
    } else {
      a.close();
    }
    b.drop();
  }
  await waitFor("every member gone", () => server.rooms.stats().members === 0 && server.hub.size === 0, 5000);
  assert.deepEqual(server.rooms.snapshot(), []);
  await server.close();
  await waitFor(
    "resources back to where they were",
    () => {
      const now = resources();
      return Object.keys({ ...before, ...now }).every((k) => (now[k] ?? 0) <= (before[k] ?? 0));
    },
    5000,
  ).catch(() => assert.deepEqual(resources(), before));
});
