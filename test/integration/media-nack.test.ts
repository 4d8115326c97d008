import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { GenericNack, RtcpTransportLayerFeedback } from "werift";
import { counterValue, TestRoom, waitFor } from "../helpers/werift-room.ts";

describe("media plane: NACK from history", () => {
  let room: TestRoom;

  before(() => {
    // The listener "bob" drops every 7th video packet once, before werift's receiver sees it.
    room = new TestRoom("room-nack", { NACK_HISTORY_MS: "3000" }, (member, _from, listener) => {
      if (member.socketId === "bob") listener.installLoss((seq) => seq % 7 === 0);
    });
  });

  after(async () => {
    await room.close();
  });

  it("recovers simulated loss through NACKs answered by the server", async () => {
    room.join("alice");
    room.join("bob");
    const pub = await room.publish("alice");
    pub.start(4);
    const bob = await room.receiving("bob", "alice", 260);
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

  it("answers a NACK for a packet older than werift's 128-packet cache", async () => {
    const bob = room.listener("bob", "alice");
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
