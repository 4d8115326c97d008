import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import type { Page } from "playwright-core";
import { launchBrowser, type TestBrowser } from "../helpers/browser.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { waitFor } from "../helpers/wait-for.ts";

/**
 * Chromium pages that signal the way the 2018 Tribe app does: every gathering ends with
 * `exchangeCandidate {candidate: {completed: true}}`, and after a network cut the page joins
 * again instead of reconnecting. The demo page and web client are the real ones; an init script
 * only rewrites what goes over the WebSocket.
 */

interface Tile {
  socketId: string;
  userId: string;
  up: boolean;
  framesDecoded: number;
}
interface Snapshot {
  state: string;
  socketId?: string;
  publish: { up: boolean };
  tiles: Tile[];
  left: string[];
  errors: string[];
}
interface DemoGlobal {
  demo: { snapshot(): Snapshot; client?: { simulateDrop(): void } };
  legacyWire: { completed: number; errorReplies: string[]; rejoins: number };
}

/** Runs in the page before its scripts: the app's wire habits on top of the real client. */
function legacyWire(): void {
  const g = globalThis as unknown as DemoGlobal;
  g.legacyWire = { completed: 0, errorReplies: [], rejoins: 0 };
  const send = WebSocket.prototype.send;
  const timers = new Map<string, ReturnType<typeof setTimeout>>();
  WebSocket.prototype.send = function (
    this: WebSocket,
    data: string | ArrayBufferLike | Blob | ArrayBufferView,
  ) {
    if (typeof data === "string") {
      const m = JSON.parse(data) as { a: string; d?: { to?: string } };
      if (m.a === "reconnect") {
        // The app never reconnects: it is told the socketId is gone and joins again.
        g.legacyWire.rejoins++;
        setTimeout(() => {
          this.dispatchEvent(
            new MessageEvent("message", { data: JSON.stringify({ a: "reconnectR", s: false, e: 1317 }) }),
          );
        }, 0);
        return;
      }
      const to = m.d?.to;
      if (m.a === "exchangeCandidate" && to) {
        // A quiet 500 ms after a connection's last candidate stands for "gathering complete".
        clearTimeout(timers.get(to));
        timers.set(
          to,
          setTimeout(() => {
            g.legacyWire.completed++;
            send.call(
              this,
              JSON.stringify({ a: "exchangeCandidate", d: { to, candidate: { completed: true } } }),
            );
          }, 500),
        );
      }
    }
    send.call(this, data);
  };
  const addEventListener = WebSocket.prototype.addEventListener;
  WebSocket.prototype.addEventListener = function (this: WebSocket, type: string, ...rest: unknown[]) {
    if (type === "message" && !(this as unknown as { __watched?: boolean }).__watched) {
      (this as unknown as { __watched?: boolean }).__watched = true;
      addEventListener.call(this, "message", (e: Event) => {
        const text = String((e as MessageEvent).data);
        if (text.includes('"e":') && !text.includes('"a":"reconnectR"')) g.legacyWire.errorReplies.push(text);
      });
    }
    return (addEventListener as (...a: unknown[]) => void).call(this, type, ...rest);
  } as typeof WebSocket.prototype.addEventListener;
}

let server: TestServer;
let browser: TestBrowser;
before(async () => {
  const root = fileURLToPath(new URL("../..", import.meta.url));
  execFileSync(process.execPath, ["web/build.mjs"], { cwd: root, stdio: "pipe" });
  server = await startTestServer({ ROOM_MODE: "mcu", PUBLIC_IPV4: "127.0.0.1", RECONNECT_GRACE_MS: "30000" });
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await server?.close();
});

const snapshot = (page: Page): Promise<Snapshot> =>
  page.evaluate(() => (globalThis as unknown as DemoGlobal).demo.snapshot());
const wire = (page: Page) => page.evaluate(() => (globalThis as unknown as DemoGlobal).legacyWire);

async function open(name: string, room: string): Promise<Page> {
  const page = await browser.newPage(name);
  await page.addInitScript(legacyWire);
  await page.goto(`${server.httpUrl}/?room=${room}`);
  await page.fill("#bearer", name);
  await page.click("#join");
  return page;
}

/** The page shows exactly one tile per name in `others`, each up and decoding frames. */
async function receives(page: Page, others: string[], minFrames = 1): Promise<Snapshot> {
  let last: Snapshot | undefined;
  try {
    return await waitFor(
      `receives ${others.join(", ")}`,
      async () => {
        last = await snapshot(page);
        const users = last.tiles.map((t) => t.userId).sort();
        if (users.join() !== [...others].sort().join()) return undefined;
        return last.tiles.every((t) => t.up && t.framesDecoded >= minFrames) ? last : undefined;
      },
      25_000,
    );
  } catch (err) {
    throw new Error(`${(err as Error).message}\nlast: ${JSON.stringify(last)}\n${browser.logs.join("\n")}`);
  }
}

test("pages that end gathering with {completed: true} and re-join after a cut keep the call, with no error and no ghost", async () => {
  const room = "e2e-legacy";
  const alice = await open("alice", room);
  const bob = await open("bob", room);
  await receives(alice, ["bob"]);
  const before = await receives(bob, ["alice"]);
  const ghost = before.socketId;
  await waitFor("both pages ended their gatherings", async () => (await wire(alice)).completed >= 2, 10_000);

  // Bob's network is cut; his page joins again instead of reconnecting.
  await bob.evaluate(() => (globalThis as unknown as DemoGlobal).demo.client?.simulateDrop());
  await waitFor("bob re-joined", async () => (await wire(bob)).rejoins >= 1, 15_000);
  const after = await receives(bob, ["alice"], 5);
  assert.notEqual(after.socketId, ghost, "bob joined as a new member");
  const aliceView = await receives(alice, ["bob"], 1);
  assert.equal(aliceView.tiles.length, 1, "alice shows one bob, not bob and his ghost");
  assert.equal(server.rooms.room(room)?.size, 2);

  for (const page of [alice, bob]) {
    const w = await wire(page);
    assert.deepEqual(w.errorReplies, [], "no reply carried an error");
    assert.ok(w.completed >= 2, "end of candidates was sent");
  }
  const replaced = (await server.metrics.replacedMembers.get()).values.find(
    (v) => v.labels.state === "in-grace",
  );
  assert.equal(replaced?.value, 1, "the ghost was replaced at once, not kept for the grace");
});

test("the same user joining from a second page: the first page says why it left and does not join back", async () => {
  const room = "e2e-same-user";
  const first = await browser.newPage("dana-1");
  await first.goto(`${server.httpUrl}/?room=${room}`);
  await first.fill("#bearer", "dana");
  await first.click("#join");
  await waitFor("first page joined", async () => (await snapshot(first)).state === "joined", 15_000);
  const second = await browser.newPage("dana-2");
  await second.goto(`${server.httpUrl}/?room=${room}`);
  await second.fill("#bearer", "dana");
  await second.click("#join");
  const secondJoined = await waitFor(
    "second page joined",
    async () => {
      const s = await snapshot(second);
      return s.state === "joined" && s.socketId ? s : undefined;
    },
    15_000,
  );
  const firstNow = await waitFor(
    "first page told",
    async () => {
      const s = await snapshot(first);
      return s.errors.some((e) => e.includes("another page or device")) ? s : undefined;
    },
    10_000,
  );
  assert.notEqual(firstNow.state, "joined");
  // It stays out: no ping-pong between the two pages.
  await new Promise((r) => setTimeout(r, 3000));
  assert.notEqual((await snapshot(first)).state, "joined");
  assert.equal((await snapshot(second)).state, "joined");
  assert.deepEqual(server.rooms.room(room)?.sessions(), [
    { socketId: secondJoined.socketId, userId: "dana" },
  ]);
  await first.close();
  await second.close();
});
