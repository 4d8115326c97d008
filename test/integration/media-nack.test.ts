import assert from "node:assert/strict";
import { describe, it, type TestContext } from "node:test";
import { GenericNack, RtcpTransportLayerFeedback } from "werift";
import { counterValue, TestRoom, waitFor } from "../helpers/werift-room.ts";

describe("media plane: NACK from history", () => {
  /**
   * A room of the test's own (closed when the test ends) where alice publishes to bob; with `lossy`,
   * bob drops every 7th video packet once, before werift's receiver sees it. Resolves once bob has
   * received `packets` video and audio packets.
   */
  async function aliceToBob(t: TestContext, lossy: boolean, packets: number) {
    const room = new TestRoom(
      lossy ? "room-nack-lossy" : "room-nack",
      { NACK_HISTORY_MS: "3000" },
      (member, _from, listener) => {
        if (lossy && member.socketId === "bob") listener.installLoss((seq) => seq % 7 === 0);
      },
    );
    t.after(() => room.close());
    room.join("alice");
    room.join("bob");
    const pub = await room.publish("alice");
    pub.start(4);
    return { room, bob: await room.receiving("bob", "alice", packets) };
  }

  it("recovers simulated loss through NACKs answered by the server", async (t) => {
    const { room, bob } = await aliceToBob(t, true, 260);
    assert.ok(bob.dropped > 20, `dropped ${bob.dropped}`);
    // Every sequence number in the middle of the run arrived (first copy dropped, retransmission kept).
    const seqs = new Set(bob.video.map((p) => p.seq));
    const ordered = bob.video.map((p) => p.seq);
    const first = ordered[10]!;
    const missing: number[] = [];
    for (let i = 0; i < 200; i++) {
      const seq = (first + i) % 0x10000;
      if (!seqs.has(seq)) missing.push(seq);
    }
    assert.deepEqual(missing, [], "all lost packets were recovered");
    assert.ok((await counterValue(room.metrics, "nacks", { result: "hit" })) >= 20);
  });

  it("answers a NACK for a packet older than werift's 128-packet cache", async (t) => {
    const { bob } = await aliceToBob(t, false, 260);
    const video = bob.pc.getTransceivers().find((t) => t.kind === "video")!;
    const oldPacket = bob.video.at(-200)!;
    const newestSeq = bob.video.at(-1)!.seq;
    assert.ok((newestSeq - oldPacket.seq + 0x10000) % 0x10000 > 128, "older than 128 packets");
    const copies = () => bob.video.filter((p) => p.seq === oldPacket.seq).length;
    const before = copies();
    await video.receiver.dtlsTransport.sendRtcp([
      new RtcpTransportLayerFeedback({
        feedback: new GenericNack({
          senderSsrc: video.receiver.rtcpSsrc,
          mediaSourceSsrc: oldPacket.ssrc,
          lost: [oldPacket.seq],
        }),
      }),
    ]);
    await waitFor("the retransmission", () => copies() > before, 2000);
  });
});
