import assert from "node:assert/strict";
import { createSocket } from "node:dgram";
import { describe, it, type TestContext } from "node:test";
import { ErrorCode } from "../../src/lib/errors.ts";
import { wireCodeOf } from "../../src/mcu/media-errors.ts";
import { counterValue, TestRoom, waitFor } from "../helpers/werift-room.ts";

/** The media failure is answered with `expected` on the wire. */
const code = (expected: number) => (err: unknown) => wireCodeOf(err) === expected;

describe("media plane: bad input", () => {
  /** A room of the test's own with alice and bob in it, closed when the test ends. */
  function aliceAndBob(t: TestContext): TestRoom {
    const room = new TestRoom("room-bad");
    t.after(() => room.close());
    room.join("alice");
    room.join("bob");
    return room;
  }

  /** Alice publishes; resolves once bob receives her. */
  async function aliceToBob(room: TestRoom) {
    const pub = await room.publish("alice");
    pub.start();
    return room.receiving("bob", "alice");
  }

  it("rejects invalid and unsupported SDP with 1320 and keeps working", async (t) => {
    const room = aliceAndBob(t);
    const signal = (sdp: string, type: "offer" | "answer" = "offer") =>
      room.plane.signal(room.roomId, "alice", "publisher", { type, sdp });
    await assert.rejects(signal("garbage"), code(ErrorCode.invalidSdp));
    await assert.rejects(signal("v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n"), code(ErrorCode.invalidSdp));
    await assert.rejects(signal("v=0\r\n", "answer"), code(ErrorCode.invalidSdp));
    const pcmuOnly = [
      "v=0",
      "o=- 1 1 IN IP4 127.0.0.1",
      "s=-",
      "t=0 0",
      "a=group:BUNDLE 0",
      "m=audio 9 UDP/TLS/RTP/SAVPF 0",
      "c=IN IP4 0.0.0.0",
      "a=mid:0",
      "a=sendonly",
      "a=rtcp-mux",
      "a=rtpmap:0 PCMU/8000",
      "a=ice-ufrag:abcd",
      "a=ice-pwd:abcdefghijklmnopqrstuvwx",
      "a=fingerprint:sha-256 AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99",
      "a=setup:actpass",
      "",
    ].join("\r\n");
    await assert.rejects(signal(pcmuOnly), code(ErrorCode.invalidSdp));
    // The same member can still publish, and bob still gets it.
    await aliceToBob(room);
  });

  it("refuses unknown targets, strangers and answers nobody asked for", async (t) => {
    const room = aliceAndBob(t);
    const bobListener = await aliceToBob(room);
    const answer = { type: "answer" as const, sdp: "v=0\r\n" };
    await assert.rejects(
      room.plane.signal(room.roomId, "bob", "nobody", answer),
      code(ErrorCode.noSuchTarget),
    );
    await assert.rejects(
      room.plane.signal(room.roomId, "stranger", "publisher", answer),
      code(ErrorCode.notJoined),
    );
    await assert.rejects(room.plane.signal("no-room", "bob", "alice", answer), code(ErrorCode.notJoined));
    await assert.rejects(
      room.plane.candidate(room.roomId, "bob", "publisher", {
        candidate: "candidate:1 1 udp 1 127.0.0.1 9 typ host",
      }),
      code(ErrorCode.noSuchTarget),
    );
    const again = { type: "answer" as const, sdp: bobListener.pc.localDescription!.sdp };
    await assert.rejects(
      room.plane.signal(room.roomId, "bob", "alice", again),
      code(ErrorCode.sdpAlreadyNegotiated),
    );
  });

  it("drops and counts garbage UDP sent to the media ports, without disturbing the stream", async (t) => {
    const room = aliceAndBob(t);
    const bob = await aliceToBob(room);
    const answer = room.answers.get("alice");
    assert.ok(answer?.type === "answer");
    const ports = [...answer.sdp.matchAll(/a=candidate:\S+ \d+ udp \d+ 127\.0\.0\.1 (\d+) typ host/g)].map(
      (m) => Number(m[1]),
    );
    assert.ok(ports.length > 0, "the answer carries its candidates");
    const socket = createSocket("udp4");
    const garbage = [
      Buffer.from("hello there"),
      Buffer.alloc(300, 0xff),
      Buffer.from([0x00, 0x01, 0x00, 0x00]),
    ];
    for (const port of ports) for (const g of garbage) socket.send(g, port, "127.0.0.1");
    await new Promise((r) => setTimeout(r, 200));
    socket.close();
    assert.equal(await counterValue(room.metrics, "udpGarbage"), ports.length * garbage.length);
    const count = bob.video.length;
    await waitFor("still forwarding", () => bob.video.length > count + 10);
  });
});
