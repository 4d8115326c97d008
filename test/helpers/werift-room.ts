/** A media plane on 127.0.0.1 plus test members wired to it through the event shuttle. */
import { loadMediaConfig } from "../../src/config/media-config.ts";
import { newSilentLogger } from "../../src/lib/logger.ts";
import type { MediaEvent, SessionDescription } from "../../src/media/media-port.ts";
import { newWeriftMediaPlane, type WeriftMediaPlane } from "../../src/media/werift/werift-media-plane.ts";
import { type Metrics, newMetrics } from "../../src/metrics/metrics.ts";
import { shuttle, type TestListener, TestMember, TestPublisher, waitFor } from "./werift-peers.ts";

export class TestRoom {
  readonly roomId: string;
  readonly plane: WeriftMediaPlane;
  readonly metrics: Metrics;
  readonly members = new Map<string, TestMember>();
  readonly events: MediaEvent[] = [];
  /** The server's latest answer to each member's publish offer. */
  readonly answers = new Map<string, SessionDescription>();
  readonly #stop: (() => void)[] = [];

  constructor(
    roomId: string,
    env: Record<string, string> = {},
    onListener?: (m: TestMember, from: string, l: TestListener) => void,
  ) {
    this.roomId = roomId;
    this.metrics = newMetrics({ processMetrics: false });
    this.plane = newWeriftMediaPlane(
      loadMediaConfig({ PUBLIC_IPV4: "127.0.0.1", KEYFRAME_MIN_INTERVAL_MS: "100", ...env }),
      {
        log: newSilentLogger(),
        metrics: this.metrics,
      },
    );
    this.#stop.push(shuttle(this.plane, this.members, onListener));
    this.#stop.push(this.plane.onEvent((e) => this.events.push(e)));
  }

  join(socketId: string): TestMember {
    const m = new TestMember(this.roomId, socketId);
    this.members.set(socketId, m);
    this.plane.addMember({ roomId: this.roomId, socketId, userId: `user-${socketId}`, reoffer: true });
    return m;
  }

  async publish(socketId: string, publisher = new TestPublisher()): Promise<TestPublisher> {
    const m = this.member(socketId);
    const previous = m.publisher;
    m.publisher = publisher;
    const answer = await this.plane.signal(this.roomId, socketId, "publisher", await publisher.offer());
    if (answer) {
      this.answers.set(socketId, answer);
      await publisher.pc.setRemoteDescription(answer as { type: "answer"; sdp: string });
    }
    await previous?.close();
    return publisher;
  }

  async leave(socketId: string): Promise<void> {
    const m = this.members.get(socketId);
    this.members.delete(socketId);
    this.plane.removeMember(this.roomId, socketId);
    await m?.close();
  }

  member(socketId: string): TestMember {
    const m = this.members.get(socketId);
    if (!m) throw new Error(`no member ${socketId}`);
    return m;
  }

  listener(memberId: string, publisherId: string): TestListener {
    const l = this.member(memberId).listeners.get(publisherId);
    if (!l) throw new Error(`${memberId} has no listener for ${publisherId}`);
    return l;
  }

  /** Waits for memberId's connection from publisherId to be up and to carry video and audio. */
  async receiving(memberId: string, publisherId: string, packets = 20): Promise<TestListener> {
    const m = this.member(memberId);
    await waitFor(
      `${memberId} up from ${publisherId}`,
      () => m.ups.has(publisherId),
      10_000,
      () => JSON.stringify({ errors: m.errors.map(String), offers: m.offersFrom }),
    );
    const l = this.listener(memberId, publisherId);
    await waitFor(
      `${memberId} receiving ${publisherId}`,
      () => l.video.length >= packets && l.audio.length >= packets,
      10_000,
      () => `${l.video.length} video, ${l.audio.length} audio`,
    );
    return l;
  }

  async close(): Promise<void> {
    for (const stop of this.#stop) stop();
    await Promise.all([...this.members.values()].map((m) => m.close()));
    await this.plane.close();
  }
}

export async function gaugeValue(
  metrics: Metrics,
  name: "peerConnections" | "forwardedStreams",
): Promise<number> {
  const m = await metrics[name].get();
  return m.values.reduce((sum, v) => sum + v.value, 0);
}

export async function counterValue(
  metrics: Metrics,
  name: "nacks" | "plis" | "udpGarbage" | "rtpPacketsOut" | "freezes",
  labels: Record<string, string> = {},
): Promise<number> {
  const m = await metrics[name].get();
  return m.values
    .filter((v) =>
      Object.entries(labels).every(([k, val]) => (v.labels as Record<string, unknown>)[k] === val),
    )
    .reduce((sum, v) => sum + v.value, 0);
}

export function udpSockets(): number {
  return process.getActiveResourcesInfo().filter((r) => r === "UDPWrap").length;
}

export { TestPublisher, waitFor };
