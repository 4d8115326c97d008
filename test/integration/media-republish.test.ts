import assert from "node:assert/strict";
import { describe, it, type TestContext } from "node:test";
import { TestPublisher, TestRoom, waitFor } from "../helpers/werift-room.ts";

describe("media plane: renegotiation and re-publish", () => {
  /** A room of the test's own (closed when the test ends); resolves once alice's media reaches bob. */
  async function aliceToBob(t: TestContext) {
    const room = new TestRoom("room-republish");
    t.after(() => room.close());
    const alice = room.join("alice");
    room.join("bob");
    const pub = await room.publish("alice");
    pub.start();
    return { room, alice, pub, bob: await room.receiving("bob", "alice") };
  }

  it("answers a re-offer on the same connection (no 1330) and keeps forwarding", async (t) => {
    const { room, alice, pub, bob } = await aliceToBob(t);
    // Renegotiation from the same client connection (e.g. after eventUserMediaConfiguration).
    await pub.pc.setLocalDescription(await pub.pc.createOffer());
    const answer = await room.plane.signal(room.roomId, "alice", "publisher", {
      type: "offer",
      sdp: pub.pc.localDescription!.sdp,
    });
    assert.equal(answer?.type, "answer", "the re-offer is answered");
    await pub.pc.setRemoteDescription(answer as { type: "answer"; sdp: string });
    await waitFor("second answer applied", () => pub.pc.signalingState === "stable");
    const count = bob.video.length;
    await waitFor("still receiving", () => bob.video.length > count + 20);
    assert.deepEqual(alice.errors, []);
  });

  it("keeps the listener's SSRC and sequence numbers continuous when the publisher re-publishes from a new connection", async (t) => {
    const { room, bob, pub: old } = await aliceToBob(t);
    old.stop();
    await new Promise((r) => setTimeout(r, 100));
    const beforeSwitch = bob.video.length;
    const lastSeq = bob.video.at(-1)!.seq;
    const lastTs = bob.video.at(-1)!.ts;
    const next = await room.publish("alice", new TestPublisher());
    next.start();
    await waitFor("packets from the new source", () => bob.video.length > beforeSwitch + 30);
    const after = bob.video.slice(beforeSwitch);
    assert.equal(after[0]!.seq, (lastSeq + 1) % 0x10000, "first packet continues the numbering");
    assert.equal(new Set(bob.video.map((p) => p.ssrc)).size, 1, "same SSRC before and after");
    const tsStep = (after[0]!.ts - lastTs + 2 ** 32) % 2 ** 32;
    assert.ok(tsStep > 0 && tsStep < 90_000 * 2, `timestamp advanced by ${tsStep}`);
    assert.deepEqual(room.member("bob").offersFrom, ["alice"], "no new offer to the listener");
  });
});
