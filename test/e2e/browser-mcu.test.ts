import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import type { Page } from "playwright-core";
import { launchBrowser, type TestBrowser } from "../helpers/browser.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { waitFor } from "../helpers/wait-for.ts";

/**
 * Real headless Chromium pages join one MCU room through the demo page served at `/`, with a
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
  name: string;
  page: Page;
  socketId: string;
}

const snapshot = (page: Page): Promise<Snapshot> =>
  page.evaluate(() => (globalThis as unknown as DemoGlobal).demo.snapshot());

describe("browser end to end: three Chromium pages in an MCU room through the demo", () => {
  let server: TestServer;
  let browser: TestBrowser;
  const members = new Map<string, Member>();
  const firstFrames: { page: string; from: string; ms: number }[] = [];
  const joined: { name: string; s: Snapshot }[] = [];

  before(async () => {
    // The server serves web/dist at `/`: build the demo as `npm start` would.
    const root = fileURLToPath(new URL("../..", import.meta.url));
    execFileSync(process.execPath, ["web/build.mjs"], { cwd: root, stdio: "pipe" });
    // A short reconnect grace, so that the last test can let one expire.
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

  /** Opens the demo in a new tab and joins the room with `name` as bearer (dev mode: the userId). */
  async function join(name: string): Promise<Member> {
    const page = await browser.newPage(name);
    await page.goto(`${server.httpUrl}/?room=${ROOM}`);
    await page.fill("#bearer", name);
    await page.click("#join");
    const s = await waitFor(
      `${name} joined and publishing`,
      async () => {
        const snap = await snapshot(page);
        return snap.state === "joined" && snap.publish.up && snap.socketId ? snap : undefined;
      },
      MEDIA_TIMEOUT_MS,
    );
    assert.equal(s.userId, name);
    const member = { name, page, socketId: s.socketId! };
    members.set(name, member);
    return member;
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

  function recordFirstFrames(m: Member, s: Snapshot): void {
    for (const t of s.tiles) {
      assert.ok(t.firstFrameMs !== undefined, `${m.name} has a first-frame time for ${t.userId}`);
      firstFrames.push({ page: m.name, from: t.userId, ms: t.firstFrameMs });
    }
    joined.push({ name: m.name, s });
  }

  /** Per page: its click relative to the first page's, then its milestones relative to its own click. */
  function breakdown(): string[] {
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
    const [alice, bob, carol] = await Promise.all([join("alice"), join("bob"), join("carol")]);
    const all = [alice, bob, carol];
    const snaps = await Promise.all(
      all.map((m) =>
        waitForMedia(
          m,
          all.filter((o) => o !== m).map((o) => o.name),
        ),
      ),
    );
    for (const [i, m] of all.entries()) recordFirstFrames(m, snaps[i]!);
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
      ...breakdown(),
      `negotiated codecs: ${[...codecs].sort().join("; ")}`,
    ];
    for (const line of summary) t.diagnostic(line);
  });

  it("a page that leaves disappears from the others (eventLeave), their media goes on", async () => {
    const carol = members.get("carol")!;
    await carol.page.click("#leave");
    for (const name of ["alice", "bob"]) {
      const m = members.get(name)!;
      const s = await waitFor(
        `${name} saw carol leave`,
        async () => {
          const snap = await snapshot(m.page);
          return snap.left.includes(carol.socketId) && snap.tiles.length === 1 ? snap : undefined;
        },
        MEDIA_TIMEOUT_MS,
      );
      assert.equal(s.tiles[0]!.userId, name === "alice" ? "bob" : "alice");
      assert.equal(await m.page.locator(".tile.remote").count(), 1, "carol's tile is gone from the DOM");
      await waitForProgress(m, s);
    }
    await carol.page.close();
    members.delete("carol");
  });

  it("a late joiner gets the existing publishers, and they get it", async (t) => {
    const dave = await join("dave");
    const s = await waitForMedia(dave, ["alice", "bob"]);
    await waitForProgress(dave, s);
    for (const name of ["alice", "bob"]) {
      const m = members.get(name)!;
      const other = name === "alice" ? "bob" : "alice";
      await waitForMedia(m, [other, "dave"]);
    }
    const line = `late joiner join-to-first-remote-frame (ms): ${s.tiles.map((x) => `${x.userId} ${x.firstFrameMs}`).join(", ")}`;
    t.diagnostic(line);
  });

  it("a dropped socket reconnects with `reconnect` and keeps its media connections", async () => {
    const alice = members.get("alice")!;
    const before = await snapshot(alice.page);
    await alice.page.evaluate(() => (globalThis as unknown as DemoGlobal).demo.client?.simulateDrop());
    const s = await waitFor(
      "alice reconnected",
      async () => {
        const snap = await snapshot(alice.page);
        return snap.reconnects === 1 && snap.state === "joined" ? snap : undefined;
      },
      MEDIA_TIMEOUT_MS,
    );
    assert.equal(s.socketId, before.socketId, "same membership after reconnect");
    assert.deepEqual(
      s.tiles.map((x) => x.socketId).sort(),
      before.tiles.map((x) => x.socketId).sort(),
      "same tiles",
    );
    await waitForProgress(alice, s);
    for (const name of ["bob", "dave"]) {
      const m = members.get(name)!;
      await waitForProgress(m, await snapshot(m.page));
    }
  });

  it("a publisher that re-offers gets a new answer and its listeners keep receiving", async () => {
    const alice = members.get("alice")!;
    // Resolves once the server's answer to the new offer is applied (a 1330 would reject).
    await alice.page.evaluate(() => (globalThis as unknown as DemoGlobal).demo.client?.renegotiate());
    for (const name of ["bob", "dave"]) {
      const m = members.get(name)!;
      const s = await snapshot(m.page);
      const fromAlice = { ...s, tiles: s.tiles.filter((t) => t.userId === "alice") };
      assert.equal(fromAlice.tiles.length, 1);
      await waitForProgress(m, fromAlice);
    }
    assert.deepEqual((await snapshot(alice.page)).errors, []);
  });

  it("a member whose reconnect grace expired joins again and publishes again", async () => {
    const bob = members.get("bob")!;
    const before = await snapshot(bob.page);
    // Bob's page cannot reach the server until the others have seen the grace expire.
    let blocked = true;
    await bob.page.routeWebSocket(/\/api$/, (ws) => {
      if (blocked) void ws.close({ code: 4002, reason: "blocked by the test" });
      else ws.connectToServer();
    });
    await bob.page.evaluate(() => (globalThis as unknown as DemoGlobal).demo.client?.simulateDrop());
    for (const name of ["alice", "dave"]) {
      const m = members.get(name)!;
      await waitFor(
        `${name} saw bob's membership expire`,
        async () => {
          const snap = await snapshot(m.page);
          return snap.left.includes(bob.socketId) && !snap.tiles.some((t) => t.socketId === bob.socketId);
        },
        MEDIA_TIMEOUT_MS,
      );
    }
    blocked = false;
    const s = await waitFor(
      "bob joined again",
      async () => {
        const snap = await snapshot(bob.page);
        return snap.reconnects === before.reconnects + 1 && snap.state === "joined" && snap.publish.up
          ? snap
          : undefined;
      },
      MEDIA_TIMEOUT_MS,
    );
    assert.notEqual(s.socketId, bob.socketId, "a new membership");
    bob.socketId = s.socketId!;
    await waitForMedia(bob, ["alice", "dave"]);
    await waitForMedia(members.get("alice")!, ["bob", "dave"]);
    await waitForMedia(members.get("dave")!, ["alice", "bob"]);
  });
});

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}
