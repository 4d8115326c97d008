import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { waitFor } from "../helpers/wait-for.ts";
import { TestClient } from "../helpers/ws-client.ts";

let server: TestServer;
const clients: TestClient[] = [];
before(async () => {
  server = await startTestServer({ ROOM_MAX_MEMBERS: "3" });
});
after(async () => {
  for (const c of clients) c.close();
  await server.close();
});
async function client(): Promise<TestClient> {
  const c = await TestClient.connect(server.url);
  clients.push(c);
  return c;
}

test("join answers socketId, roomSize counting the joiner, media configuration and the other sessions", async () => {
  const alice = await client();
  const a = await alice.join("room-join", "alice");
  assert.match(String(a.d?.socketId), /^[0-9A-F]{32}$/);
  assert.equal(a.d?.userId, "alice");
  assert.equal(a.d?.roomSize, 1);
  assert.deepEqual(a.d?.sessions, []);
  assert.equal(
    (a.d?.userMediaConfiguration as { video: { width: { max: string } } } | undefined)?.video.width.max,
    "640",
  );

  const bob = await client();
  const b = await bob.join("room-join", "bob", { orientation: 180, camera: "back", platform: "iOS" });
  assert.equal(b.d?.roomSize, 2);
  assert.deepEqual(b.d?.sessions, [{ socketId: a.d?.socketId, userId: "alice" }]);
  // Bob learns Alice's orientation; Alice learns Bob's and gets a new media configuration.
  const toBob = await bob.next("eventOrientationChange");
  assert.deepEqual(toBob.d, {
    from: { socketId: a.d?.socketId, userId: "alice" },
    platform: "Web",
    orientation: 90,
    camera: "front",
  });
  await alice.next("eventUserMediaConfiguration");
  const toAlice = await alice.next("eventOrientationChange");
  assert.deepEqual(toAlice.d, {
    from: { socketId: b.d?.socketId, userId: "bob" },
    platform: "iOS",
    orientation: 180,
    camera: "back",
  });
  assert.equal(server.published.filter((e) => e.key === "room.join").at(-1)?.payload.roomSize, 2);
});

test("a full room answers 1316, a second join on one socket 1315", async () => {
  const members = await Promise.all([client(), client(), client()]);
  for (const [i, m] of members.entries()) await m.join("room-full", `u${i}`);
  const fourth = await client();
  const r = await fourth.request("join", { roomId: "room-full", bearer: "u4" });
  assert.deepEqual(r, { a: "joinR", s: false, e: 1316 });
  const again = await members[0]!.request("join", { roomId: "room-full", bearer: "u0" });
  assert.equal(again.e, 1315);
});

test("orientation changes are stored for later joiners", async () => {
  const alice = await client();
  await alice.join("room-orient", "alice");
  const bob = await client();
  await bob.join("room-orient", "bob");
  const r = await alice.request("orientationChange", { orientation: 270, camera: "back" });
  assert.deepEqual(r, { a: "orientationChangeR", s: true });
  const seen = await bob.next("eventOrientationChange", (m) => m.d?.orientation === 270);
  assert.equal(seen.d?.camera, "back");
  const carol = await client();
  await carol.join("room-orient", "carol");
  const aboutAlice = await carol.next(
    "eventOrientationChange",
    (m) => (m.d?.from as { userId: string } | undefined)?.userId === "alice",
  );
  assert.equal(aboutAlice.d?.orientation, 270);
  assert.equal(aboutAlice.d?.camera, "back");
});

test("a clean leave tells the others with the remaining size and a new configuration; empty rooms go away", async () => {
  const alice = await client();
  const a = await alice.join("room-leave", "alice");
  const bob = await client();
  await bob.join("room-leave", "bob");
  await alice.next("eventUserMediaConfiguration");
  alice.close(1000);
  const leave = await bob.next("eventLeave");
  assert.deepEqual(leave.d, { roomId: "room-leave", roomSize: 1, socketId: a.d?.socketId, userId: "alice" });
  const umc = await bob.next("eventUserMediaConfiguration");
  assert.equal((umc.d as { video: { height: { max: string } } }).video.height.max, "580");
  bob.close(1000);
  await waitFor("room deleted", async () => {
    const state = (await (await fetch(`${server.httpUrl}/state`)).json()) as {
      rooms: Array<{ roomId: string }>;
    };
    return !state.rooms.some((r) => r.roomId === "room-leave");
  });
  const sizes = server.published.flatMap((e) =>
    e.key === "room.leave" && e.payload.roomId === "room-leave" ? [e.payload.roomSize] : [],
  );
  assert.deepEqual(sizes, [1, 0]);
});
