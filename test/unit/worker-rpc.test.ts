import assert from "node:assert/strict";
import { test } from "node:test";
import { MediaError } from "../../src/media/media-error.ts";
import type { WorkerRequest } from "../../src/media/worker/protocol.ts";
import { RoomPlacement } from "../../src/media/worker/room-placement.ts";
import { RpcChannel } from "../../src/media/worker/rpc-channel.ts";

test("RpcChannel: results find their call by id; a worker error keeps its media error kind", async () => {
  const posted: Array<{ id: number } & WorkerRequest> = [];
  const ch = new RpcChannel((m) => posted.push(m));
  const a = ch.request<string>({ t: "stats" });
  const b = ch.request<string>({ t: "metrics" });
  assert.equal(ch.inFlight, 2);
  const [first, second] = posted;
  ch.settle(second?.id ?? 0, {
    ok: false,
    error: { name: "MediaError", message: "gone", kind: "no-such-connection" },
  });
  ch.settle(first?.id ?? 0, { ok: true, value: "stats!" });
  assert.equal(await a, "stats!");
  await assert.rejects(b, (err) => err instanceof MediaError && err.kind === "no-such-connection");
  assert.equal(ch.inFlight, 0);
  ch.settle(first?.id ?? 0, { ok: true, value: "late" }); // a late duplicate is dropped
});

test("RpcChannel: a deadline or an abort fails the call with 'unavailable' and forgets it", async () => {
  const ch = new RpcChannel(() => undefined);
  await assert.rejects(ch.request({ t: "stats" }, { timeoutMs: 10 }), {
    name: "MediaError",
    kind: "unavailable",
  });
  const controller = new AbortController();
  const call = ch.request({ t: "stats" }, { signal: controller.signal });
  controller.abort();
  await assert.rejects(call, { kind: "unavailable" });
  await assert.rejects(ch.request({ t: "stats" }, { signal: AbortSignal.abort() }), { kind: "unavailable" });
  assert.equal(ch.inFlight, 0);
});

test("RpcChannel: failAll fails every call in flight (the worker died)", async () => {
  const ch = new RpcChannel(() => undefined);
  const calls = [ch.request({ t: "stats" }), ch.request({ t: "metrics" })];
  ch.failAll("media worker stopped");
  for (const c of calls) await assert.rejects(c, { kind: "unavailable", message: "media worker stopped" });
});

test("RoomPlacement: a room goes to the least-loaded worker and stays there until it empties", () => {
  const p = new RoomPlacement(2);
  const m = (roomId: string, socketId: string) => ({ roomId, socketId, userId: socketId, reoffer: true });
  assert.equal(p.add(m("a", "1")), 0);
  assert.equal(p.add(m("b", "2")), 1);
  assert.equal(p.add(m("a", "3")), 0);
  assert.equal(p.add(m("c", "4")), 1, "worker 1 has fewer members");
  p.markPublisher("a", "1");
  assert.deepEqual(
    [...p.roomsOn(0)].map((r) => [r.roomId, r.members.length, r.publishers]),
    [["a", 2, ["1"]]],
  );
  p.remove("a", "1");
  p.remove("a", "3");
  assert.equal(p.slotOf("a"), undefined, "an empty room is forgotten");
  assert.equal(p.add(m("d", "5")), 0, "worker 0 is empty again");
});
