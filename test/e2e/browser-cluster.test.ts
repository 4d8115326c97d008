import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import type { Page } from "playwright-core";
import { launchBrowser, type TestBrowser } from "../helpers/browser.ts";
import { startCluster, type TestCluster } from "../helpers/cluster.ts";
import { waitFor } from "../helpers/wait-for.ts";
import { TestClient } from "../helpers/ws-client.ts";

/**
 * Two Chromium pages through the demo, each served by (and with its WebSocket on) a different node
 * of a three-node cluster, in a room homed on the third: each decodes the other's video and audio.
 * Then the home is killed (SIGKILL): the room moves to a survivor, the pages publish again by
 * themselves (eventWebrtcDown) and decode each other again. Loopback only.
 */
const ROOM = "e2e-cluster";
const MEDIA_TIMEOUT_MS = 20_000;
const frames: string[] = [];

interface Tile {
  socketId: string;
  userId: string;
  state: string;
  up: boolean;
  framesDecoded: number;
  audioPacketsReceived: number;
}
interface Snapshot {
  state: string;
  socketId?: string;
  userId?: string;
  publish: { state: string; up: boolean };
  tiles: Tile[];
  errors: string[];
}

const snapshot = (page: Page): Promise<Snapshot> =>
  page.evaluate(() => (globalThis as unknown as { demo: { snapshot(): Snapshot } }).demo.snapshot());

describe("browser end to end on a cluster: pages on two nodes, the room on a third", () => {
  let cluster: TestCluster;
  let browser: TestBrowser;

  before(async () => {
    const root = fileURLToPath(new URL("../..", import.meta.url));
    execFileSync(process.execPath, ["web/build.mjs"], { cwd: root, stdio: "pipe" });
    cluster = await startCluster(["page-a", "page-b", "home-c"], { RECONNECT_GRACE_MS: "30000" });
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await cluster?.close();
  });

  async function open(node: number, name: string): Promise<Page> {
    const page = await browser.newPage(name);
    page.on("websocket", (ws) => {
      // Kept for the failure message: what each page sent and got, without candidates.
      const keep = (dir: string, text: string) => {
        if (!text.includes("Candidate")) frames.push(`${name} ${dir} ${text.slice(0, 160)}`);
      };
      ws.on("framereceived", (f) => keep("<", String(f.payload)));
      ws.on("framesent", (f) => keep(">", String(f.payload)));
    });
    await page.goto(`${cluster.nodes[node]!.httpUrl}/?room=${ROOM}`);
    await page.fill("#bearer", name);
    await page.click("#join");
    await waitFor(
      `${name} joined and publishing`,
      async () => {
        const s = await snapshot(page);
        return s.state === "joined" && s.publish.up;
      },
      MEDIA_TIMEOUT_MS,
    );
    return page;
  }

  /** `page` shows exactly one remote tile, `from`, connected, whose frames and audio keep coming. */
  async function decodes(page: Page, from: string, what: string): Promise<Tile> {
    let last: Snapshot | undefined;
    let first: Tile | undefined;
    try {
      return await waitFor(
        what,
        async () => {
          last = await snapshot(page);
          const t = last.tiles.length === 1 ? last.tiles[0] : undefined;
          // Decoding is what counts (the tile's `up` flag is the web client's bookkeeping, and a
          // transient ICE disconnect on a loaded machine clears it for good).
          if (!t || t.userId !== from || t.state !== "connected" || t.framesDecoded === 0) return;
          if (t.audioPacketsReceived === 0) return;
          // A new connection (after the move) starts counting from 0: measure progress on it.
          if (!first || t.framesDecoded < first.framesDecoded) first = t;
          return t.framesDecoded >= first.framesDecoded + 10 ? t : undefined;
        },
        MEDIA_TIMEOUT_MS,
      );
    } catch (err) {
      throw new Error(
        `${(err as Error).message}\nlast: ${JSON.stringify(last)}\n${browser.logs.join("\n")}\nframes:\n${frames.slice(-80).join("\n")}`,
      );
    }
  }

  it("each page decodes the other's video through the home node; then the home dies and media comes back", async (t) => {
    // The room is created on node 2 by a first member there, who leaves once the pages are in.
    const anchor = await TestClient.connect(cluster.nodes[2]!.wsUrl);
    await anchor.join(ROOM, "anchor");
    assert.equal(await cluster.homeOf(ROOM), 2);
    const [alice, bob] = await Promise.all([open(0, "alice"), open(1, "bob")]);
    anchor.close(1000);
    await decodes(alice, "bob", "alice decodes bob");
    await decodes(bob, "alice", "bob decodes alice");
    // The pages' WebSockets are on nodes 0 and 1; the room (and its media) is on node 2 only.
    const states = await Promise.all(cluster.nodes.map((n) => n.state()));
    assert.deepEqual(
      states.map((s) => s.rooms.filter((r) => r.roomId === ROOM).map((r) => r.roomSize)),
      [[], [], [2]],
    );

    const killedAt = performance.now();
    cluster.nodes[2]!.child.kill("SIGKILL");
    const newHome = await cluster.homeOf(ROOM);
    assert.ok(newHome === 0 || newHome === 1);
    await decodes(alice, "bob", "alice decodes bob again after the home died");
    await decodes(bob, "alice", "bob decodes alice again after the home died");
    t.diagnostic(`media back in both pages ${Math.round(performance.now() - killedAt)} ms after SIGKILL`);
    for (const page of [alice, bob]) assert.deepEqual((await snapshot(page)).errors, [], "no client errors");
  });
});
