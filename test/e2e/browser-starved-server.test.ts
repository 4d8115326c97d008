import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { after, before, describe, it } from "node:test";
import type { Page } from "playwright-core";
import { launchBrowser, type TestBrowser } from "../helpers/browser.ts";
import { type ChildServer, REPO_ROOT, spawnServer } from "../helpers/child-server.ts";
import { waitFor } from "../helpers/wait-for.ts";

/**
 * The server starved of CPU for several seconds during a call (SIGSTOP: not one instruction runs,
 * the worst case of a saturated machine), then running again. Browsers keep such a call (their
 * ICE consent window is 30 s); so must the server. The tiles say what is true meanwhile: "frozen"
 * when frames stop, the browser's "disconnected" when it sees nothing for a few seconds, and
 * "connected · media up" again afterwards.
 */

const STOP_MS = 7000;

interface Snapshot {
  socketId?: string;
  tiles: { userId: string; framesDecoded: number }[];
}
const snapshot = (page: Page): Promise<Snapshot> =>
  page.evaluate(() => (globalThis as unknown as { demo: { snapshot(): Snapshot } }).demo.snapshot());

async function tileText(page: Page): Promise<string> {
  const footer = page.locator(".tile.remote footer").first();
  if ((await footer.count()) === 0) return "(no remote tile)";
  // biome-ignore lint/performance/useDomNodeTextContent: what is rendered on screen is what is asserted
  return (await footer.innerText()).replace(/\s+/g, " ").trim();
}

async function localText(page: Page): Promise<string> {
  // biome-ignore lint/performance/useDomNodeTextContent: what is rendered on screen is what is asserted
  return (await page.locator("#local-state").innerText()).trim();
}

describe("browser end to end: a server starved of CPU for 7 s keeps the call", () => {
  let server: ChildServer;
  let browser: TestBrowser;
  const pages: Page[] = [];

  before(async () => {
    execFileSync(process.execPath, ["web/build.mjs"], { cwd: REPO_ROOT, stdio: "pipe" });
    server = await spawnServer({ ROOM_MODE: "mcu", PUBLIC_IPV4: "127.0.0.1" });
    browser = await launchBrowser();
  });

  after(async () => {
    server?.signal("SIGCONT");
    await browser?.close();
    await server?.kill();
  });

  it('tiles say frozen (no "media up") while it is stopped, then connected · media up again; no connection failed, nobody re-joined', async () => {
    for (const name of ["alice", "bob"]) {
      const page = await browser.newPage(name);
      await page.goto(`${server.httpUrl}/?room=starved`);
      await page.fill("#bearer", name);
      await page.click("#join");
      pages.push(page);
    }
    const [alice, bob] = pages as [Page, Page];
    for (const page of pages) {
      await waitFor(
        "media up on both sides, video decoding",
        async () =>
          (await tileText(page)).includes("connected · media up") &&
          ((await snapshot(page)).tiles[0]?.framesDecoded ?? 0) > 10,
        20_000,
      ).catch(async (err: unknown) => {
        // biome-ignore lint/performance/useDomNodeTextContent: what is rendered on screen is what is asserted
        const body = (await page.locator("body").innerText()).replace(/\n+/g, " | ");
        throw new Error(`${(err as Error).message}\npage shows: ${body}\n${browser.logs.join("\n")}`);
      });
    }
    const ids = await Promise.all(pages.map(async (p) => (await snapshot(p)).socketId));

    server.signal("SIGSTOP");
    const stoppedAt = Date.now();
    let last = "";
    const frozenMs = await waitFor(
      "alice's tile says frozen",
      async () => {
        last = await tileText(alice);
        return last.includes("frozen") ? Date.now() - stoppedAt : undefined;
      },
      STOP_MS,
    ).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}; the tile said: ${last}`);
    });
    const seen = new Set<string>();
    while (Date.now() - stoppedAt < STOP_MS) {
      seen.add(await tileText(alice));
      await new Promise((r) => setTimeout(r, 250));
    }
    const during = [...seen].join(" | ");
    assert.ok(!during.includes("media up"), `no "media up" while nothing arrives: ${during}`);
    server.signal("SIGCONT");
    const resumedAt = Date.now();

    for (const page of pages) {
      const before = (await snapshot(page)).tiles[0]?.framesDecoded ?? 0;
      await waitFor(
        "video flows again and the tiles say so",
        async () => {
          const text = await tileText(page);
          const frames = (await snapshot(page)).tiles[0]?.framesDecoded ?? 0;
          return text.includes("connected · media up") && !text.includes("frozen") && frames > before + 20;
        },
        20_000,
      );
      assert.match(await localText(page), /^connected · media up$/);
    }
    const recoveredMs = Date.now() - resumedAt;
    assert.deepEqual(
      await Promise.all(pages.map(async (p) => (await snapshot(p)).socketId)),
      ids,
      "same memberships",
    );
    const failures = server.logs.filter((l) => /connection failed/.test(String(l.msg)));
    assert.deepEqual(failures, [], "the server failed no peer connection");
    console.log(
      `  ℹ server stopped ${STOP_MS} ms: tile said "frozen" after ${frozenMs} ms; states seen: ${during}; all back ${recoveredMs} ms after it resumed`,
    );
    assert.ok(bob);
  });
});
