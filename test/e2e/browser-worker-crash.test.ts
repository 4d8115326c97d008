import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import type { Page } from "playwright-core";
import { loadMediaConfig } from "../../src/config/media-config.ts";
import { newSilentLogger } from "../../src/lib/logger.ts";
import { newWorkerMediaPlane, type WorkerMediaPlane } from "../../src/media/worker/worker-media-plane.ts";
import { newMetrics } from "../../src/metrics/metrics.ts";
import { launchBrowser, type TestBrowser } from "../helpers/browser.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { waitFor } from "../helpers/wait-for.ts";

/**
 * The media worker holding a room crashes: the server restarts it, tells each publisher
 * (eventWebrtcDown from "publisher"), the demo client publishes again on a new connection,
 * and every page's remote video resumes, without anyone re-joining.
 */
interface Tile {
  userId: string;
  framesDecoded: number;
  up: boolean;
}
interface Snapshot {
  state: string;
  socketId?: string;
  publish: { up: boolean };
  tiles: Tile[];
}
const snapshot = (page: Page): Promise<Snapshot> =>
  page.evaluate(() => (globalThis as unknown as { demo: { snapshot(): Snapshot } }).demo.snapshot());

describe("browser end to end: a media worker crash is survived", () => {
  let server: TestServer;
  let browser: TestBrowser;
  let plane: WorkerMediaPlane;

  before(async () => {
    const root = fileURLToPath(new URL("../..", import.meta.url));
    execFileSync(process.execPath, ["web/build.mjs"], { cwd: root, stdio: "pipe" });
    plane = newWorkerMediaPlane(
      loadMediaConfig({ PUBLIC_IPV4: "127.0.0.1" }),
      { log: newSilentLogger(), metrics: newMetrics({ processMetrics: false }) },
      { workers: 1 },
    );
    server = await startTestServer({ ROOM_MODE: "mcu" }, { media: plane });
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await server?.close();
  });

  async function join(name: string): Promise<Page> {
    const page = await browser.newPage(name);
    await page.goto(`${server.httpUrl}/?room=crash-room`);
    await page.fill("#bearer", name);
    await page.click("#join");
    return page;
  }

  async function frames(page: Page, from: string): Promise<number> {
    return (await snapshot(page)).tiles.find((t) => t.userId === from)?.framesDecoded ?? 0;
  }

  it("pages publish again after eventWebrtcDown and their remote videos resume", async () => {
    const alice = await join("alice");
    const bob = await join("bob");
    await waitFor(
      "both receive each other",
      async () => (await frames(alice, "bob")) > 10 && (await frames(bob, "alice")) > 10,
      20_000,
    );
    const aliceId = (await snapshot(alice)).socketId;

    const worker = plane.workers()[0];
    assert.ok(worker, "the media worker runs");
    const crashedAt = Date.now();
    worker.postMessage({ t: "crash" });
    await waitFor(
      "a new worker",
      () => (plane.workers()[0]?.threadId ?? worker.threadId) !== worker.threadId,
      10_000,
    );

    // The dead worker forwards nothing: counts on the old connections stop. Video that advances
    // well past where it stood after the crash comes from the new connections.
    await new Promise((r) => setTimeout(r, 1000));
    const stalled = { a: await frames(alice, "bob"), b: await frames(bob, "alice") };
    await waitFor(
      "video flows again both ways",
      async () => {
        const a = await frames(alice, "bob");
        const b = await frames(bob, "alice");
        // A new connection's count starts from zero: either it passed the stalled one, or restarted.
        const fresh = (now: number, old: number) => now > old + 30 || (now < old && now > 30);
        return fresh(a, stalled.a) && fresh(b, stalled.b);
      },
      30_000,
    );
    const recoveredMs = Date.now() - crashedAt;
    assert.equal((await snapshot(alice)).socketId, aliceId, "nobody re-joined");
    assert.equal((await snapshot(alice)).state, "joined");
    console.log(`  ℹ media worker crash: video flowing again both ways after ${recoveredMs} ms`);
  });
});
