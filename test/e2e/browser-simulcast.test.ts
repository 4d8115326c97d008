/**
 * Simulcast end to end with Chromium: a page publishes its fake camera at 1280x720 through the web
 * client (3 VP8 layers by default at that height), two pages receive it. One asks for 180 px
 * (setVideoQuality maxHeight 180), the other for 720 px: each decodes its own layer while the
 * publisher keeps sending all of them. Pausing both listeners stops the server's video packets (its
 * rtp_packets_sent_total{kind="video"} stands still, audio goes on); resuming brings a keyframe.
 * Each test sets the wishes it needs and waits for video first, so each runs alone
 * (--test-name-pattern) as well as after the others.
 * The pages use the client library itself (bundled for the test), not the demo's layout.
 * A bandwidth-limited listener is browser-simulcast-bandwidth.test.ts.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { Page } from "playwright-core";
import { launchBrowser, type TestBrowser } from "../helpers/browser.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { api, clientBundle, memberPage, type VideoIn } from "../helpers/simulcast-page.ts";
import { waitFor } from "../helpers/wait-for.ts";

const ROOM = "e2e-simulcast";

describe("browser end to end: simulcast layers per listener (Chromium)", { timeout: 120_000 }, () => {
  let server: TestServer;
  let browser: TestBrowser;
  let bundle = "";
  const pages = new Map<string, { page: Page; socketId: string }>();

  before(async () => {
    bundle = await clientBundle();
    server = await startTestServer({ ROOM_MODE: "mcu", PUBLIC_IPV4: "127.0.0.1" });
    browser = await launchBrowser();
    for (const name of ["pub", "small", "large"]) {
      pages.set(name, await memberPage(browser, bundle, server, ROOM, name, name === "pub"));
    }
  });

  after(async () => {
    await browser?.close();
    await server?.close();
  });

  const page = (name: string) => pages.get(name)?.page as Page;
  const pubId = () => pages.get("pub")?.socketId as string;

  it("a 1280x720 publisher sends three layers; a 180 px listener decodes <= 180 lines, a 720 px one >= 540, the publisher stays above 1 Mbit/s", async () => {
    await api(page("small"), "quality", pubId(), { maxHeight: 180 });
    await api(page("large"), "quality", pubId(), { maxHeight: 720 });
    let small: VideoIn | undefined;
    let large: VideoIn | undefined;
    const t0 = performance.now();
    try {
      await waitFor(
        "small on <= 180 lines, large on >= 540",
        async () => {
          small = await api(page("small"), "videoIn", pubId());
          large = await api(page("large"), "videoIn", pubId());
          return (
            small !== undefined &&
            large !== undefined &&
            small.framesDecoded > 10 &&
            small.frameHeight > 0 &&
            small.frameHeight <= 180 &&
            large.frameHeight >= 540
          );
        },
        45_000,
      );
    } catch (err) {
      throw new Error(
        `${(err as Error).message}: small ${JSON.stringify(small)}, large ${JSON.stringify(large)}`,
      );
    }
    console.log(`layers reached after ${Math.round(performance.now() - t0)} ms`);
    const out = await api(page("pub"), "videoOut");
    assert.deepEqual(
      out.layers.map((l) => l.rid).sort(),
      ["f", "h", "q"],
      `publisher layers: ${JSON.stringify(out.layers)}`,
    );
    // The publisher is no longer capped by its weakest listener: measure 3 s of its sending.
    const before = (await api(page("pub"), "videoOut")).bytesSent;
    await new Promise((r) => setTimeout(r, 3000));
    const after = (await api(page("pub"), "videoOut")).bytesSent;
    const bps = ((after - before) * 8) / 3;
    console.log(
      `publisher video ${Math.round(bps / 1000)} kbit/s; small ${JSON.stringify(small)}; large ${JSON.stringify(large)}`,
    );
    assert.ok(bps > 1_000_000, `publisher sends ${Math.round(bps / 1000)} kbit/s`);
    // The server's view agrees (waited for: under load the large listener's REMB can dip for a
    // moment and take it down a layer before it climbs back).
    let layers = "";
    await waitFor(
      "one listener on layer 0 and one on layer 2 (server gauge)",
      async () => {
        const gauge = await server.metrics.simulcastListeners.get();
        const on = (layer: string) => gauge.values.find((v) => v.labels.layer === layer)?.value ?? 0;
        layers = JSON.stringify(gauge.values.map((v) => [v.labels.layer, v.value]));
        return on("0") === 1 && on("2") === 1;
      },
      15_000,
    ).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}: ${layers}`);
    });
  });

  /** Video packets the server has sent to listeners (its own counter; the room has no other video). */
  const serverVideoOut = async () =>
    (await server.metrics.rtpPacketsOut.get()).values.find((v) => v.labels.kind === "video")?.value ?? 0;
  const serverAudioOut = async () =>
    (await server.metrics.rtpPacketsOut.get()).values.find((v) => v.labels.kind === "audio")?.value ?? 0;
  /** Both listeners asking for a layer and decoding it (each `it` starts from here, not from the one before). */
  const bothReceiving = async (small: number, large: number) => {
    await api(page("small"), "quality", pubId(), { maxHeight: small });
    await api(page("large"), "quality", pubId(), { maxHeight: large });
    const first = [
      await api(page("small"), "videoIn", pubId()),
      await api(page("large"), "videoIn", pubId()),
    ];
    await waitFor(
      "both listeners decoding",
      async () => {
        const now = [
          await api(page("small"), "videoIn", pubId()),
          await api(page("large"), "videoIn", pubId()),
        ];
        return now.every((v, i) => v !== undefined && v.framesDecoded > (first[i]?.framesDecoded ?? 0) + 5);
      },
      45_000,
    );
  };

  it("paused stops the listeners' video packets at the server (its counters) while audio goes on; resuming decodes a new keyframe soon after", async () => {
    await bothReceiving(180, 720);
    // Both listeners pause: the room's only video is the publisher's, so the server's video counter
    // must stand still (one listener paused alone would only lower its rate).
    await api(page("small"), "quality", pubId(), { paused: true });
    await api(page("large"), "quality", pubId(), { paused: true });
    // A packet already in flight (or a retransmission asked for before the pause) may still go out.
    await new Promise((r) => setTimeout(r, 500));
    const paused = (await api(page("small"), "videoIn", pubId())) as VideoIn;
    const [video0, audio0] = [await serverVideoOut(), await serverAudioOut()];
    await new Promise((r) => setTimeout(r, 1500));
    const still = (await api(page("small"), "videoIn", pubId())) as VideoIn;
    const [video1, audio1] = [await serverVideoOut(), await serverAudioOut()];
    console.log(
      `paused 1.5 s: server video packets sent ${video1 - video0}, audio ${audio1 - audio0}; small page video bytes ${still.bytesReceived - paused.bytesReceived}`,
    );
    assert.equal(video1 - video0, 0, "the server sends no video packet while both listeners are paused");
    // 2 listeners x 50 packets/s of Opus for 1.5 s; half of that is a wide margin for a loaded machine.
    assert.ok(audio1 - audio0 > 75, `audio goes on: ${audio1 - audio0} packets`);
    assert.equal(still.bytesReceived, paused.bytesReceived, "no video bytes at the page while paused");
    const t0 = performance.now();
    await api(page("small"), "quality", pubId(), { maxHeight: 180 });
    await waitFor(
      "a keyframe decoded after resuming",
      async () => {
        const now = await api(page("small"), "videoIn", pubId());
        return now !== undefined && now.keyFramesDecoded > still.keyFramesDecoded;
      },
      5000,
    );
    const ms = performance.now() - t0;
    console.log(`keyframe decoded ${Math.round(ms)} ms after resuming`);
    assert.ok((await serverVideoOut()) > video1, "the server sends video again");
    await api(page("large"), "quality", pubId(), { maxHeight: 720 });
    // The server's part (request -> keyframe forwarded, < 500 ms) is asserted in
    // media-simulcast.test.ts; here the page's decode and its stats poll add to it, and a loaded
    // machine adds more (1093 ms seen once under a parallel CI run).
    assert.ok(ms < 2000, `keyframe decoded ${Math.round(ms)} ms after resuming`);
  });

  it("watchVideo: a 180 px tall element gets the 180-line layer, a hidden one no video, shown again video again", async () => {
    const large = page("large");
    await api(large, "style", pubId(), "display: block; height: 180px; width: 320px");
    await api(large, "watch", pubId());
    await waitFor(
      "the 180 px element decoding <= 180 lines",
      async () => {
        const v = await api(large, "videoIn", pubId());
        return v !== undefined && v.frameHeight > 0 && v.frameHeight <= 180;
      },
      10_000,
    );
    await api(large, "style", pubId(), "display: none");
    await new Promise((r) => setTimeout(r, 1000));
    const hidden = (await api(large, "videoIn", pubId())) as VideoIn;
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(
      (await api(large, "videoIn", pubId()))?.bytesReceived,
      hidden.bytesReceived,
      "no video bytes while the element is hidden",
    );
    await api(large, "style", pubId(), "display: block; height: 720px; width: 1280px");
    await waitFor(
      "video again, at >= 540 lines",
      async () => {
        const v = await api(large, "videoIn", pubId());
        return v !== undefined && v.bytesReceived > hidden.bytesReceived && v.frameHeight >= 540;
      },
      15_000,
    );
  });
});
