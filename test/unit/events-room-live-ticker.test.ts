import assert from "node:assert/strict";
import { test } from "node:test";
import type { EventSink } from "../../src/events/event-sink.ts";
import type { DomainEvent, RoomLivePayload } from "../../src/events/event-types.ts";
import { newRoomLiveTicker } from "../../src/events/room-live-ticker.ts";
import { waitFor } from "../helpers/events-broker.ts";

function recordingSink(): EventSink & { events: DomainEvent[] } {
  const events: DomainEvent[] = [];
  return { events, publish: (e) => void events.push(e), ready: true, close: async () => {} };
}

const rooms: RoomLivePayload[] = [
  { roomId: "a", roomSize: 1, sessions: [{ socketId: "S1", userId: "u1" }] },
  { roomId: "b", roomSize: 0, sessions: [] },
];

test("tick publishes one room.live per room with a copy of the sessions", () => {
  const sink = recordingSink();
  const ticker = newRoomLiveTicker({ intervalMs: 0, sink, rooms: () => rooms });
  ticker.tick();
  assert.deepEqual(sink.events, [
    { key: "room.live", payload: rooms[0] },
    { key: "room.live", payload: rooms[1] },
  ]);
  ticker.close();
});

test("publishes every interval until closed", async () => {
  const sink = recordingSink();
  const ticker = newRoomLiveTicker({ intervalMs: 20, sink, rooms: () => rooms });
  await waitFor("three ticks", () => sink.events.length >= 6);
  ticker.close();
  ticker.close();
  const count = sink.events.length;
  await new Promise((r) => setTimeout(r, 60));
  assert.equal(sink.events.length, count, "no tick after close");
});

test("an aborted signal stops it; a throwing snapshot is reported, not thrown", async () => {
  const sink = recordingSink();
  const controller = new AbortController();
  const errors: unknown[] = [];
  newRoomLiveTicker({
    intervalMs: 10,
    sink,
    rooms: () => {
      throw new Error("boom");
    },
    signal: controller.signal,
    onError: (err) => errors.push(err),
  });
  await waitFor("two errors", () => errors.length >= 2);
  controller.abort();
  const count = errors.length;
  await new Promise((r) => setTimeout(r, 40));
  assert.equal(errors.length, count);
  assert.equal(sink.events.length, 0);
});
