/**
 * Calls through TURN in real Chromium: a private coturn (test/helpers/coturn.ts) on 127.0.0.1, the
 * server hands out credentials in joinR, and the demo page runs with `?iceTransportPolicy=relay`
 * so that media can only go through coturn. For TURN over UDP, TCP and TLS (one server per URL,
 * so each call can only use that one), the test reads getStats in the page: the selected
 * candidate pair's local candidate is `relay` with the expected `relayProtocol`, on the
 * publisher's and the receiver's connections, and video frames are decoded and audio received.
 * Then wrong credentials: coturn refuses them (401), the page says so and shows "media cannot
 * connect", and the server goes on serving calls that do not need TURN.
 * coturn only relays to 127.0.0.1 (allowed-peer-ip); nothing leaves loopback.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import type { Page } from "playwright-core";
import { turnCredential } from "../../src/auth/turn-credentials.ts";
import type { TestBrowser } from "../helpers/browser.ts";
import { type Coturn, coturnUnavailable, startCoturn } from "../helpers/coturn.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { launchChromium } from "../helpers/turn-browser.ts";
import { waitFor } from "../helpers/wait-for.ts";

const MEDIA_TIMEOUT_MS = 20_000;

interface PathInfo {
  path: string;
  localType: string;
  protocol: string;
  relayProtocol?: string;
  remoteType: string;
}
interface Snapshot {
  state: string;
  socketId?: string;
  publish: { up: boolean };
  tiles: Array<{ socketId: string; userId: string; framesDecoded: number; audioPacketsReceived: number }>;
  reconnects: number;
  notice: string;
  ice: {
    policy: string;
    paths: Record<string, PathInfo>;
    unreachable: Array<{ connection: string; why: string; afterMs: number; iceErrors: unknown[] }>;
    serverErrors: Array<{ url: string; errorCode: number }>;
  };
}
/** The part of a browser RTCPeerConnection the test reads (no DOM types in the test's tsconfig). */
interface PeerConnectionLike {
  getStats(): Promise<{ forEach(f: (s: Record<string, unknown>) => void): void }>;
  getConfiguration(): { iceServers?: Array<{ username?: string }> };
}
interface DemoGlobal {
  demo: {
    snapshot(): Snapshot;
    client?: {
      simulateDrop(): void;
      publisherConnection?: PeerConnectionLike;
      listenerConnection(id: string): PeerConnectionLike | undefined;
    };
  };
}

const snapshot = (page: Page): Promise<Snapshot> =>
  page.evaluate(() => (globalThis as unknown as DemoGlobal).demo.snapshot());

/** The selected pair's local candidate, read with getStats in the page (independently of the demo). */
function selectedLocalCandidate(
  page: Page,
  connection: string,
): Promise<Record<string, unknown> | undefined> {
  return page.evaluate(async (connection) => {
    const c = (globalThis as unknown as DemoGlobal).demo.client;
    const pc = connection === "publisher" ? c?.publisherConnection : c?.listenerConnection(connection);
    if (!pc) return undefined;
    const stats = new Map<string, Record<string, unknown>>();
    (await pc.getStats()).forEach((s: Record<string, unknown>) => {
      stats.set(String(s.id), s);
    });
    const transport = [...stats.values()].find((s) => s.type === "transport");
    const pair = stats.get(String(transport?.selectedCandidatePairId));
    if (!pair) return undefined;
    const local = stats.get(String(pair.localCandidateId));
    return local ? { ...local, pairState: pair.state } : undefined;
  }, connection);
}

describe("browser end to end: media through coturn (TURN/UDP, TURN/TCP, TURN/TLS)", {
  skip: coturnUnavailable(),
}, () => {
  let coturn: Coturn;
  let browser: TestBrowser;
  const servers: TestServer[] = [];

  before(async () => {
    const root = fileURLToPath(new URL("../..", import.meta.url));
    execFileSync(process.execPath, ["web/build.mjs"], { cwd: root, stdio: "pipe" });
    coturn = await startCoturn();
    // Chromium checks a turns: server's certificate: trust this coturn's self-signed key only.
    browser = await launchChromium({ flags: [`--ignore-certificate-errors-spki-list=${coturn.spkiSha256}`] });
  });
  after(async () => {
    await browser?.close();
    for (const s of servers) await s.close();
    await coturn?.close();
  });

  async function serverWith(turnUrl: string, secret = coturn.secret): Promise<TestServer> {
    const server = await startTestServer({
      ROOM_MODE: "mcu",
      PUBLIC_IPV4: "127.0.0.1",
      TURN_URLS: turnUrl,
      TURN_SECRET: secret,
    });
    servers.push(server);
    return server;
  }

  async function join(server: TestServer, room: string, name: string, query: string): Promise<Page> {
    const page = await browser.newPage(name);
    await page.goto(`${server.httpUrl}/?room=${room}${query}`);
    await page.fill("#bearer", name);
    await page.click("#join");
    return page;
  }

  async function waitForCall(page: Page, from: string, what: string): Promise<Snapshot> {
    let last: Snapshot | undefined;
    try {
      return await waitFor(
        what,
        async () => {
          last = await snapshot(page);
          const tile = last.tiles.find((t) => t.userId === from);
          return tile && tile.framesDecoded > 5 && tile.audioPacketsReceived > 10 && last.publish.up
            ? last
            : undefined;
        },
        MEDIA_TIMEOUT_MS,
      );
    } catch (err) {
      throw new Error(
        `${(err as Error).message}\nlast snapshot: ${JSON.stringify(last)}\n${browser.logs.join("\n")}`,
      );
    }
  }

  for (const relayProtocol of ["udp", "tcp", "tls"] as const) {
    it(`iceTransportPolicy relay: audio and video flow through TURN/${relayProtocol.toUpperCase()}`, async (t) => {
      const server = await serverWith(coturn.urls[relayProtocol]);
      const room = `turn-${relayProtocol}`;
      const started = performance.now();
      const alice = await join(server, room, "alice", "&iceTransportPolicy=relay");
      const bob = await join(server, room, "bob", "&iceTransportPolicy=relay");
      const [a, b] = await Promise.all([
        waitForCall(alice, "bob", `alice receives bob through TURN/${relayProtocol}`),
        waitForCall(bob, "alice", `bob receives alice through TURN/${relayProtocol}`),
      ]);
      const ms = Math.round(performance.now() - started);
      for (const [page, snap, other] of [
        [alice, a, "bob"],
        [bob, b, "alice"],
      ] as const) {
        assert.equal(snap.ice.policy, "relay");
        const tile = snap.tiles.find((x) => x.userId === other);
        assert.ok(tile);
        for (const connection of ["publisher", tile.socketId]) {
          let local = await selectedLocalCandidate(page, connection);
          assert.equal(local?.candidateType, "relay", `${connection}: ${JSON.stringify(local)}`);
          assert.equal(local?.relayProtocol, relayProtocol, `${connection}: ${JSON.stringify(local)}`);
          // Chromium shows the selected pair "in-progress" while one of its consent checks is in
          // flight (seen in CI on TURN/UDP), so the pair must reach "succeeded", not be there at once.
          local = await waitFor(`${connection}: selected pair succeeded`, async () => {
            const l = await selectedLocalCandidate(page, connection);
            return l?.pairState === "succeeded" ? l : undefined;
          });
          assert.equal(local.candidateType, "relay");
          // The demo reads the same and shows it on the tile.
          await waitFor(`${connection} path shown`, async () => {
            const s = await snapshot(page);
            return s.ice.paths[connection]?.path === `relay-${relayProtocol}`;
          });
        }
        assert.equal(
          await page.locator(`.tile.remote[data-path="relay-${relayProtocol}"]`).count(),
          1,
          "the remote tile shows its path",
        );
      }
      // coturn saw the server's credentials (username <expiry>:<userId>) for both members.
      assert.match(coturn.log(), /user <\d+:alice>/);
      assert.match(coturn.log(), /user <\d+:bob>/);
      t.diagnostic(
        `TURN/${relayProtocol}: both pages decode the other's video ${ms} ms after the first page opened`,
      );
      await alice.close();
      await bob.close();
    });
  }

  it("after a socket drop, reconnectR's fresh credential reaches the open connections; media goes on through TURN", async () => {
    const server = await serverWith(coturn.urls.udp);
    const alice = await join(server, "turn-reconnect", "alice", "&iceTransportPolicy=relay");
    const bob = await join(server, "turn-reconnect", "bob", "&iceTransportPolicy=relay");
    await Promise.all([
      waitForCall(alice, "bob", "alice receives bob"),
      waitForCall(bob, "alice", "bob receives alice"),
    ]);
    const username = () =>
      alice.evaluate(
        () =>
          (globalThis as unknown as DemoGlobal).demo.client?.publisherConnection?.getConfiguration()
            .iceServers?.[0]?.username,
      );
    const before = await username();
    assert.match(before ?? "", /^\d+:alice$/);
    await new Promise((r) => setTimeout(r, 1100)); // a later expiry second
    await alice.evaluate(() => (globalThis as unknown as DemoGlobal).demo.client?.simulateDrop());
    await waitFor("alice reconnected", async () => {
      const s = await snapshot(alice);
      return s.reconnects === 1 && s.state === "joined";
    });
    const after = await username();
    assert.match(after ?? "", /^\d+:alice$/);
    assert.ok(Number(after?.split(":")[0]) > Number(before?.split(":")[0]), `${before} -> ${after}`);
    // Media keeps flowing through coturn after the reconnect.
    const from = (await snapshot(bob)).tiles[0]?.framesDecoded ?? 0;
    await waitFor("bob keeps decoding alice's video", async () => {
      const tile = (await snapshot(bob)).tiles.find((x) => x.userId === "alice");
      return tile !== undefined && tile.framesDecoded > from + 10;
    });
    assert.equal((await selectedLocalCandidate(alice, "publisher"))?.candidateType, "relay");
    await Promise.all([alice.close(), bob.close()]);
  });

  /** Waits until `page` reports a TURN 401 and "media cannot connect" (at most 15 s). */
  async function refused(page: Page, name: string): Promise<Snapshot> {
    let last: Snapshot | undefined;
    return waitFor(
      `${name}'s page reports the 401 and that media cannot connect`,
      async () => {
        last = await snapshot(page);
        return last.ice.serverErrors.some((e) => e.errorCode === 401) && last.ice.unreachable.length > 0
          ? last
          : undefined;
      },
      15_000,
    ).catch((err: Error) => {
      throw new Error(`${err.message}\nlast: ${JSON.stringify(last)}`);
    });
  }

  it("wrong or expired TURN credentials: coturn refuses (401), the page says so and that media cannot connect; the server is unaffected", async (t) => {
    // Wrong: the server signs with a secret coturn does not know.
    const server = await serverWith(coturn.urls.udp, "a-secret-that-coturn-does-not-know");
    // Expired: a page whose joinR carries a correctly signed credential that expired an hour ago
    // (the test rewrites joinR on its way to the page, as if the page had kept an old credential).
    const good = await serverWith(coturn.urls.udp);
    const started = performance.now();
    const mallory = await join(server, "turn-wrong", "mallory", "&iceTransportPolicy=relay");
    const eve = await browser.newPage("eve");
    await eve.routeWebSocket(/\/api$/, (ws) => {
      const upstream = ws.connectToServer();
      upstream.onMessage((message) => {
        const m = JSON.parse(String(message)) as {
          a: string;
          d?: { iceServers?: unknown[]; userId?: string };
        };
        if (m.a === "joinR" && m.d?.iceServers) {
          const old = turnCredential(coturn.secret, String(m.d.userId), 60, Date.now() - 3_600_000);
          m.d.iceServers = [{ urls: [coturn.urls.udp], username: old.username, credential: old.credential }];
        }
        ws.send(JSON.stringify(m));
      });
    });
    await eve.goto(`${good.httpUrl}/?room=turn-expired&iceTransportPolicy=relay`);
    await eve.fill("#bearer", "eve");
    await eve.click("#join");
    const [s, e] = await Promise.all([refused(mallory, "mallory"), refused(eve, "eve")]);
    const ms = Math.round(performance.now() - started);
    for (const [page, snap] of [
      [mallory, s],
      [eve, e],
    ] as const) {
      assert.match(snap.notice, /Media cannot connect/);
      assert.match(snap.notice, /refused this page.s credentials/);
      assert.equal(await page.locator("#notice").isVisible(), true, "the sentence is on screen");
    }
    assert.match(coturn.log(), /user <\d+:mallory>.*error 401/);
    assert.match(coturn.log(), /user <\d+:eve>.*error 401/);
    t.diagnostic(
      `wrong and expired credentials: "media cannot connect" shown by ${ms} ms after the pages opened: ${s.notice}`,
    );

    // The servers are unaffected: calls without the relay-only policy still connect on them.
    for (const srv of [server, good]) {
      assert.equal((await fetch(`${srv.httpUrl}/healthz`)).status, 200);
      const carol = await join(srv, "turn-direct", "carol", "");
      const dave = await join(srv, "turn-direct", "dave", "");
      const d = await waitForCall(dave, "carol", "a direct call on the same server");
      assert.equal(d.ice.paths.publisher?.path, "host");
      await Promise.all([carol.close(), dave.close()]);
    }
    await Promise.all([mallory.close(), eve.close()]);
  });
});
