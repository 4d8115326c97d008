import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { RtcpSrPacket } from "werift";
import { TestRoom, waitFor } from "../helpers/werift-room.ts";

/**
 * The project's own per-packet path (MEDIA_FORWARDING=own, the default): packets protected with the
 * listener connection's own SRTP context and sent on its selected pair reach a real werift listener,
 * which decrypts them with the keys of its DTLS handshake; sender reports are ours; the werift path
 * stays selectable. NACK/RTX, re-publish and the rest run through the same path in the other
 * media tests.
 */
async function egress(room: TestRoom): Promise<Record<string, number>> {
  const m = await room.metrics.mediaEgress.get();
  return Object.fromEntries(m.values.map((v) => [String(v.labels.path), v.value]));
}

describe("media plane: own egress", () => {
  const rooms: TestRoom[] = [];
  after(async () => {
    await Promise.all(rooms.map((r) => r.close()));
  });

  it("forwards through the own SRTP context and sends RFC 3550 sender reports", async () => {
    const room = new TestRoom("room-own");
    rooms.push(room);
    room.join("alice");
    room.join("bob");
    const pub = await room.publish("alice");
    pub.start();
    const bob = await room.receiving("bob", "alice", 40);
    assert.deepEqual(await egress(room), { own: 1 });
    assert.ok(
      room.metrics.mediaUdpPorts.size >= 2,
      "the publisher's and the listener's sockets are registered",
    );

    const video = bob.pc.getTransceivers().find((t) => t.kind === "video");
    assert.ok(video);
    const reports: { sr: RtcpSrPacket; at: number }[] = [];
    const sub = video.receiver.dtlsTransport.onRtcp.subscribe((p) => {
      if (p instanceof RtcpSrPacket) reports.push({ sr: p, at: Date.now() });
    });
    await waitFor(
      "two sender reports for the video stream",
      () => {
        const ssrc = bob.video.at(-1)?.ssrc;
        return reports.filter((r) => r.sr.ssrc === ssrc).length >= 2;
      },
      5000,
    );
    sub.unSubscribe();
    const ssrc = bob.video.at(-1)?.ssrc;
    const mine = reports.filter((r) => r.sr.ssrc === ssrc);
    const last = mine.at(-1) as { sr: RtcpSrPacket; at: number };
    const ntp = last.sr.senderInfo.ntpTimestamp;
    const ntpMs = (Number(ntp >> 32n) - 2208988800) * 1000 + (Number(ntp & 0xffffffffn) / 2 ** 32) * 1000;
    assert.ok(Math.abs(ntpMs - last.at) < 1000, `SR NTP time ${ntpMs} is the wall clock (${last.at})`);
    assert.ok(last.sr.senderInfo.packetCount >= 40, `packet count ${last.sr.senderInfo.packetCount}`);
    const received = bob.video.filter((p) => p.ssrc === ssrc).length;
    assert.ok(last.sr.senderInfo.packetCount <= received + 50, "counts what was sent to this listener");
    const first = mine[0] as { sr: RtcpSrPacket; at: number };
    const rtpDelta = (last.sr.senderInfo.rtpTimestamp - first.sr.senderInfo.rtpTimestamp + 2 ** 32) % 2 ** 32;
    const wallMs = last.at - first.at;
    assert.ok(
      Math.abs((rtpDelta / 90_000) * 1000 - wallMs) < 300,
      `RTP timestamps advance with the clock (${rtpDelta} ticks in ${wallMs} ms)`,
    );
    await room.leave("bob");
    for (let i = 0; i < 100 && (await egress(room)).own !== 0; i++)
      await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(await egress(room), { own: 0 }, "the gauge follows the listener's departure");
  });

  it("MEDIA_FORWARDING=werift forwards through werift's RTCRtpSender", async () => {
    const room = new TestRoom("room-werift", { MEDIA_FORWARDING: "werift" });
    rooms.push(room);
    room.join("alice");
    room.join("bob");
    const pub = await room.publish("alice");
    pub.start();
    const bob = await room.receiving("bob", "alice", 40);
    assert.deepEqual(await egress(room), { werift: 1 });
    assert.equal(new Set(bob.video.map((p) => p.ssrc)).size, 1);
  });

  it("asks for a keyframe at once when a listener comes up, even inside the PLI throttle interval", async () => {
    const room = new TestRoom("room-late", { KEYFRAME_MIN_INTERVAL_MS: "10000" });
    rooms.push(room);
    room.join("alice");
    room.join("bob");
    const pub = await room.publish("alice");
    pub.start();
    await room.receiving("bob", "alice", 10);
    await waitFor("bob's PLI", () => pub.plis >= 1, 2000);
    const before = pub.plis;
    room.join("carol");
    const t0 = Date.now();
    await room.receiving("carol", "alice", 1);
    // The throttle alone would hold this PLI until 10 s after bob's.
    await waitFor("a PLI for carol", () => pub.plis > before, 3000);
    assert.ok(Date.now() - t0 < 5000);
  });

  it("releases the registered UDP ports when the plane closes", async () => {
    const room = rooms.shift() as TestRoom;
    assert.ok(room.metrics.mediaUdpPorts.size > 0);
    await room.close();
    assert.equal(room.metrics.mediaUdpPorts.size, 0);
    const drops = await room.metrics.udpSocketDrops.get();
    assert.equal(drops.values[0]?.value, 0, "no socket left to count drops on");
  });
});
