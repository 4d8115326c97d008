/**
 * A network where UDP does not pass. Two network namespaces with nothing but their own loopback
 * and no route between them (test/helpers/netns-isolated.ts): the server side runs the server
 * (src/main.ts) and a private coturn; the client side runs Chromium. Only TCP crosses, through a
 * forwarder for the HTTP/WebSocket ports and the TURN/TCP port, so the server's UDP media
 * candidates are unreachable from the browser, as behind a firewall that allows only TCP.
 * - With TURN (the server hands out turn: UDP, TCP and TLS URLs; only TURN/TCP is bridged), the
 *   call connects on its own (no relay-only policy) and media flows: the selected path is relay-tcp.
 * - Without TURN, the page says "media cannot connect" within 15 s instead of spinning.
 * coturn relays only to the server side's 127.0.0.1. Nothing leaves the two namespaces.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join as joinPath } from "node:path";
import { after, before, describe, it } from "node:test";
import type { Page } from "playwright-core";
import { CHROMIUM_PATH, type TestBrowser } from "../helpers/browser.ts";
import { REPO_ROOT } from "../helpers/child-server.ts";
import { type Coturn, coturnUnavailable, startCoturn } from "../helpers/coturn.ts";
import {
  createIsolatedPair,
  type IsolatedPair,
  isolatedNetnsUnavailable,
} from "../helpers/netns-isolated.ts";
import { launchChromium } from "../helpers/turn-browser.ts";
import { waitFor } from "../helpers/wait-for.ts";

const PORT_TURN_SERVER = 8080;
const PORT_PLAIN_SERVER = 8081;
const TURN_PORT = 3478;
const TURNS_PORT = 5349;

interface Snapshot {
  state: string;
  publish: { up: boolean; state: string };
  tiles: Array<{ socketId: string; userId: string; framesDecoded: number; audioPacketsReceived: number }>;
  notice: string;
  timings: { clickedAtEpochMs?: number };
  ice: {
    paths: Record<string, { path: string; relayProtocol?: string }>;
    unreachable: Array<{ connection: string; why: string; afterMs: number }>;
  };
}
const snapshot = (page: Page): Promise<Snapshot> =>
  page.evaluate(() => (globalThis as unknown as { demo: { snapshot(): Snapshot } }).demo.snapshot());

const skip = coturnUnavailable() ?? isolatedNetnsUnavailable();

describe("browser end to end: UDP blocked, only TCP passes (two network namespaces)", { skip }, () => {
  let net: IsolatedPair;
  let coturn: Coturn;
  let browser: TestBrowser;
  let wrapperDir: string;

  /** The real server (node src/main.ts) inside the server namespace, on `port`. */
  async function startServerInNamespace(port: number, env: Record<string, string>): Promise<void> {
    const child = net.spawn(net.server, [process.execPath, joinPath(REPO_ROOT, "src/main.ts")], {
      NODE_ENV: "test",
      PORT_NUMBER: String(port),
      BIND_ADDRESS: "127.0.0.1",
      PUBLIC_IPV4: "127.0.0.1",
      ROOM_MODE: "mcu",
      LOG_PRETTY: "false",
      LOG_LEVEL: "info",
      ROOM_LIVE_INTERVAL_MS: "0",
      ...env,
    });
    await waitFor(
      `server on ${port} in the namespace`,
      () => {
        if (child.exitCode !== null) throw new Error(`server exited: ${child.output.join("")}`);
        return child.output.join("").includes('"msg":"listening"');
      },
      20_000,
    );
  }

  before(async () => {
    execFileSync(process.execPath, ["web/build.mjs"], { cwd: REPO_ROOT, stdio: "pipe" });
    net = createIsolatedPair("turn");
    coturn = await startCoturn({
      ports: { plain: TURN_PORT, tls: TURNS_PORT, relay: [49_152, 49_251] },
      spawn: (argv) => net.spawn(net.server, argv),
    });
    await startServerInNamespace(PORT_TURN_SERVER, {
      TURN_URLS: [coturn.urls.udp, coturn.urls.tcp, coturn.urls.tls].join(","),
      TURN_SECRET: coturn.secret,
    });
    await startServerInNamespace(PORT_PLAIN_SERVER, {});
    // Only TCP crosses: the two HTTP/WebSocket ports and TURN/TCP. Not TURN/UDP, not TURN/TLS, no media UDP.
    await net.bridgeTcp([PORT_TURN_SERVER, PORT_PLAIN_SERVER, TURN_PORT]);
    // Chromium itself runs in the client namespace (Playwright talks to it over a pipe).
    wrapperDir = mkdtempSync(joinPath(tmpdir(), "wrs-nschromium-"));
    const wrapper = joinPath(wrapperDir, "chromium-in-netns");
    writeFileSync(wrapper, `#!/bin/sh\nexec ip netns exec ${net.client} ${CHROMIUM_PATH} "$@"\n`);
    chmodSync(wrapper, 0o755);
    browser = await launchChromium({ executable: wrapper });
  });

  after(async () => {
    await browser?.close();
    await coturn?.close();
    net?.cleanup();
    if (wrapperDir) rmSync(wrapperDir, { recursive: true, force: true });
  });

  async function join(port: number, room: string, name: string): Promise<Page> {
    const page = await browser.newPage(name);
    await page.goto(`http://127.0.0.1:${port}/?room=${room}`);
    await page.fill("#bearer", name);
    await page.click("#join");
    return page;
  }

  it("with TURN handed out by the server, the call connects through TURN/TCP and media flows", async (t) => {
    const started = performance.now();
    const alice = await join(PORT_TURN_SERVER, "blocked", "alice");
    const bob = await join(PORT_TURN_SERVER, "blocked", "bob");
    const receives = async (page: Page, from: string) => {
      let last: Snapshot | undefined;
      try {
        return await waitFor(
          `${from}'s video and audio arrive`,
          async () => {
            last = await snapshot(page);
            const tile = last.tiles.find((x) => x.userId === from);
            return tile && tile.framesDecoded > 5 && tile.audioPacketsReceived > 10 && last.publish.up
              ? last
              : undefined;
          },
          25_000,
        );
      } catch (err) {
        throw new Error(
          `${(err as Error).message}\nlast: ${JSON.stringify(last)}\n${browser.logs.join("\n")}`,
        );
      }
    };
    const [a, b] = await Promise.all([receives(alice, "bob"), receives(bob, "alice")]);
    const ms = Math.round(performance.now() - started);
    for (const [page, s] of [
      [alice, a],
      [bob, b],
    ] as const) {
      const tile = s.tiles[0];
      assert.ok(tile);
      const paths = await waitFor("both paths known", async () => {
        const now = await snapshot(page);
        return now.ice.paths.publisher && now.ice.paths[tile.socketId] ? now.ice.paths : undefined;
      });
      assert.equal(paths.publisher?.path, "relay-tcp");
      assert.equal(paths[tile.socketId]?.path, "relay-tcp");
    }
    t.diagnostic(
      `UDP blocked, TURN/TCP: both pages decode the other's video ${ms} ms after the first page opened`,
    );
    await Promise.all([alice.close(), bob.close()]);
  });

  it('without TURN, the page shows "media cannot connect" within 15 s', async (t) => {
    const carol = await join(PORT_PLAIN_SERVER, "blocked-plain", "carol");
    let last: Snapshot | undefined;
    const s = await waitFor(
      "media cannot connect",
      async () => {
        last = await snapshot(carol);
        return last.ice.unreachable.length > 0 && /Media cannot connect/.test(last.notice) ? last : undefined;
      },
      15_000,
    ).catch((err: Error) => {
      throw new Error(`${err.message}\nlast: ${JSON.stringify(last)}`);
    });
    const shownAfter = Date.now() - (s.timings.clickedAtEpochMs ?? 0);
    assert.equal(s.state, "joined", "signaling works (TCP); only media cannot connect");
    assert.equal(s.publish.up, false);
    assert.match(s.notice, /no network path to the media server/);
    assert.ok(shownAfter < 15_000, `shown ${shownAfter} ms after the click on Join`);
    assert.equal(await carol.locator("#notice").isVisible(), true, "the sentence is on screen");
    await waitFor("the local tile says it has no path", async () =>
      (await carol.locator("#local-tile").getAttribute("data-path")) === "no path" ? true : undefined,
    );
    t.diagnostic(`no TURN: "${s.notice}" shown ${shownAfter} ms after the click on Join`);
    await carol.close();
  });
});
