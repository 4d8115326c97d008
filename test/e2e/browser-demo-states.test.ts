import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it, type TestContext } from "node:test";
import { fileURLToPath } from "node:url";
import type { Page } from "playwright-core";
import { WebSocket } from "ws";
import { launchBrowser, type TestBrowser } from "../helpers/browser.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { waitFor } from "../helpers/wait-for.ts";
import { TestClient } from "../helpers/ws-client.ts";

/**
 * What a person sees on the demo page, read as visible text (innerText of what is on screen) and
 * kept as screenshots: in a call, room full, a blank room name, server gone, recovered after a
 * server restart, and the errors a user can cause (bad token, origin not allowed, too many
 * connections, camera blocked). Screenshots go to SCREENSHOT_DIR (default: a directory in /tmp).
 */

const ROOM = "demo-states";
/** Bob has a long name: it must not make his tile taller than the others. */
const BOB = "bob-has-a-rather-long-name-that-does-not-fit-on-one-tile";
const SHOTS = process.env.SCREENSHOT_DIR ?? join(tmpdir(), "webrtcsignaling-demo-states");
const root = fileURLToPath(new URL("../..", import.meta.url));
/** The servers a call runs on: MCU, at most two members per room. */
const CALL_SERVER = { ROOM_MODE: "mcu", PUBLIC_IPV4: "127.0.0.1", ROOM_MAX_MEMBERS: "2" };

/** The visible text of `selector` ("" when it is hidden or absent). */
async function visibleText(page: Page, selector: string): Promise<string> {
  const el = page.locator(selector).first();
  if ((await el.count()) === 0 || !(await el.isVisible())) return "";
  // biome-ignore lint/performance/useDomNodeTextContent: what is rendered on screen is what is asserted
  return (await el.innerText()).replace(/\s+/g, " ").trim();
}

/** Visible text of each remote tile's footer, in page order. */
async function tileTexts(page: Page): Promise<string[]> {
  return (await page.locator(".tile.remote footer").allInnerTexts()).map((t) =>
    t.replace(/\s+/g, " ").trim(),
  );
}

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

async function until<T>(what: string, page: Page, check: () => Promise<T | undefined | false>, ms = 20_000) {
  try {
    return await waitFor(what, check, ms);
  } catch (err) {
    const text = (
      await page
        .locator("body")
        // biome-ignore lint/performance/useDomNodeTextContent: what is rendered on screen is what is asserted
        .innerText()
        .catch(() => "")
    ).replace(/\n+/g, " | ");
    throw new Error(`${(err as Error).message}\npage shows: ${text}`);
  }
}

describe("the demo page shows every state as text a person can read", () => {
  let server: TestServer;
  let browser: TestBrowser;
  let rooms = 0;

  before(async () => {
    mkdirSync(SHOTS, { recursive: true });
    execFileSync(process.execPath, ["web/build.mjs"], { cwd: root, stdio: "pipe" });
    server = await startTestServer(CALL_SERVER);
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await server?.close();
  });

  /** A room name of the test's own, so that each test starts from an empty room. */
  const newRoom = (): string => `${ROOM}-${++rooms}`;

  /** A new tab on `url` with `name` as bearer; it closes when the test `t` ends, passed or failed. */
  async function open(t: TestContext, name: string, url: string): Promise<Page> {
    const page = await browser.newPage(name);
    t.after(() => page.close().catch(() => {}));
    await page.goto(url);
    await page.fill("#bearer", name);
    return page;
  }

  /** Alice and Bob join `room` on `on`; resolves once each one's page shows the other's tile up. */
  async function call(t: TestContext, room: string, on: TestServer = server): Promise<[Page, Page]> {
    const alice = await open(t, "alice", `${on.httpUrl}/?room=${room}`);
    await alice.click("#join");
    const bob = await open(t, BOB, `${on.httpUrl}/?room=${room}`);
    await bob.click("#join");
    for (const [page, other] of [
      [alice, BOB],
      [bob, "alice"],
    ] as const) {
      await until(`${other}'s tile is up with numbers`, page, async () => {
        const [tile] = await tileTexts(page);
        return tile?.includes(other) && tile.includes("connected · media up") && /\d+x\d+ \d+ fps/.test(tile);
      });
    }
    return [alice, bob];
  }

  /** A server of the test's own (the test may stop it: close is idempotent), closed when the test ends. */
  async function ownServer(t: TestContext, env: Record<string, string> = CALL_SERVER): Promise<TestServer> {
    const own = await startTestServer(env);
    t.after(() => own.close());
    return own;
  }

  /** Stops `own` under a call and waits until `page` says the server is unreachable, `attempts` times. */
  async function stopUnder(
    own: TestServer,
    page: Page,
    attempts: number,
  ): Promise<{ frozenAfterMs: number; status: string }> {
    const stoppedAt = Date.now();
    await own.close();
    const frozenAfterMs = await until("bob's tile says frozen", page, async () => {
      const [tile] = await tileTexts(page);
      return tile?.includes("frozen") ? Date.now() - stoppedAt : undefined;
    });
    const status = await until(`unreachable with an attempt count >= ${attempts}`, page, async () => {
      const text = await visibleText(page, "#status");
      const m = /^server unreachable, retrying \(attempt (\d+)\)$/.exec(text);
      return m && Number(m[1]) >= attempts ? text : undefined;
    });
    return { frozenAfterMs, status };
  }

  it("in a call: status, the other's tile with its state, and the local resolution/fps", async (t) => {
    const room = newRoom();
    const [alice] = await call(t, room);
    assert.equal(await visibleText(alice, "#status"), `in room ${room}`);
    await until("the local tile shows what is sent", alice, async () =>
      /^\d+x\d+ \d+ fps$/.test(await visibleText(alice, "#local-numbers")),
    );
    assert.equal(await visibleText(alice, "#notice"), "", "no notice in a good call");
    // A long name does not make tiles uneven.
    const favicon = await fetch(`${server.httpUrl}/favicon.ico`);
    assert.equal(favicon.status, 200, "/favicon.ico is served (no 404 in the console)");
    assert.deepEqual(
      browser.logs.filter((l) => /404|Failed to load resource/.test(l)),
      [],
      "no failed loads in the console",
    );
    const heights = await alice
      .locator(".tile")
      .evaluateAll((els) => els.map((e) => e.getBoundingClientRect().height));
    assert.ok(Math.max(...heights) - Math.min(...heights) < 1, `tiles of equal height: ${heights}`);
    await shot(alice, "1-in-call");
  });

  it("a blank room name is refused with a sentence", async (t) => {
    const carol = await open(t, "carol", `${server.httpUrl}/`);
    await carol.fill("#room", "   ");
    await carol.click("#join");
    assert.match(
      await visibleText(carol, "#notice"),
      /Enter a room name: it cannot be empty or only spaces\./,
    );
    assert.equal(await visibleText(carol, "#status"), "not connected");
  });

  it("room full: the third page says so, with the code in small print", async (t) => {
    const room = newRoom();
    // Two members fill the room (ROOM_MAX_MEMBERS 2): protocol clients, no media is needed for that.
    for (const name of ["alice", "bob"]) {
      const member = await TestClient.connect(server.url);
      t.after(() => member.close());
      await member.join(room, name);
    }
    const carol = await open(t, "carol", `${server.httpUrl}/`);
    await carol.fill("#room", room);
    await carol.click("#join");
    const notice = await until("the room-full notice", carol, async () => {
      const text = await visibleText(carol, "#notice");
      return text.includes("full") ? text : undefined;
    });
    assert.match(notice, new RegExp(`Could not join “${room}”\\. The room is full\\.`));
    assert.match(await visibleText(carol, "#notice-detail"), /error 1316 on join/);
    assert.equal(await visibleText(carol, "#status"), "not connected");
    assert.equal(await carol.isEnabled("#join"), true, "Join can be pressed again");
    await shot(carol, "2-room-full");
  });

  it("server gone: tiles say frozen at once, the page says unreachable and counts its attempts", async (t) => {
    const own = await ownServer(t);
    const [alice] = await call(t, newRoom(), own);
    const before = await tileTexts(alice);
    const { frozenAfterMs, status } = await stopUnder(own, alice, 2);
    assert.match(await visibleText(alice, "#notice"), /The server is unreachable.*Retrying \(attempt \d+\)/);
    const [tile] = await tileTexts(alice);
    assert.ok(tile?.includes(BOB) && !tile.includes("media up"), `tile no longer claims media: ${tile}`);
    assert.equal(before.length, 1);
    await shot(alice, "3-server-gone");
    t.diagnostic(`server stopped: tile said "frozen" after ${frozenAfterMs} ms; status "${status}"`);
    assert.ok(frozenAfterMs < 3000, `frozen shown within 3 s (${frozenAfterMs} ms)`);
  });

  it("recovered: both pages re-join by themselves, tiles stay in place, nobody is logged as having left", async (t) => {
    const own = await ownServer(t);
    const room = newRoom();
    const [alice, bob] = await call(t, room, own);
    await stopUnder(own, alice, 1);
    const restartedAt = Date.now();
    await ownServer(t, { ...CALL_SERVER, PORT_NUMBER: String(own.port) });
    for (const [page, other] of [
      [alice, BOB],
      [bob, "alice"],
    ] as const) {
      await until(`${other}'s tile is back up`, page, async () => {
        const tiles = await tileTexts(page);
        return (
          tiles.length === 1 &&
          tiles[0]?.includes(other) &&
          tiles[0].includes("connected · media up") &&
          /\d+x\d+ \d+ fps/.test(tiles[0])
        );
      });
      assert.equal(await visibleText(page, "#status"), `in room ${room}`);
      assert.equal(await visibleText(page, "#notice"), "", "the notice is gone");
    }
    const recoveredMs = Date.now() - restartedAt;
    await alice.click("details summary");
    const log = await visibleText(alice, "#log");
    assert.match(log, /re-joined after \d+ attempt/);
    assert.doesNotMatch(log, /\bleft\b/, `no "left" lines: ${log}`);
    await shot(alice, "4-recovered");
    t.diagnostic(`server restarted: both pages back in the call after ${recoveredMs} ms`);
  });

  it("leaving does not log the others as having left", async (t) => {
    const [alice] = await call(t, newRoom());
    await alice.click("#leave");
    assert.equal(await visibleText(alice, "#status"), "not connected");
    assert.deepEqual(await tileTexts(alice), []);
    assert.doesNotMatch(await visibleText(alice, "#log"), /\bleft\b/);
  });

  describe("errors a user can cause, on servers configured for them", () => {
    let strict: TestServer;
    let closed: TestServer;

    before(async () => {
      // A production-like server: tokens required, at most 2 sockets per address.
      strict = await startTestServer({
        ROOM_MODE: "p2p",
        JWT_SECRET: "x".repeat(32),
        MAX_CONNECTIONS_PER_IP: "2",
      });
      // A server that only takes pages from another origin.
      closed = await startTestServer({ ROOM_MODE: "p2p", ALLOWED_ORIGINS: "https://example.invalid" });
    });

    after(async () => {
      await strict?.close();
      await closed?.close();
    });

    async function joinAndReadNotice(
      t: TestContext,
      name: string,
      url: string,
      bearer: string,
    ): Promise<Page> {
      const page = await open(t, name, url);
      await page.fill("#room", ROOM);
      await page.fill("#bearer", bearer);
      await page.click("#join");
      await until(`${name}: a notice`, page, async () => (await visibleText(page, "#notice")) !== "");
      return page;
    }

    it("bad token (1286)", async (t) => {
      const page = await joinAndReadNotice(t, "badtoken", `${strict.httpUrl}/`, "not-a-jwt");
      assert.match(await visibleText(page, "#notice"), /did not accept your bearer token/);
      assert.match(await visibleText(page, "#notice-detail"), /error 1286 on join/);
      await shot(page, "5-bad-token");
    });

    it("origin not allowed (HTTP 403 on the upgrade)", async (t) => {
      const page = await joinAndReadNotice(t, "origin", `${closed.httpUrl}/`, "dora");
      assert.match(await visibleText(page, "#notice"), /refused this page: its address \(origin\) is not in/);
      await shot(page, "6-origin");
    });

    it("too many connections from one address (HTTP 429 on the upgrade)", async (t) => {
      // The test's own server: the two sockets it holds must not count against another test.
      const crowded = await ownServer(t, { ROOM_MODE: "p2p", MAX_CONNECTIONS_PER_IP: "2" });
      const held: WebSocket[] = [];
      t.after(() => {
        for (const ws of held) ws.terminate();
      });
      for (let i = 0; i < 2; i++) {
        const ws = new WebSocket(`ws://127.0.0.1:${crowded.port}/api`);
        held.push(ws);
        await new Promise((resolve, reject) => {
          ws.once("open", resolve);
          ws.once("error", reject);
        });
      }
      const page = await joinAndReadNotice(t, "crowd", `${crowded.httpUrl}/`, "erin");
      assert.match(await visibleText(page, "#notice"), /too many connections from your address/);
    });

    it("rate limit: a page that floods the server is closed (1008) and says so", async (t) => {
      // The demo publishes to the server (MCU): a burst large enough for join, publish (simulcast
      // layers, trickled candidates) and the tiles' setVideoQuality; the flood below is far larger.
      const flood = await ownServer(t, {
        ROOM_MODE: "mcu",
        PUBLIC_IPV4: "127.0.0.1",
        RATE_LIMIT_PER_SECOND: "1",
        RATE_LIMIT_BURST: "60",
        RATE_LIMIT_STRIKES: "3",
      });
      const page = await open(t, "flood", `${flood.httpUrl}/`);
      await page.fill("#room", ROOM);
      await page.fill("#bearer", "gina");
      await page.click("#join");
      await until("joined", page, async () => (await visibleText(page, "#status")) === `in room ${ROOM}`);
      // Flood only once publishing is up: a close in the middle of the publish is reported as
      // the join's failure ("publisher connection closed"), not as the rate limit.
      await until("publishing", page, () =>
        page.evaluate(
          () =>
            (globalThis as unknown as { demo: { snapshot(): { publish: { up: boolean } } } }).demo.snapshot()
              .publish.up,
        ),
      );
      await page.evaluate(() => {
        const demo = (
          globalThis as unknown as {
            demo: { client?: { sendMessage(to: string, m: unknown): Promise<void> } };
          }
        ).demo;
        for (let i = 0; i < 200; i++) demo.client?.sendMessage("nobody", { i }).catch(() => {});
      });
      await until("the rate-limit notice", page, async () =>
        (await visibleText(page, "#notice")).includes("rate limit"),
      );
      assert.match(await visibleText(page, "#notice"), /this page sent too many messages \(rate limit\)/);
      assert.equal(await visibleText(page, "#status"), "not connected");
    });

    it("server unreachable before joining", async (t) => {
      const gone = await ownServer(t, { ROOM_MODE: "p2p" });
      const page = await open(t, "unreachable", `${gone.httpUrl}/`);
      await gone.close();
      await page.fill("#room", ROOM);
      await page.click("#join");
      await until("a notice", page, async () => (await visibleText(page, "#notice")) !== "");
      assert.match(await visibleText(page, "#notice"), /The server is unreachable/);
    });

    it("camera blocked by the browser", async (t) => {
      const blocking = await launchBrowser({ withoutFlags: ["--use-fake-ui-for-media-stream"] });
      t.after(() => blocking.close());
      const plain = await ownServer(t, { ROOM_MODE: "p2p" });
      const page = await blocking.newPage("blocked");
      await page.goto(`${plain.httpUrl}/`);
      await page.fill("#room", ROOM);
      await page.fill("#bearer", "frank");
      await page.click("#join");
      await until("a notice", page, async () => (await visibleText(page, "#notice")) !== "");
      const notice = await visibleText(page, "#notice");
      assert.match(notice, /did not allow the camera and microphone/, notice);
      await shot(page, "7-camera-blocked");
    });
  });
});
