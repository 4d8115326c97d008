import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { loadMediaConfig } from "../../src/config/media-config.ts";
import { newSilentLogger } from "../../src/lib/logger.ts";
import { newWeriftMediaPlane, type WeriftMediaPlane } from "../../src/media/werift-media-plane.ts";
import { type Metrics, newMetrics } from "../../src/metrics/metrics.ts";
import { shuttle, TestMember, TestPublisher, waitFor } from "../helpers/werift-peers.ts";

const ROOM = "room-fwd";

describe("media plane: forwarding", () => {
  let plane: WeriftMediaPlane;
  let metrics: Metrics;
  const members = new Map<string, TestMember>();
  let stopShuttle: () => void;

  before(() => {
    metrics = newMetrics({ processMetrics: false });
    plane = newWeriftMediaPlane(
      loadMediaConfig({ PUBLIC_IPV4: "127.0.0.1", KEYFRAME_MIN_INTERVAL_MS: "100" }),
      {
        log: newSilentLogger(),
        metrics,
      },
    );
    stopShuttle = shuttle(plane, members);
  });

  after(async () => {
    stopShuttle();
    await Promise.all([...members.values()].map((m) => m.close()));
    await plane.close();
  });

  it("forwards a publisher's audio and video to two listeners", async () => {
    for (const id of ["alice", "bob", "carol"]) {
      members.set(id, new TestMember(ROOM, id));
      plane.addMember({ roomId: ROOM, socketId: id, userId: `u-${id}` });
    }
    const alice = members.get("alice")!;
    const pub = new TestPublisher();
    alice.publisher = pub;
    await plane.signal(ROOM, "alice", "publisher", await pub.offer());
    pub.start();
    await waitFor("publisher up", () => alice.ups.has("publisher"));
    for (const id of ["bob", "carol"]) {
      const m = members.get(id)!;
      await waitFor(
        `${id} up`,
        () => m.ups.has("alice"),
        10_000,
        () => JSON.stringify({ errors: m.errors.map(String), offers: m.offersFrom }),
      );
      const l = m.listeners.get("alice")!;
      await waitFor(
        `${id} receives`,
        () => l.video.length > 20 && l.audio.length > 20,
        10_000,
        () => `${l.video.length} video, ${l.audio.length} audio`,
      );
    }
    assert.ok(pub.plis >= 1, "the publisher was asked for a keyframe");
  });
});
