/**
 * Simulcast with a slow listener, in Chromium: one page publishes a 1280x720 fake camera (3 layers),
 * two pages receive it. The downlink of one of them ("slow": server -> its listener connection) goes
 * through the userspace UDP relay capped at 300 kbit/s (FIFO bottleneck, 200 ms queue); the server
 * picks that listener's layer from its bandwidth feedback alone (no setVideoQuality). It must decode
 * the low layer (<= 180 lines) without a stall over 1 s while the other decodes the top one
 * (>= 540) and the publisher keeps sending over 1 Mbit/s; with the cap lifted it must be back on the
 * top layer within 15 s.
 *
 * The relay needs the candidates of that one connection rewritten: the test gives the server a
 * MediaPort that passes the slow member's listener SDPs and candidates through the relay's mirrors.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { Page } from "playwright-core";
import { loadMediaConfig } from "../../src/config/media-config.ts";
import { newSilentLogger } from "../../src/lib/logger.ts";
import type { IceCandidate, MediaEvent, MediaPort, SessionDescription } from "../../src/media/media-port.ts";
import { newWeriftMediaPlane } from "../../src/media/werift/werift-media-plane.ts";
import { newMetrics } from "../../src/metrics/metrics.ts";
import { launchBrowser, type TestBrowser } from "../helpers/browser.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { api, clientBundle, memberPage, type VideoIn } from "../helpers/simulcast-page.ts";
import { UdpImpairmentRelay } from "../helpers/udp-impairment.ts";

const ROOM = "e2e-simulcast-bandwidth";
const CAP_BPS = 300_000;

/** Only loopback IPv4 candidates cross the relay; the page's others are dropped. */
const LOOPBACK_CANDIDATE = /candidate:\S+ \d+ udp \d+ 127\.\d+\.\d+\.\d+ \d+ typ/i;

function withoutForeignCandidates(sdp: string): string {
  return sdp
    .split("\r\n")
    .filter((l) => !l.startsWith("a=candidate:") || LOOPBACK_CANDIDATE.test(l))
    .join("\r\n");
}

/** The media plane, with the listener connections of the member whose userId is `slowUser` routed through the relay. */
function relayedPort(port: MediaPort, relay: UdpImpairmentRelay, slowUser: string): MediaPort {
  let slowId: string | undefined;
  const slow = () => slowId;
  const isSlow = (socketId: string, target: string) => socketId === slowId && target !== "publisher";
  return {
    addMember: (m) => {
      if (m.userId === slowUser) slowId = m.socketId;
      port.addMember(m);
    },
    removeMember: (r, s) => port.removeMember(r, s),
    async signal(roomId, socketId, target, sdp: SessionDescription, options) {
      const out = isSlow(socketId, target)
        ? { ...sdp, sdp: await relay.forServer(withoutForeignCandidates(sdp.sdp)) }
        : sdp;
      return port.signal(roomId, socketId, target, out, options);
    },
    async candidate(roomId, socketId, target, candidate: IceCandidate, options) {
      if (!isSlow(socketId, target)) return port.candidate(roomId, socketId, target, candidate, options);
      if (!LOOPBACK_CANDIDATE.test(candidate.candidate)) return;
      const rewritten = await relay.forServer(candidate.candidate);
      return port.candidate(roomId, socketId, target, { ...candidate, candidate: rewritten }, options);
    },
    setVideoQuality: (...args) => port.setVideoQuality(...args),
    onEvent(listener) {
      // The slow member's events keep their order through the (async) rewrite.
      let chain = Promise.resolve();
      return port.onEvent((e: MediaEvent) => {
        if (e.type === "freeze" || e.to !== slow() || e.from === "publisher") {
          listener(e);
          return;
        }
        chain = chain
          .then(async () => {
            if (e.type === "sdp")
              listener({ ...e, sdp: { ...e.sdp, sdp: await relay.forClient(e.sdp.sdp) } });
            else if (e.type === "candidate")
              listener({
                ...e,
                candidate: { ...e.candidate, candidate: await relay.forClient(e.candidate.candidate) },
              });
            else listener(e);
          })
          .catch(() => undefined);
      });
    },
    close: () => port.close(),
  };
}

describe("browser end to end: a slow listener gets the low layer, the others keep the top one", {
  timeout: 180_000,
}, () => {
  let server: TestServer;
  let browser: TestBrowser;
  let relay: UdpImpairmentRelay;
  const metrics = newMetrics({ processMetrics: false });
  const pages = new Map<string, { page: Page; socketId: string }>();
  const page = (name: string) => pages.get(name)?.page as Page;
  const pubId = () => pages.get("pub")?.socketId as string;
  const video = (name: string) => api(page(name), "videoIn", pubId()) as Promise<VideoIn | undefined>;

  before(async () => {
    const bundle = await clientBundle();
    relay = new UdpImpairmentRelay({ seed: 12 });
    relay.impair("toClient", { rateBps: CAP_BPS, queueMs: 200 });
    const plane = newWeriftMediaPlane(loadMediaConfig({ PUBLIC_IPV4: "127.0.0.1" }), {
      log: newSilentLogger(),
      metrics,
    });
    server = await startTestServer(
      { ROOM_MODE: "mcu", PUBLIC_IPV4: "127.0.0.1" },
      { media: relayedPort(plane, relay, "slow") },
    );
    browser = await launchBrowser();
    pages.set("pub", await memberPage(browser, bundle, server, ROOM, "pub", true));
    pages.set("fast", await memberPage(browser, bundle, server, ROOM, "fast", false));
    pages.set("slow", await memberPage(browser, bundle, server, ROOM, "slow", false));
  });

  after(async () => {
    await browser?.close();
    await server?.close();
    await relay?.close();
  });

  it("the slow listener decodes <= 180 lines without a stall over 1 s, the other >= 540, the publisher sends over 1 Mbit/s; with the cap lifted the slow one is back on the top layer within 15 s", async () => {
    let slow: VideoIn | undefined;
    let fast: VideoIn | undefined;
    const t0 = performance.now();
    for (;;) {
      slow = await video("slow");
      fast = await video("fast");
      if (
        slow &&
        fast &&
        slow.framesDecoded > 10 &&
        slow.frameHeight > 0 &&
        slow.frameHeight <= 180 &&
        fast.frameHeight >= 540
      )
        break;
      if (performance.now() - t0 > 60_000)
        assert.fail(`not settled after 60 s: slow ${JSON.stringify(slow)}, fast ${JSON.stringify(fast)}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    const settledMs = performance.now() - t0;
    // 15 s under the cap: frames keep coming (longest gap between decoded frames), heights seen.
    const pubBefore = (await api(page("pub"), "videoOut")).bytesSent;
    let lastFrames = slow.framesDecoded;
    let lastFrameAt = performance.now();
    let longestStallMs = 0;
    const slowHeights = new Set<number>();
    const fastHeights = new Set<number>();
    let fastSamples = 0;
    let fastTop = 0;
    /** The fast listener's spells under 540 lines (ms), and since when it is in one (NaN: not). */
    const fastDips: number[] = [];
    let dipSince = Number.NaN;
    const watchStart = performance.now();
    while (performance.now() - watchStart < 15_000) {
      await new Promise((r) => setTimeout(r, 100));
      const s = await video("slow");
      const f = await video("fast");
      const now = performance.now();
      if (s && s.framesDecoded > lastFrames) {
        longestStallMs = Math.max(longestStallMs, now - lastFrameAt);
        lastFrames = s.framesDecoded;
        lastFrameAt = now;
      }
      if (s) slowHeights.add(s.frameHeight);
      if (f) {
        fastHeights.add(f.frameHeight);
        fastSamples++;
        if (f.frameHeight >= 540) {
          fastTop++;
          if (!Number.isNaN(dipSince)) fastDips.push(now - dipSince);
          dipSince = Number.NaN;
        } else if (Number.isNaN(dipSince)) dipSince = now;
      }
    }
    if (!Number.isNaN(dipSince)) fastDips.push(performance.now() - dipSince);
    longestStallMs = Math.max(longestStallMs, performance.now() - lastFrameAt);
    const pubBps = (((await api(page("pub"), "videoOut")).bytesSent - pubBefore) * 8) / 15;
    const switches = (await metrics.layerSwitches.get()).values.map(
      (v) => `${v.labels.direction}/${v.labels.reason}=${v.value}`,
    );
    console.log(
      `settled after ${Math.round(settledMs)} ms; under the cap for 15 s: slow heights ${[...slowHeights]}, longest stall ${Math.round(longestStallMs)} ms; fast heights ${[...fastHeights]} (>= 540 in ${fastTop}/${fastSamples} samples, spells under 540: ${fastDips.map((d) => `${Math.round(d)} ms`).join(", ") || "none"}); publisher ${Math.round(pubBps / 1000)} kbit/s; relay toClient dropped ${relay.stats.toClient.dropped}; switches ${switches.join(" ")}`,
    );
    assert.ok(longestStallMs <= 1000, `slow listener stalled ${Math.round(longestStallMs)} ms`);
    // The fast listener is on the top layer except for short, bounded spells: on this loaded 2-core
    // machine its Chromium, starved of CPU, now and then reads its own late packets as overuse and
    // its REMB falls (to ~0.85x what it receives) without any loss. A REMB fall is how a
    // delay-based receiver says "congested", and the server cannot tell a starved receiver from a
    // full queue, so it goes down a layer as any SFU must; it comes back by a padding probe (2 s
    // after the switch, 2.5 s of probing, then the keyframe), not on the REMB, which climbs only a
    // few % per second. A REMB fall that follows the server's own stall (its event loop late by
    // >= 250 ms, its packets then sent as one burst) is ignored (LayerSelector, STALL_GRACE_MS).
    assert.ok(fastTop > 0, "the fast listener decoded the top layer");
    const longestDip = Math.max(0, ...fastDips);
    assert.ok(
      longestDip <= 8000,
      `fast listener under 540 lines for ${Math.round(longestDip)} ms at a stretch (spells ${fastDips.map((d) => Math.round(d))})`,
    );
    assert.ok(pubBps > 1_000_000, `publisher ${Math.round(pubBps / 1000)} kbit/s`);
    // The cap is lifted: back on the top layer within 15 s.
    relay.clear("toClient");
    const lifted = performance.now();
    let back: VideoIn | undefined;
    while (performance.now() - lifted < 15_000) {
      back = await video("slow");
      if (back && back.frameHeight >= 540) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    const backMs = performance.now() - lifted;
    console.log(`after the cap: slow at ${back?.frameHeight} lines after ${Math.round(backMs)} ms`);
    assert.ok(
      back && back.frameHeight >= 540,
      `slow listener at ${back?.frameHeight} lines 15 s after the cap was lifted`,
    );
  });
});
