import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { after, before, describe, it, type TestContext } from "node:test";
import { fileURLToPath } from "node:url";
import type { Page } from "playwright-core";
import { launchBrowser, type TestBrowser } from "../helpers/browser.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { waitFor } from "../helpers/wait-for.ts";

/**
 * Real headless Chromium pages join MCU rooms (one room per test) through the demo page served at `/`, with a
 * fake camera and microphone, over loopback only (server binds and announces 127.0.0.1).
 * Every wait is on a condition; nothing is retried.
 */

const ROOM = "e2e-browser-mcu";
const MEDIA_TIMEOUT_MS = 20_000;

/** What the test reads from the demo's `window.demo.snapshot()` (web/src/demo/demo-snapshot.ts). */
interface Tile {
  socketId: string;
  userId: string;
  state: string;
  up: boolean;
  framesDecoded: number;
  framesPresented: number;
  audioPacketsReceived: number;
  width: number;
  height: number;
  videoCodec?: string;
  audioCodec?: string;
  offerMs?: number;
  connectedMs?: number;
  firstFrameMs?: number;
}
interface Snapshot {
  state: string;
  socketId?: string;
  userId?: string;
  timings: { clickedAtEpochMs?: number; joinedMs?: number; publishUpMs?: number };
  publish: { state: string; up: boolean; videoCodec?: string; audioCodec?: string };
  tiles: Tile[];
  left: string[];
  reconnects: number;
  errors: string[];
}
interface DemoGlobal {
  demo: { snapshot(): Snapshot; client?: { simulateDrop(): void; renegotiate(): Promise<void> } };
}

interface Member {
  readonly name: string;
  readonly page: Page;
  readonly socketId: string;
}

interface Room {
  readonly name: string;
  join(user: string): Promise<Member>;
}

const snapshot = (page: Page): Promise<Snapshot> =>
  page.evaluate(() => (globalThis as unknown as DemoGlobal).demo.snapshot());

describe("browser end to end: Chromium pages in an MCU room through the demo", () => {
  let server: TestServer;
  let browser: TestBrowser;
  let rooms = 0;

  before(async () => {
    // The server serves web/dist at `/`: build the demo as `npm start` would.
    const root = fileURLToPath(new URL("../..", import.meta.url));
    execFileSync(process.execPath, ["web/build.mjs"], { cwd: root, stdio: "pipe" });
    // A short reconnect grace, so that a test can let one expire.
    server = await startTestServer({
      ROOM_MODE: "mcu",
      PUBLIC_IPV4: "127.0.0.1",
      RECONNECT_GRACE_MS: "2000",
    });
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await server?.close();
  });

  /**
   * A room of the test's own: each test starts from an empty room, so it runs alone as well as
   * after the others. Its pages close when the test ends, passed or failed.
   */
  function newRoom(t: TestContext): Room {
    const name = `${ROOM}-${++rooms}`;
    const pages: Page[] = [];
    t.after(async () => {
      for (const page of pages) await page.close().catch(() => {});
    });
    return {
      name,
      /** Opens the demo in a new tab and joins with `user` as bearer (dev mode: the userId). */
      async join(user: string): Promise<Member> {
        const page = await browser.newPage(user);
        pages.push(page);
        await page.goto(`${server.httpUrl}/?room=${name}`);
        await page.fill("#bearer", user);
        await page.click("#join");
        const s = await waitFor(
          `${user} joined and publishing`,
          async () => {
            const snap = await snapshot(page);
            return snap.state === "joined" && snap.publish.up && snap.socketId ? snap : undefined;
          },
          MEDIA_TIMEOUT_MS,
        );
        assert.equal(s.userId, user);
        return { name: user, page, socketId: s.socketId! };
      },
    };
  }

  /** `users` join `room` at the same time; resolves once each one receives all the others. */
  async function call(room: Room, users: string[]): Promise<{ members: Member[]; snaps: Snapshot[] }> {
    const members = await Promise.all(users.map((u) => room.join(u)));
    const snaps = await Promise.all(
      members.map((m) =>
        waitForMedia(
          m,
          users.filter((u) => u !== m.name),
        ),
      ),
    );
    return { members, snaps };
  }

  /** Waits until `m` shows exactly the tiles of `others`, each decoding video and receiving audio. */
  async function waitForMedia(m: Member, others: string[]): Promise<Snapshot> {
    let last: Snapshot | undefined;
    try {
      return await waitFor(
        `${m.name} receives ${others.join(", ")}`,
        async () => {
          last = await snapshot(m.page);
          const users = last.tiles.map((t) => t.userId).sort();
          if (users.join() !== [...others].sort().join()) return undefined;
          const ok = last.tiles.every(
            (t) => t.up && t.state === "connected" && t.framesDecoded > 0 && t.audioPacketsReceived > 0,
          );
          return ok ? last : undefined;
        },
        MEDIA_TIMEOUT_MS,
      );
    } catch (err) {
      throw new Error(
        `${(err as Error).message}\nlast snapshot: ${JSON.stringify(last)}\n${browser.logs.join("\n")}`,
      );
    }
  }

  /** Waits until every tile of `m` decoded 10 more frames and received 20 more audio packets. */
  async function waitForProgress(m: Member, from: Snapshot): Promise<Snapshot> {
    return waitFor(
      `${m.name}: frame and audio counts keep increasing`,
      async () => {
        const now = await snapshot(m.page);
        const ok = from.tiles.every((before) => {
          const t = now.tiles.find((x) => x.socketId === before.socketId);
          return (
            t !== undefined &&
            t.framesDecoded >= before.framesDecoded + 10 &&
            t.audioPacketsReceived >= before.audioPacketsReceived + 20
          );
        });
        return ok ? now : undefined;
      },
      MEDIA_TIMEOUT_MS,
    );
  }

  /** Per page: its click relative to the first page's, then its milestones relative to its own click. */
  function breakdown(joined: { name: string; s: Snapshot }[]): string[] {
    const first = Math.min(...joined.map((j) => j.s.timings.clickedAtEpochMs ?? 0));
    return joined.map(({ name, s }) => {
      const tiles = s.tiles.map(
        (t) => `<-${t.userId} offer ${t.offerMs} connected ${t.connectedMs} frame ${t.firstFrameMs}`,
      );
      const clicked = (s.timings.clickedAtEpochMs ?? 0) - first;
      return `  ${name} (clicked +${clicked}): joinR ${s.timings.joinedMs}, own publish up ${s.timings.publishUpMs}; ${tiles.join("; ")}`;
    });
  }

  it("three pages each show two remote videos whose frames and audio keep coming", async (t) => {
    const { members: all, snaps } = await call(newRoom(t), ["alice", "bob", "carol"]);
    const firstFrames: { page: string; from: string; ms: number }[] = [];
    const joined: { name: string; s: Snapshot }[] = [];
    for (const [i, m] of all.entries()) {
      const s = snaps[i]!;
      for (const tile of s.tiles) {
        assert.ok(tile.firstFrameMs !== undefined, `${m.name} has a first-frame time for ${tile.userId}`);
        firstFrames.push({ page: m.name, from: tile.userId, ms: tile.firstFrameMs });
      }
      joined.push({ name: m.name, s });
    }
    const later = await Promise.all(all.map((m, i) => waitForProgress(m, snaps[i]!)));

    // The DOM shows the same: one <video> per remote member, plus the local one.
    for (const m of all) assert.equal(await m.page.locator(".tile.remote video").count(), 2);

    const codecs = new Set<string>();
    for (const s of later) {
      for (const tile of s.tiles) {
        assert.ok(tile.videoCodec, "video codec known");
        assert.ok(tile.audioCodec, "audio codec known");
        assert.ok(tile.width > 0 && tile.height > 0, "frames have a size");
        codecs.add(`received ${tile.videoCodec}`);
        codecs.add(`received ${tile.audioCodec}`);
      }
      codecs.add(`sent ${s.publish.videoCodec}`);
      codecs.add(`sent ${s.publish.audioCodec}`);
      assert.deepEqual(s.errors, [], "no client errors");
    }
    for (const s of later) {
      for (const tile of s.tiles) {
        assert.match(tile.videoCodec ?? "", /^video\/(VP8|H264)/);
        assert.match(tile.audioCodec ?? "", /^audio\/opus/);
      }
    }
    const frames = firstFrames.map((f) => f.ms);
    // The tabs do not click at the same instant: measured from the later click of the pair,
    // this is how long a member waits for a publisher that is joining at the same time.
    const clickOf = (name: string) => joined.find((j) => j.name === name)?.s.timings.clickedAtEpochMs ?? 0;
    const pairs = firstFrames.map((f) => ({
      ...f,
      ms: clickOf(f.page) + f.ms - Math.max(clickOf(f.page), clickOf(f.from)),
    }));
    const pairMs = pairs.map((p) => p.ms);
    const summary = [
      `join-to-first-remote-frame (ms), from the click on Join: ${firstFrames.map((f) => `${f.page}<-${f.from} ${f.ms}`).join(", ")}`,
      `  min ${Math.min(...frames)} median ${median(frames)} max ${Math.max(...frames)}`,
      `from the later click of the two: ${pairs.map((f) => `${f.page}<-${f.from} ${f.ms}`).join(", ")}`,
      `  min ${Math.min(...pairMs)} median ${median(pairMs)} max ${Math.max(...pairMs)}`,
      "breakdown (ms after the click on Join):",
      ...breakdown(joined),
      `negotiated codecs: ${[...codecs].sort().join("; ")}`,
    ];
    for (const line of summary) t.diagnostic(line);
  });

  it("a page that leaves disappears from the others (eventLeave), their media goes on", async (t) => {
    const {
      members: [alice, bob, carol],
    } = await call(newRoom(t), ["alice", "bob", "carol"]);
    await carol!.page.click("#leave");
    for (const [m, other] of [
      [alice!, bob!],
      [bob!, alice!],
    ] as const) {
      const s = await waitFor(
        `${m.name} saw carol leave`,
        async () => {
          const snap = await snapshot(m.page);
          return snap.left.includes(carol!.socketId) && snap.tiles.length === 1 ? snap : undefined;
        },
        MEDIA_TIMEOUT_MS,
      );
      assert.equal(s.tiles[0]!.userId, other.name);
      assert.equal(await m.page.locator(".tile.remote").count(), 1, "carol's tile is gone from the DOM");
      await waitForProgress(m, s);
    }
  });

  it("a late joiner gets the existing publishers, and they get it", async (t) => {
    const room = newRoom(t);
    const {
      members: [alice, bob],
    } = await call(room, ["alice", "bob"]);
    const dave = await room.join("dave");
    const s = await waitForMedia(dave, ["alice", "bob"]);
    await waitForProgress(dave, s);
    await waitForMedia(alice!, ["bob", "dave"]);
    await waitForMedia(bob!, ["alice", "dave"]);
    const line = `late joiner join-to-first-remote-frame (ms): ${s.tiles.map((x) => `${x.userId} ${x.firstFrameMs}`).join(", ")}`;
    t.diagnostic(line);
  });

  it("a dropped socket reconnects with `reconnect` and keeps its media connections", async (t) => {
    const {
      members: [alice, bob],
      snaps: [before],
    } = await call(newRoom(t), ["alice", "bob"]);
    await alice!.page.evaluate(() => (globalThis as unknown as DemoGlobal).demo.client?.simulateDrop());
    const s = await waitFor(
      "alice reconnected",
      async () => {
        const snap = await snapshot(alice!.page);
        return snap.reconnects === 1 && snap.state === "joined" ? snap : undefined;
      },
      MEDIA_TIMEOUT_MS,
    );
    assert.equal(s.socketId, before!.socketId, "same membership after reconnect");
    assert.deepEqual(
      s.tiles.map((x) => x.socketId).sort(),
      before!.tiles.map((x) => x.socketId).sort(),
      "same tiles",
    );
    await waitForProgress(alice!, s);
    await waitForProgress(bob!, await snapshot(bob!.page));
  });

  it("a publisher that re-offers gets a new answer and its listeners keep receiving", async (t) => {
    const {
      members: [alice, bob],
    } = await call(newRoom(t), ["alice", "bob"]);
    // Resolves once the server's answer to the new offer is applied (a 1330 would reject).
    await alice!.page.evaluate(() => (globalThis as unknown as DemoGlobal).demo.client?.renegotiate());
    const s = await snapshot(bob!.page);
    const fromAlice = { ...s, tiles: s.tiles.filter((x) => x.userId === "alice") };
    assert.equal(fromAlice.tiles.length, 1);
    await waitForProgress(bob!, fromAlice);
    assert.deepEqual((await snapshot(alice!.page)).errors, []);
  });

  it("a member whose reconnect grace expired joins again and publishes again", async (t) => {
    const {
      members: [alice, bob],
      snaps: [, before],
    } = await call(newRoom(t), ["alice", "bob"]);
    // Bob's page cannot reach the server until alice has seen the grace expire.
    let blocked = true;
    await bob!.page.routeWebSocket(/\/api$/, (ws) => {
      if (blocked) void ws.close({ code: 4002, reason: "blocked by the test" });
      else ws.connectToServer();
    });
    await bob!.page.evaluate(() => (globalThis as unknown as DemoGlobal).demo.client?.simulateDrop());
    await waitFor(
      "alice saw bob's membership expire",
      async () => {
        const snap = await snapshot(alice!.page);
        return snap.left.includes(bob!.socketId) && !snap.tiles.some((x) => x.socketId === bob!.socketId);
      },
      MEDIA_TIMEOUT_MS,
    );
    blocked = false;
    const s = await waitFor(
      "bob joined again",
      async () => {
        const snap = await snapshot(bob!.page);
        return snap.reconnects === before!.reconnects + 1 && snap.state === "joined" && snap.publish.up
          ? snap
          : undefined;
      },
      MEDIA_TIMEOUT_MS,
    );
    assert.notEqual(s.socketId, bob!.socketId, "a new membership");
    await waitForMedia(bob!, ["alice"]);
    await waitForMedia(alice!, ["bob"]);
  });
});

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}
