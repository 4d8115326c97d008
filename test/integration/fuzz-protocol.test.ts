/**
 * Protocol fuzzing against a running server: generated and mutated frames on many sockets at
 * once. Properties: the server stays up; every frame gets a documented reply (never 1280) or a
 * documented close; a well-behaved pair in the same room keeps talking; heap after GC is bounded;
 * nothing is left behind once the hostile sockets are gone.
 */
import assert from "node:assert/strict";
import { connect as tcpConnect } from "node:net";
import { after, before, test } from "node:test";
import fc from "fast-check";
import { describeFrame, frameArb } from "../fuzz/arbitraries.ts";
import {
  DOCUMENTED_CLOSES,
  type Frame,
  FuzzSocket,
  heapAfterGc,
  protocolViolation,
} from "../fuzz/fuzz-client.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { waitFor } from "../helpers/wait-for.ts";

const POOL = 12;
const ROOM = "calm";
let server: TestServer;
let witnessA: FuzzSocket;
let witnessB: FuzzSocket;
const pool: FuzzSocket[] = [];
let witnessRound = 0;
let framesSent = 0;
const closes = new Map<number, number>();

before(async () => {
  server = await startTestServer({
    ROOM_MODE: "p2p",
    // The fuzzer must reach the parser and the handlers, not only the rate limiter (tested elsewhere).
    RATE_LIMIT_PER_SECOND: "1000000",
    RATE_LIMIT_BURST: "1000000",
    RECONNECT_GRACE_MS: "200",
  });
  witnessA = await FuzzSocket.connect(server.url);
  await witnessA.join(ROOM, "witness-a-7f3e9c");
  witnessB = await FuzzSocket.connect(server.url);
  await witnessB.join(ROOM, "witness-b-2d81aa");
  for (let i = 0; i < POOL; i++) pool.push(await fresh(i));
});

after(async () => {
  for (const s of [...pool, witnessA, witnessB]) s.close();
  await server.close();
  const summary = [...closes.entries()].map(([c, n]) => `${c}x${n}`).join(" ");
  console.log(`fuzz-protocol: ${framesSent} frames, hostile closes: ${summary || "none"}`);
});

/** Half the pool joins the witnesses' room (as hostile members), the other half stays unjoined. */
async function fresh(i: number): Promise<FuzzSocket> {
  const s = await FuzzSocket.connect(server.url);
  if (i % 2 === 0) {
    try {
      await s.join(ROOM, `fuzzer-${i}`); // distinct users: one user has one member per room
    } catch {
      // the room may be full (1316): the socket fuzzes unjoined
    }
  }
  return s;
}

function targets(): string[] {
  return [witnessA.socketId, witnessB.socketId, ...pool.map((s) => s.socketId).filter((id) => id !== "")];
}

function actionOf(frame: Frame): string | undefined {
  if (frame.kind !== "text") return undefined;
  try {
    const v = JSON.parse(frame.text) as { a?: unknown };
    return typeof v?.a === "string" ? v.a : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Sends `frame` then a probe (`sendMessage` to nobody, answered 1297 or 1298 through the same
 * ordered handler chain), and checks everything that came back before the probe's reply.
 */
async function exercise(slot: number, frame: Frame): Promise<void> {
  let s = pool[slot];
  if (!s?.open) {
    s = await fresh(slot);
    pool[slot] = s;
  }
  const from = s.received.length;
  s.send(frame);
  framesSent++;
  s.sendJson("sendMessage", { to: "PROBE", message: 0 });
  const want = actionOf(frame) === "sendMessage" ? 2 : 1;
  const count = () => s.received.slice(from).filter((m) => m.message?.a === "sendMessageR").length;
  await waitFor(`probe reply after ${describeFrame(frame)}`, () => count() >= want || s.closed !== undefined);
  for (const m of s.received.slice(from)) {
    const bad = protocolViolation(m);
    assert.equal(bad, undefined, `after ${describeFrame(frame)}: ${bad}`);
  }
  if (s.closed) {
    closes.set(s.closed.code, (closes.get(s.closed.code) ?? 0) + 1);
    assert.ok(DOCUMENTED_CLOSES.has(s.closed.code), `close ${s.closed.code} after ${describeFrame(frame)}`);
  }
  s.received.splice(0);
}

/** The well-behaved pair: a message each way arrives, both sockets open, nothing malformed. */
async function witnessesTalk(): Promise<void> {
  const n = ++witnessRound;
  for (const [from, to] of [
    [witnessA, witnessB],
    [witnessB, witnessA],
  ] as const) {
    const mark = to.received.length;
    from.sendJson("sendMessage", { to: to.socketId, message: { n } });
    await waitFor(`witness message ${n}`, () =>
      to.received.slice(mark).find((m) => {
        const d = m.message?.d as { from?: { socketId?: string }; message?: { n?: number } } | undefined;
        return m.message?.a === "eventMessage" && d?.from?.socketId === from.socketId && d.message?.n === n;
      }),
    );
  }
  for (const w of [witnessA, witnessB]) {
    assert.ok(w.open, `witness closed: ${JSON.stringify(w.closed)}`);
    for (const m of w.received) assert.equal(protocolViolation(m), undefined);
    assert.ok(
      !w.received.some((m) => m.message?.a === "sendMessageR" && m.message.s !== true),
      "a witness's message was refused",
    );
    w.received.splice(0);
  }
}

async function fuzzRound(numRuns: number, seed: number): Promise<void> {
  await fc.assert(
    fc.asyncProperty(fc.array(frameArb(targets()), { minLength: 1, maxLength: POOL }), async (frames) => {
      await Promise.all(frames.map((f, i) => exercise(i, f)));
      await witnessesTalk();
    }),
    { numRuns, seed, endOnFailure: true },
  );
}

test("generated and mutated frames on many sockets: documented replies or closes, witnesses unaffected, bounded heap", async () => {
  console.log(`fuzz-protocol: heap at start ${((await heapAfterGc()) / 2 ** 20).toFixed(1)} MB`);
  await fuzzRound(20, 1); // warm-up: code paths compiled, pools allocated
  const before = await heapAfterGc();
  await fuzzRound(40, 2);
  await fuzzRound(40, 3);
  const afterHeap = await heapAfterGc();
  const growthMb = (afterHeap - before) / 2 ** 20;
  console.log(
    `fuzz-protocol: heap after GC ${(before / 2 ** 20).toFixed(1)} MB -> ${(afterHeap / 2 ** 20).toFixed(1)} MB`,
  );
  assert.ok(growthMb < 16, `heap grew by ${growthMb.toFixed(1)} MB over 80 fuzz rounds`);
  const crashes = (await server.metrics.programmerErrors.get()).values[0]?.value ?? 0;
  assert.equal(crashes, 0, "a handler crashed (1280)");
});

test("random bytes after the WebSocket handshake and junk HTTP requests do not hurt the server", async () => {
  const { port } = server;
  await fc.assert(
    fc.asyncProperty(
      fc.boolean(),
      fc.uint8Array({ minLength: 1, maxLength: 2048 }),
      async (upgrade, junk) => {
        await new Promise<void>((resolve) => {
          const sock = tcpConnect(port, "127.0.0.1");
          const done = () => {
            sock.destroy();
            resolve();
          };
          sock.on("error", done);
          sock.on("close", done);
          sock.setTimeout(150, done);
          sock.on("connect", () => {
            if (upgrade) {
              sock.write(
                "GET /api HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
                  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
              );
            }
            sock.write(junk);
          });
        });
      },
    ),
    { numRuns: 30, seed: 4 },
  );
  assert.equal((await fetch(`${server.httpUrl}/healthz`)).status, 200);
  await witnessesTalk();
});

test("once the hostile sockets are gone, only the witnesses remain (no leaked members or connections)", async () => {
  for (const s of pool) s.close();
  await waitFor(
    "hostile members gone",
    () => server.rooms.stats().members === 2 && server.hub.size === 2,
    5000,
  );
  assert.deepEqual(
    server.rooms
      .snapshot()
      .map((r) => [r.roomId, r.roomSize])
      .sort(),
    [[ROOM, 2]],
  );
  await witnessesTalk();
});
