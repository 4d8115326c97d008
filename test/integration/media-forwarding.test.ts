import assert from "node:assert/strict";
import { describe, it, type TestContext } from "node:test";
import { counterValue, TestPublisher, TestRoom, waitFor } from "../helpers/werift-room.ts";

/** Arrival-order gaps (mod 2^16) between consecutive sequence numbers, ignoring retransmissions. */
function gaps(seqs: number[]): number[] {
  const out: number[] = [];
  for (let i = 1; i < seqs.length; i++) {
    const d = (seqs[i]! - seqs[i - 1]! + 0x10000) % 0x10000;
    if (d !== 1) out.push(d);
  }
  return out;
}

/**
 * Each test builds its own room: members, the publishers it needs, media flowing; none depends on
 * what another one left behind.
 */
async function roomWith(
  t: TestContext,
  name: string,
  members: string[],
  publishers: string[],
): Promise<{ room: TestRoom; pubs: Map<string, TestPublisher> }> {
  const room = new TestRoom(name, { FREEZE_TIMEOUT_MS: "300" });
  t.after(() => room.close());
  for (const id of members) room.join(id);
  const pubs = new Map<string, TestPublisher>();
  for (const id of publishers) {
    const pub = await room.publish(id);
    pub.start();
    pubs.set(id, pub);
  }
  for (const p of publishers) for (const m of members) if (m !== p) await room.receiving(m, p);
  return { room, pubs };
}

describe("media plane: forwarding", () => {
  it("forwards one publisher's audio and video to two listeners, rewritten and continuous", async (t) => {
    const room = new TestRoom("room-fwd-1", { FREEZE_TIMEOUT_MS: "300" });
    t.after(() => room.close());
    room.join("alice");
    room.join("bob");
    room.join("carol");
    const pub = await room.publish("alice");
    pub.start();
    await waitFor("publisher up", () => room.member("alice").ups.has("publisher"));
    const plisBefore = pub.plis;
    for (const id of ["bob", "carol"]) {
      const l = await room.receiving(id, "alice", 40);
      assert.equal(new Set(l.video.map((p) => p.ssrc)).size, 1, "one video SSRC per listener");
      assert.deepEqual(gaps(l.video.map((p) => p.seq)), [], "no sequence gaps on loopback");
    }
    const bobSsrc = room.listener("bob", "alice").video[0]!.ssrc;
    const carolSsrc = room.listener("carol", "alice").video[0]!.ssrc;
    assert.notEqual(bobSsrc, carolSsrc, "each listener connection has its own SSRC");
    assert.ok(pub.plis >= 1 && pub.plis >= plisBefore, "keyframe requested when listeners came up");
    assert.ok((await counterValue(room.metrics, "plis")) >= 1);
    assert.ok((await counterValue(room.metrics, "rtpPacketsOut", { kind: "video" })) >= 80);
  });

  it("sends a PLI to the publisher when a listener comes up", async (t) => {
    const { room, pubs } = await roomWith(t, "room-fwd-2", ["alice", "bob"], ["alice"]);
    const pub = pubs.get("alice")!;
    const before = pub.plis;
    room.join("dave");
    await room.receiving("dave", "alice");
    await waitFor("PLI after dave's connection", () => pub.plis > before, 2000);
  });

  it("offers existing publishers to a late joiner, and a new publisher to existing members", async (t) => {
    const { room } = await roomWith(t, "room-fwd-3", ["alice", "bob", "carol"], ["alice"]);
    const erin = room.join("erin");
    await room.receiving("erin", "alice");
    assert.deepEqual(erin.offersFrom, ["alice"]);
    const bobPub = await room.publish("bob", new TestPublisher());
    bobPub.start();
    for (const id of ["alice", "carol", "erin"]) await room.receiving(id, "bob");
    assert.equal(room.member("bob").listeners.has("bob"), false, "nobody receives themselves");
  });

  it("reports a server-side freeze and its recovery", async (t) => {
    const { room, pubs } = await roomWith(t, "room-fwd-4", ["alice", "bob"], ["bob"]);
    const pub = pubs.get("bob")!;
    pub.stop();
    await waitFor(
      "freeze event",
      () => room.events.some((e) => e.type === "freeze" && e.publisher === "bob" && e.frozen),
      3000,
    );
    pub.start();
    await waitFor(
      "recovery event",
      () => room.events.some((e) => e.type === "freeze" && e.publisher === "bob" && !e.frozen),
      3000,
    );
    const recovery = room.events.find((e) => e.type === "freeze" && !e.frozen);
    assert.ok(recovery && recovery.type === "freeze" && recovery.durationMs >= 300);
    assert.equal(await counterValue(room.metrics, "freezes", { source: "server" }), 1);
  });

  it("stops forwarding a publisher that left and closes its listener connections", async (t) => {
    const { room } = await roomWith(
      t,
      "room-fwd-5",
      ["alice", "bob", "carol", "dave", "erin"],
      ["alice", "bob"],
    );
    await room.leave("bob");
    const alice = room.listener("alice", "bob");
    const count = alice.video.length;
    await new Promise((r) => setTimeout(r, 300));
    assert.ok(alice.video.length - count < 5);
    // alice publishes to carol, dave and erin; bob's four listener connections are gone
    assert.deepEqual(room.plane.stats(), { rooms: 1, members: 4, publishers: 1, listeners: 3 });
  });
});
