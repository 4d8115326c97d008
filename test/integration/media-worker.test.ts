import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { PassThrough } from "node:stream";
import { after, before, describe, it, type TestContext } from "node:test";
import { loadMediaConfig } from "../../src/config/media-config.ts";
import { newLogger } from "../../src/lib/logger.ts";
import { wireCodeOf } from "../../src/mcu/media-errors.ts";
import type { MediaEvent } from "../../src/media/media-port.ts";
import { newWorkerMediaPlane, type WorkerMediaPlane } from "../../src/media/worker/worker-media-plane.ts";
import { type Metrics, newMetrics } from "../../src/metrics/metrics.ts";
import { parsePrometheusText } from "../helpers/prometheus-text.ts";
import { startTestServer } from "../helpers/server.ts";
import { shuttle, TestListener, TestMember, TestPublisher, waitFor } from "../helpers/werift-peers.ts";
import { counterValue, udpSockets } from "../helpers/werift-room.ts";
import { TestClient, type WireMessage } from "../helpers/ws-client.ts";

/** The media failure is answered with `code` on the wire. */
const wire = (code: number) => (err: unknown) => wireCodeOf(err) === code;

/** OS threads of this process named after a media worker (Node names a worker's thread after its `name`). */
function mediaThreads(): number {
  return readdirSync("/proc/self/task").filter((t) => {
    try {
      return readFileSync(`/proc/self/task/${t}/comm`, "utf8").startsWith("media-");
    } catch {
      return false; // the thread ended while we looked
    }
  }).length;
}

/** The media plane in MEDIA_WORKERS=2 worker threads, driven with werift peers through MediaPort. */
describe("media plane in worker threads", () => {
  let plane: WorkerMediaPlane;
  let metrics: Metrics;
  const members = new Map<string, TestMember>();
  const events: MediaEvent[] = [];
  const udpBefore = udpSockets();
  const logLines: Array<Record<string, unknown>> = [];

  /** Adds a member; it leaves the plane (and its peers close) when the test `t` ends. */
  const join = (t: TestContext, roomId: string, socketId: string): TestMember => {
    const m = new TestMember(roomId, socketId);
    members.set(socketId, m);
    plane.addMember({ roomId, socketId, userId: `user-${socketId}`, reoffer: true });
    t.after(async () => {
      members.delete(socketId);
      plane.removeMember(roomId, socketId);
      await m.close();
    });
    return m;
  };
  /**
   * Two rooms, `<p>-room-a` with `<p>a-pub` publishing to `<p>a-lis` and the same for b, placed on
   * different workers; resolves once both listeners receive.
   */
  const twoRooms = async (t: TestContext, p: string): Promise<void> => {
    for (const r of ["a", "b"]) {
      join(t, `${p}-room-${r}`, `${p}${r}-pub`);
      join(t, `${p}-room-${r}`, `${p}${r}-lis`);
    }
    assert.notEqual(plane.workerOf(`${p}-room-a`), plane.workerOf(`${p}-room-b`));
    await Promise.all([publish(`${p}a-pub`), publish(`${p}b-pub`)]);
    await Promise.all([receiving(`${p}a-lis`, `${p}a-pub`), receiving(`${p}b-lis`, `${p}b-pub`)]);
  };
  const publish = async (socketId: string): Promise<TestPublisher> => {
    const m = members.get(socketId)!;
    const previous = m.publisher;
    const p = new TestPublisher();
    m.publisher = p;
    const answer = await plane.signal(m.roomId, socketId, "publisher", await p.offer());
    if (answer) await p.pc.setRemoteDescription(answer as { type: "answer"; sdp: string });
    await previous?.close();
    p.start();
    return p;
  };
  /** Waits until `memberId` receives video and audio from `publisherId` on its latest listener connection. */
  const receiving = async (memberId: string, publisherId: string, since?: TestListener) => {
    const m = members.get(memberId)!;
    await waitFor(
      `${memberId} receiving ${publisherId}`,
      () => {
        const l = m.listeners.get(publisherId);
        return !!l && l !== since && l.video.length >= 10 && l.audio.length >= 10;
      },
      // Two worker threads start and negotiate while the first media flows: 10 s was once not
      // enough on a loaded 2-core machine (load average 22).
      20_000,
    );
    return m.listeners.get(publisherId)!;
  };

  before(() => {
    metrics = newMetrics({ processMetrics: false });
    const destination = new PassThrough();
    destination.on("data", (chunk: Buffer) => {
      for (const line of chunk.toString().split("\n")) if (line) logLines.push(JSON.parse(line));
    });
    plane = newWorkerMediaPlane(
      loadMediaConfig({ PUBLIC_IPV4: "127.0.0.1", KEYFRAME_MIN_INTERVAL_MS: "100" }),
      { log: newLogger({ level: "info", pretty: false, destination }), metrics },
      { workers: 2 },
    );
    shuttle(plane, members);
    plane.onEvent((e) => events.push(e));
  });

  after(async () => {
    await Promise.all([...members.values()].map((m) => m.close()));
    await plane.close();
  });

  it("forwards media in two rooms that land on different workers; /metrics has the workers' counters", async (t) => {
    await twoRooms(t, "w");
    assert.equal(mediaThreads(), 2, "one OS thread per media worker");
    // The workers' own records reach the parent's logger, marked with the worker's index.
    const started = logLines.filter((l) => l.msg === "media worker started");
    assert.deepEqual(started.map((l) => [l.level, l.component, l.mediaWorker]).sort(), [
      [30, "media", 0],
      [30, "media", 1],
    ]);
    const stats = await plane.stats();
    assert.deepEqual(stats, { rooms: 2, members: 4, publishers: 2, listeners: 2, workers: 2 });
    assert.ok((await counterValue(metrics, "rtpPacketsOut", { kind: "video" })) >= 20);
    const text = await metrics.registry.metrics();
    const forwarded = parsePrometheusText(text).samples.filter(
      (s) => s.name === "webrtcsignaling_media_forwarded_streams",
    );
    assert.equal(
      forwarded.reduce((n, s) => n + s.value, 0),
      2,
      text,
    );
  });

  it("keeps media error kinds (and so their wire codes) across the boundary", async (t) => {
    join(t, "e-room-a", "ea-lis");
    join(t, "e-room-b", "eb-pub");
    const bad = { type: "offer" as const, sdp: "garbage" };
    await assert.rejects(plane.signal("e-room-a", "ea-lis", "publisher", bad), {
      name: "MediaError",
      kind: "invalid-sdp",
    });
    // An answer for a connection that was never offered: eb-pub is in another room.
    const answer = { type: "answer" as const, sdp: "v=0" };
    await assert.rejects(plane.signal("e-room-a", "ea-lis", "eb-pub", answer), wire(1298));
    await assert.rejects(plane.signal("no-such-room", "x", "publisher", bad), wire(1297));
  });

  it("restarts a crashed worker: pending calls fail with 1328, its rooms hear of it and can re-publish", async (t) => {
    await twoRooms(t, "c");
    const index = plane.workerOf("c-room-a")!;
    const old = plane.workers()[index]!;
    const oldThread = old.threadId;
    const extra = new TestPublisher();
    const offer = await extra.offer();
    // The crash is handled first, so the call is still pending when the worker dies.
    old.postMessage({ t: "crash" });
    const pending = plane.signal("c-room-a", "ca-lis", "publisher", offer);
    await assert.rejects(pending, wire(1328));
    await extra.close();
    await waitFor("new worker", () => (plane.workers()[index]?.threadId ?? oldThread) !== oldThread, 5000);
    assert.equal(await counterValue(metrics, "mediaWorkerRestarts" as "plis"), 1);
    assert.ok(
      logLines.some((l) => l.msg === "media worker crashed" && l.level === 50 && l.mediaWorker === index),
    );
    assert.ok(
      events.some(
        (e) => e.type === "freeze" && e.roomId === "c-room-a" && e.publisher === "ca-pub" && e.frozen,
      ),
      "the room's members are told that the publisher froze",
    );
    assert.ok(
      events.some(
        (e) =>
          e.type === "webrtcDown" && e.roomId === "c-room-a" && e.to === "ca-pub" && e.from === "publisher",
      ),
      "the publisher is told its connection is gone, so it publishes again",
    );
    // The other worker's room did not notice.
    const bBefore = members.get("cb-lis")!.listeners.get("cb-pub")!.video.length;
    await waitFor(
      "room b still flowing",
      () => members.get("cb-lis")!.listeners.get("cb-pub")!.video.length > bBefore + 5,
    );
    // The members were added again to the new worker: a re-publish works without re-joining.
    const stale = members.get("ca-lis")!.listeners.get("ca-pub");
    await publish("ca-pub");
    await receiving("ca-lis", "ca-pub", stale);
  });

  it("close() stops every worker and leaves no handle behind", async () => {
    await Promise.all([...members.values()].map((m) => m.close()));
    members.clear();
    await plane.close();
    assert.deepEqual(plane.workers(), [undefined, undefined]);
    await assert.rejects(
      plane.signal("w-room-a", "a-pub", "publisher", { type: "offer", sdp: "" }),
      wire(1328),
    );
    assert.throws(
      () => plane.addMember({ roomId: "r", socketId: "s", userId: "u", reoffer: true }),
      wire(1328),
    );
    assert.equal(mediaThreads(), 0, "no media worker thread left");
    assert.equal(udpSockets(), udpBefore, "no UDP socket left");
    assert.deepEqual(await plane.stats(), { rooms: 0, members: 0, publishers: 0, listeners: 0, workers: 0 });
  });
});

describe("MCU signaling with MEDIA_WORKERS=2", () => {
  it("a publisher reaches another member through the WebSocket and a worker", async () => {
    const server = await startTestServer({ ROOM_MODE: "mcu", PUBLIC_IPV4: "127.0.0.1", MEDIA_WORKERS: "2" });
    const closers: Array<() => unknown> = [];
    try {
      const connect = async (user: string) => {
        const c = await TestClient.connect(server.url);
        closers.push(() => c.close());
        const r = await c.join("ws-worker-room", user);
        return { c, id: String(r.d?.socketId) };
      };
      const fromOf = (m: WireMessage) => (m.d?.from as { socketId?: string } | undefined)?.socketId;
      const alice = await connect("alice");
      const bob = await connect("bob");
      const publisher = new TestPublisher();
      closers.push(() => publisher.close());
      const reply = await alice.c.request(
        "exchangeSdp",
        { to: "publisher", sdp: await publisher.offer() },
        10_000,
      );
      assert.deepEqual(reply, { a: "exchangeSdpR", s: true });
      const answer = alice.c.received.find((m) => m.a === "eventExchangeSdp" && fromOf(m) === "publisher")!;
      await publisher.pc.setRemoteDescription(answer.d?.sdp as { type: "answer"; sdp: string });
      publisher.start();

      const offer = await bob.c.next("eventExchangeSdp", (m) => fromOf(m) === alice.id, 10_000);
      const listener = new TestListener();
      closers.push(() => listener.pc.close());
      const bobAnswer = await listener.answer(offer.d?.sdp as { type: "offer"; sdp: string });
      assert.equal((await bob.c.request("exchangeSdp", { to: alice.id, sdp: bobAnswer }, 10_000)).s, true);
      await bob.c.next("eventWebrtcUp", (m) => fromOf(m) === alice.id, 15_000);
      await waitFor("media at bob", () => listener.video.length > 10 && listener.audio.length > 10, 10_000);
      const bad = await alice.c.request("exchangeSdp", { to: "publisher", sdp: { type: "offer", sdp: "x" } });
      assert.equal(bad.e, 1320);

      const res = await fetch(`${server.httpUrl}/metrics`);
      const sent = parsePrometheusText(await res.text()).samples.filter(
        (s) => s.name === "webrtcsignaling_media_rtp_packets_sent_total",
      );
      assert.ok(sent.reduce((n, s) => n + s.value, 0) >= 20, JSON.stringify(sent));
    } finally {
      for (const close of closers.reverse()) await close();
      await server.close();
    }
  });
});
