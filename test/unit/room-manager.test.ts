import assert from "node:assert/strict";
import { test } from "node:test";
import type { DomainEvent } from "../../src/events/event-types.ts";
import { newSilentLogger } from "../../src/lib/logger.ts";
import { newMetrics } from "../../src/metrics/metrics.ts";
import type { JoinData } from "../../src/protocol/messages.ts";
import type { ServerEventName, ServerEvents } from "../../src/protocol/wire.ts";
import type { Member, MemberSink } from "../../src/rooms/member.ts";
import { newP2pRelay } from "../../src/rooms/p2p-relay.ts";
import { RoomManager } from "../../src/rooms/room-manager.ts";
import type { RoomTransport } from "../../src/rooms/room-transport.ts";

/** A sink that records what a member was sent, as the signaling side would number and write it. */
class RecordingSink implements MemberSink {
  readonly sent: Array<{ a: ServerEventName; d: unknown }> = [];
  connected = true;
  superseded = false;
  closed = false;
  send<K extends ServerEventName>(name: K, data: ServerEvents[K]): void {
    this.sent.push({ a: name, d: data });
  }
  supersede(): void {
    this.superseded = true;
    this.connected = false;
  }
  close(): void {
    this.closed = true;
  }
  names(): string[] {
    return this.sent.map((m) => m.a);
  }
}

function setup(options: { maxMembers?: number; graceMs?: number } = {}) {
  const published: DomainEvent[] = [];
  const transportCalls: string[] = [];
  const relay = newP2pRelay();
  const rooms = new RoomManager({
    maxMembers: options.maxMembers ?? 8,
    reconnectGraceMs: options.graceMs ?? 1000,
    events: { publish: (e) => void published.push(e), ready: true, close: async () => {} },
    metrics: newMetrics({ processMetrics: false }),
    transport: (): RoomTransport => ({
      ...relay,
      joined: (m: Member) => void transportCalls.push(`joined ${m.socketId}`),
      left: (m: Member) => void transportCalls.push(`left ${m.socketId}`),
    }),
  });
  let n = 0;
  const join = (roomId: string, userId: string) => {
    const sink = new RecordingSink();
    const socketId = `S${++n}`;
    const ctx = { socketId, ip: "127.0.0.1", log: newSilentLogger() };
    const { member, reply } = rooms.join(joinData(roomId), { userId }, sink, ctx);
    rooms.announceJoin(member);
    return { member, reply, sink };
  };
  return { rooms, published, transportCalls, join };
}

function joinData(roomId: string): JoinData {
  return {
    roomId,
    bearer: "x",
    platform: "Web",
    deviceName: "",
    networkType: "",
    version: "",
    appVersion: "",
    orientation: 90,
    camera: "front",
    capabilities: [],
  };
}

test("join: roomSize counts the joiner, sessions the others; others learn of the joiner, the joiner of them", () => {
  const { join, published, transportCalls } = setup();
  const a = join("r", "alice");
  const b = join("r", "bob");
  assert.equal(b.reply.roomSize, 2);
  assert.deepEqual(b.reply.sessions, [{ socketId: a.member.socketId, userId: "alice" }]);
  assert.deepEqual(a.sink.names(), ["eventUserMediaConfiguration", "eventOrientationChange"]);
  assert.deepEqual(b.sink.names(), ["eventOrientationChange"]);
  assert.deepEqual(
    published.map((e) => [e.key, "roomSize" in e.payload ? e.payload.roomSize : undefined]),
    [
      ["room.join", 1],
      ["room.join", 2],
    ],
  );
  assert.deepEqual(transportCalls, ["joined S1", "joined S2"]);
});

test("a full room refuses with 1316 and keeps nothing of the refused member", () => {
  const { rooms, join } = setup({ maxMembers: 1 });
  join("r", "alice");
  assert.throws(() => join("r", "bob"), { code: 1316 });
  assert.deepEqual(rooms.stats(), { rooms: 1, members: 1 });
});

test("the same user joining again replaces the old member first: eventLeave, room.leave, supersede", () => {
  const { rooms, join, published, transportCalls } = setup();
  const a = join("r", "alice");
  const b = join("r", "bob");
  const a2 = join("r", "alice");
  assert.equal(a.sink.superseded, true);
  assert.equal(a.sink.closed, true);
  assert.equal(a2.reply.roomSize, 2);
  assert.deepEqual(a2.reply.sessions, [{ socketId: b.member.socketId, userId: "bob" }]);
  const bobSaw = b.sink.names();
  assert.ok(bobSaw.indexOf("eventLeave") < bobSaw.lastIndexOf("eventOrientationChange"));
  assert.deepEqual(
    published.map((e) => e.key),
    ["room.join", "room.join", "room.leave", "room.join"],
  );
  assert.deepEqual(transportCalls, ["joined S1", "joined S2", "left S1", "joined S3"]);
  assert.equal(rooms.member(a.member.socketId), undefined);
});

test("a dropped member is kept for the grace, then leaves; a reconnect within it keeps it", async () => {
  const { rooms, join } = setup({ graceMs: 30 });
  const a = join("r", "alice");
  const b = join("r", "bob");
  rooms.disconnected(a.member);
  assert.equal(rooms.reconnect(a.member.socketId, { userId: "alice" }), a.member);
  await new Promise((r) => setTimeout(r, 60));
  assert.ok(rooms.member(a.member.socketId), "a reconnect ended the grace");
  rooms.disconnected(b.member);
  await new Promise((r) => setTimeout(r, 60));
  assert.equal(rooms.member(b.member.socketId), undefined, "the grace expired");
  assert.throws(() => rooms.reconnect(b.member.socketId, { userId: "bob" }), { code: 1317 });
  assert.throws(() => rooms.reconnect(a.member.socketId, { userId: "mallory" }), { code: 1317 });
});

test("leaving empties the room; a bearer bound to another room is refused with 1286", async () => {
  const { rooms, join } = setup();
  const a = join("r", "alice");
  rooms.leave(a.member, "closed");
  assert.deepEqual(rooms.stats(), { rooms: 0, members: 0 });
  const sink = new RecordingSink();
  const ctx = { socketId: "X", ip: "127.0.0.1", log: newSilentLogger() };
  assert.throws(() => rooms.join(joinData("r"), { userId: "u", roomId: "other" }, sink, ctx), { code: 1286 });
  await rooms.close();
});

test("close: rooms handed to another cluster node end without room.leave; the others as a shutdown", async () => {
  const { rooms, published, transportCalls, join } = setup();
  const a = join("moving", "a");
  join("moving", "b");
  const c = join("ending", "c");
  published.length = 0;
  await rooms.close((roomId) => roomId === "moving");
  assert.deepEqual(
    published.map((e) => [e.key, (e.payload as { roomId: string }).roomId]),
    [["room.leave", "ending"]],
  );
  assert.equal(a.sink.closed, true, "the member's channel is released here");
  assert.ok(!a.sink.names().includes("eventLeave"), "no eventLeave: the member goes on elsewhere");
  assert.ok(transportCalls.includes(`left ${a.member.socketId}`), "its media here is released");
  assert.equal(c.sink.closed, true);
  assert.deepEqual(rooms.stats(), { rooms: 0, members: 0 });
});
