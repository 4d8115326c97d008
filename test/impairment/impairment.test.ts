/**
 * Network impairment: the server (ROOM_MODE=mcu) runs in one network namespace, a werift client
 * (two members: a publisher and a subscriber, test/impairment/client-peer.ts) in another, joined by
 * a veth pair; tc netem degrades the link. Each scenario asserts what a user sees and prints the
 * figures. Skipped, with the reason, where namespaces cannot be created (never reported as passed);
 * media-impairment.test.ts and signaling-impairment.test.ts run the same scenarios through
 * userspace relays on any machine.
 */
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { createNetPair, type NetPair, netnsUnavailable } from "../helpers/netns.ts";
import { waitFor } from "../helpers/wait-for.ts";

const netns = netnsUnavailable();
/** The skip reason, pointing at the userspace suites that cover these scenarios everywhere. */
const unavailable =
  netns === undefined
    ? undefined
    : `${netns}; the same scenarios run without root through userspace relays in media-impairment.test.ts (UDP media path) and signaling-impairment.test.ts (WebSocket)`;
const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const PORT = 8555;
const GRACE_MS = 30_000;

type Line = { t: number; event: string; [k: string]: unknown };

interface Client {
  readonly lines: Line[];
  status(): Line | undefined;
  event(name: string, pred?: (l: Line) => boolean, timeoutMs?: number): Promise<Line>;
  send(cmd: string): void;
  stop(): void;
}

let net: NetPair;
let server: ChildProcess;
const serverLog: string[] = [];
const figures: string[] = [];

function figure(text: string): void {
  figures.push(text);
  console.log(`impairment: ${text}`);
}

function startClient(room: string): Client {
  const child = net.spawn(net.client, [process.execPath, `${ROOT}test/impairment/client-peer.ts`], {
    SERVER_URL: `ws://${net.server.ip}:${PORT}/api`,
    CLIENT_IP: net.client.ip,
    ROOM: room,
  });
  const lines: Line[] = [];
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on("line", (l) => {
    try {
      lines.push(JSON.parse(l) as Line);
    } catch {
      // not ours
    }
  });
  child.stderr?.on("data", () => {});
  return {
    lines,
    status: () => lines.findLast((l) => l.event === "status"),
    event: (name, pred = () => true, timeoutMs = 15_000) =>
      waitFor(
        `client event ${name}`,
        () => {
          const fatal = lines.find((l) => l.event === "fatal");
          if (fatal) throw new Error(`client failed: ${String(fatal.error)}`);
          return lines.find((l) => l.event === name && pred(l));
        },
        timeoutMs,
      ),
    send: (cmd) => child.stdin?.write(`${JSON.stringify({ cmd })}\n`),
    stop: () => child.kill("SIGKILL"),
  };
}

const num = (l: Line | undefined, k: string) => Number(l?.[k] ?? 0);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs media for `ms` and returns what the subscriber got of what the publisher sent meanwhile. */
async function window(c: Client, ms: number) {
  const a = c.status();
  await sleep(ms);
  const b = c.status();
  const sent = num(b, "packetsSent") - num(a, "packetsSent");
  const got = num(b, "uniquePackets") - num(a, "uniquePackets");
  const framesSent = num(b, "framesSent") - num(a, "framesSent");
  const framesGot = num(b, "framesComplete") - num(a, "framesComplete");
  return {
    sent,
    got,
    framesSent,
    framesGot,
    packetRatio: got / Math.max(1, sent),
    frameRatio: framesGot / Math.max(1, framesSent),
  };
}

async function connected(
  c: Client,
  label: string,
  timeoutMs: number,
): Promise<{ joinMs: number; ttffMs: number }> {
  const joined = await c.event("joined", (l) => l.member === "pub", timeoutMs);
  assert.equal(joined.ok, true, `${label}: join refused ${String(joined.e)}`);
  const published = await c.event("published", () => true, timeoutMs);
  assert.equal(published.ok, true, `${label}: publish refused ${String(published.e)}`);
  const first = await c.event("first-frame", () => true, timeoutMs);
  return { joinMs: Number(joined.ms), ttffMs: first.t };
}

describe("network impairment (namespaces + netem)", {
  skip: unavailable ? `skipped: ${unavailable}` : false,
}, () => {
  before(async () => {
    net = createNetPair("imp", 77);
    server = net.spawn(net.server, [process.execPath, `${ROOT}src/main.ts`], {
      PORT_NUMBER: String(PORT),
      BIND_ADDRESS: net.server.ip,
      PUBLIC_IPV4: net.server.ip,
      ROOM_MODE: "mcu",
      NODE_ENV: "test",
      LOG_LEVEL: "info",
      LOG_PRETTY: "false",
      RECONNECT_GRACE_MS: String(GRACE_MS),
      ROOM_LIVE_INTERVAL_MS: "0",
    });
    createInterface({ input: server.stdout as NodeJS.ReadableStream }).on("line", (l) => serverLog.push(l));
    server.stderr?.on("data", (d: Buffer) => serverLog.push(String(d)));
    await waitFor("server listening", () => serverLog.some((l) => l.includes('"listening"')), 15_000).catch(
      (err: Error) => {
        throw new Error(`${err.message}\n${serverLog.join("\n")}`);
      },
    );
  });

  after(() => {
    server?.kill("SIGKILL");
    net?.cleanup();
    console.log(`impairment figures:\n  ${figures.join("\n  ")}`);
  });

  test("baseline: the call connects and frames flow", async () => {
    const c = startClient("baseline");
    try {
      const { joinMs, ttffMs } = await connected(c, "baseline", 15_000);
      const w = await window(c, 2000);
      figure(
        `baseline: join ${joinMs} ms, time to first frame ${ttffMs} ms, ${(w.frameRatio * 100).toFixed(1)}% frames complete`,
      );
      assert.ok(w.frameRatio > 0.95, `frames ${w.framesGot}/${w.framesSent}`);
    } finally {
      c.stop();
    }
  });

  test("2 s added delay: the call still connects, frames flow, messages arrive", async () => {
    net.impair(net.server, ["delay", "2000ms"]);
    const c = startClient("delay");
    try {
      const { joinMs, ttffMs } = await connected(c, "delay", 40_000);
      assert.ok(joinMs >= 2000, `join took ${joinMs} ms under a 2 s delay`);
      const w = await window(c, 3000);
      c.send("ping");
      const pong = await c.event("pong", () => true, 10_000);
      figure(
        `2 s delay: join ${joinMs} ms, time to first frame ${ttffMs} ms, message ${String(pong.ms)} ms, ${(w.frameRatio * 100).toFixed(1)}% frames complete`,
      );
      assert.ok(w.frameRatio > 0.9, `frames ${w.framesGot}/${w.framesSent}`);
    } finally {
      c.stop();
      net.clear(net.server);
    }
  });

  for (const loss of [5, 15]) {
    test(`${loss}% random loss both ways: the call connects, NACK/PLI keep video going`, async () => {
      net.impair(net.server, ["loss", `${loss}%`]);
      net.impair(net.client, ["loss", `${loss}%`]);
      const c = startClient(`loss${loss}`);
      try {
        const { joinMs, ttffMs } = await connected(c, `${loss}% loss`, 30_000);
        const w = await window(c, 5000);
        const s = c.status();
        figure(
          `${loss}% loss: join ${joinMs} ms, first frame ${ttffMs} ms, packets ${w.got}/${w.sent} (${(100 - w.packetRatio * 100).toFixed(1)}% lost after NACK), frames ${w.framesGot}/${w.framesSent} complete, ${num(s, "plis")} PLIs`,
        );
        // Without retransmission the subscriber would get (1 - loss)^2 of the packets (two lossy hops).
        const noRetransmission = (1 - loss / 100) ** 2;
        assert.ok(
          w.packetRatio > noRetransmission,
          `${w.packetRatio} <= ${noRetransmission}: no NACK recovery`,
        );
        assert.ok(w.frameRatio > (loss === 5 ? 0.9 : 0.6), `frames ${w.framesGot}/${w.framesSent}`);
      } finally {
        c.stop();
        net.clear(net.server);
        net.clear(net.client);
      }
    });
  }

  test("100 ms jitter: frames keep flowing", async () => {
    net.impair(net.server, ["delay", "100ms", "100ms"]);
    net.impair(net.client, ["delay", "100ms", "100ms"]);
    const c = startClient("jitter");
    try {
      const { joinMs, ttffMs } = await connected(c, "jitter", 20_000);
      const w = await window(c, 4000);
      figure(
        `100 ms jitter: join ${joinMs} ms, first frame ${ttffMs} ms, frames ${w.framesGot}/${w.framesSent} complete, packets ${w.got}/${w.sent}`,
      );
      assert.ok(w.frameRatio > 0.9, `frames ${w.framesGot}/${w.framesSent}`);
    } finally {
      c.stop();
      net.clear(net.server);
      net.clear(net.client);
    }
  });

  test("10 s cut of the media path: media resumes within 5 s, a keyframe is requested, nobody is dropped", async () => {
    const c = startClient("cut");
    try {
      await connected(c, "cut", 15_000);
      await sleep(1000);
      const plisBefore = num(c.status(), "plis");
      net.impairProtocol(net.server, "udp", ["loss", "100%"]);
      net.impairProtocol(net.client, "udp", ["loss", "100%"]);
      const cutAt = c.lines.at(-1)?.t ?? 0;
      await sleep(10_000);
      net.clear(net.server);
      net.clear(net.client);
      const clearedAt = c.lines.at(-1)?.t ?? 0;
      const resumed = await c.event("status", (l) => num(l, "lastVideoAt") > clearedAt, 15_000);
      const recoveryMs = num(resumed, "lastVideoAt") - clearedAt;
      const keyframe = await waitFor(
        "a keyframe after the cut",
        () => num(c.status(), "plis") > plisBefore && c.status(),
        10_000,
      );
      const w = await window(c, 2000);
      c.send("ping");
      await c.event("pong", () => true, 5000);
      figure(
        `10 s media cut (from ${cutAt} ms): video back ${recoveryMs} ms after the link, ${num(keyframe, "plis") - plisBefore} PLI(s) to the publisher, then ${w.framesGot}/${w.framesSent} frames complete`,
      );
      assert.ok(recoveryMs < 5000, `media resumed after ${recoveryMs} ms`);
      assert.ok(w.frameRatio > 0.9);
      assert.equal(c.lines.filter((l) => l.event === "leave-seen").length, 0, "a member was dropped");
    } finally {
      c.stop();
      net.clear(net.server);
      net.clear(net.client);
    }
  });

  test("WebSocket cut then reconnect within the grace: same members, nobody dropped, messages flow again", async () => {
    const c = startClient("wscut");
    try {
      await connected(c, "wscut", 15_000);
      net.impairProtocol(net.server, "tcp", ["loss", "100%"]);
      net.impairProtocol(net.client, "tcp", ["loss", "100%"]);
      c.send("ws-drop");
      const during = await window(c, 3000);
      net.clear(net.server);
      net.clear(net.client);
      const started = c.lines.at(-1)?.t ?? 0;
      c.send("reconnect");
      const pub = await c.event("reconnected", (l) => l.member === "pub", 10_000);
      const sub = await c.event("reconnected", (l) => l.member === "sub", 10_000);
      assert.equal(pub.ok, true, JSON.stringify(pub));
      assert.equal(sub.ok, true, JSON.stringify(sub));
      c.send("ping");
      const pong = await c.event("pong", () => true, 5000);
      figure(
        `WebSocket cut 3 s: media during the cut ${during.framesGot}/${during.framesSent} frames, reconnect ${sub.t - started} ms for both, message after ${String(pong.ms)} ms`,
      );
      assert.equal(c.lines.filter((l) => l.event === "leave-seen").length, 0, "a member was dropped");
      assert.ok(during.frameRatio > 0.9, "media should not depend on the WebSocket");
    } finally {
      c.stop();
    }
  });
});

test("network impairment: environment", { skip: unavailable ? `skipped: ${unavailable}` : false }, () => {
  assert.equal(unavailable, undefined);
});
