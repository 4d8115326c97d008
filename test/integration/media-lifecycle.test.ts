import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { gaugeValue, TestRoom, udpSockets, waitFor } from "../helpers/werift-room.ts";

describe("media plane: lifecycle", () => {
  it("returns to its baseline of UDP sockets, peer connections and sessions after many join/publish/leave cycles", async () => {
    const room = new TestRoom("room-cycles");
    const baselineUdp = udpSockets();
    for (let cycle = 0; cycle < 12; cycle++) {
      room.join("pub");
      room.join("sub");
      const pub = await room.publish("pub");
      pub.start();
      await room.receiving("sub", "pub", 3);
      // alternate who leaves first
      const order = cycle % 2 === 0 ? ["pub", "sub"] : ["sub", "pub"];
      for (const id of order) await room.leave(id);
    }
    assert.deepEqual(room.plane.stats(), { rooms: 0, members: 0, publishers: 0, listeners: 0 });
    await waitFor(
      "UDP sockets back to baseline",
      () => udpSockets() <= baselineUdp,
      10_000,
      () => `${udpSockets()} > ${baselineUdp}`,
    );
    assert.equal(await gaugeValue(room.metrics, "peerConnections"), 0);
    assert.equal(await gaugeValue(room.metrics, "forwardedStreams"), 0);
    await room.close();
  });

  it("binds to STATIC_PORTS, and close() releases every connection of every room", async () => {
    const baselineUdp = udpSockets();
    const room = new TestRoom("room-close", { STATIC_PORTS: "41000-41200" });
    room.join("a");
    room.join("b");
    room.join("c");
    (await room.publish("a")).start();
    (await room.publish("b")).start();
    await room.receiving("c", "a", 3);
    await room.receiving("c", "b", 3);
    const ports = room.events
      .flatMap((e) =>
        e.type === "sdp"
          ? [...e.sdp.sdp.matchAll(/a=candidate:\S+ \d+ udp \d+ 127\.0\.0\.1 (\d+) typ host/g)]
          : [],
      )
      .map((m) => Number(m[1]));
    assert.ok(ports.length >= 4 && ports.every((p) => p >= 41000 && p <= 41200), `ports ${ports.join(",")}`);
    await room.close();
    await assert.rejects(room.plane.signal(room.roomId, "a", "publisher", { type: "offer", sdp: "v=0" }));
    await waitFor(
      "UDP sockets back to baseline",
      () => udpSockets() <= baselineUdp,
      10_000,
      () => `${udpSockets()} > ${baselineUdp}`,
    );
    assert.equal(await gaugeValue(room.metrics, "peerConnections"), 0);
  });
});
