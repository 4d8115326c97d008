/**
 * Fuzzing of the SDP and ICE candidate inputs. In a P2P room they are relayed verbatim (or
 * refused 1282 by the schema); in an MCU room they reach werift through the media plane and must
 * be answered with success or a clear error (1320 and friends), never 1280 or a crash, while a
 * well-behaved pair in the same room keeps talking and nothing leaks once the members leave.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import type { MediaPort } from "../../src/media/media-port.ts";
import { FuzzSocket, protocolViolation } from "../fuzz/fuzz-client.ts";
import { candidateArb, realOffer, sdpArb } from "../fuzz/sdp-arbitraries.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { waitFor } from "../helpers/wait-for.ts";

async function member(server: TestServer, room: string, user: string): Promise<FuzzSocket> {
  const s = await FuzzSocket.connect(server.url);
  await s.join(room, user);
  return s;
}

async function request(s: FuzzSocket, a: string, d: unknown) {
  const from = s.received.length;
  s.sendJson(a, d);
  const r = await s.replyOrClose(`${a}R`, from, 15_000);
  assert.notEqual(r, "closed", `${a}: socket closed ${JSON.stringify(s.closed)}`);
  return r === "closed" ? undefined : r.message;
}

async function talk(a: FuzzSocket, b: FuzzSocket, n: number): Promise<void> {
  const mark = b.received.length;
  a.sendJson("sendMessage", { to: b.socketId, message: n });
  await waitFor(`witness message ${n}`, () =>
    b.received
      .slice(mark)
      .some((m) => m.message?.a === "eventMessage" && (m.message.d as { message?: unknown }).message === n),
  );
}

test("P2P: fuzzed SDPs and candidates are relayed byte for byte, or refused with 1282, or (end of candidates) accepted and dropped", async () => {
  const server = await startTestServer({
    ROOM_MODE: "p2p",
    RATE_LIMIT_PER_SECOND: "100000",
    RATE_LIMIT_BURST: "100000",
    // Frames larger than the SDP limit, so that the schema (60 KiB) is what refuses big SDPs.
    MAX_MESSAGE_BYTES: "262144",
  });
  const base = await realOffer();
  const sender = await member(server, "p2p-fuzz", "sender");
  const receiver = await member(server, "p2p-fuzz", "receiver");
  try {
    await fc.assert(
      fc.asyncProperty(sdpArb(base), fc.constantFrom("offer", "answer", "pranswer"), async (sdp, type) => {
        const mark = receiver.received.length;
        const r = await request(sender, "exchangeSdp", { to: receiver.socketId, sdp: { type, sdp } });
        if (r?.s === true) {
          const got = await waitFor("relayed sdp", () =>
            receiver.received.slice(mark).find((m) => m.message?.a === "eventExchangeSdp"),
          );
          assert.deepEqual((got.message?.d as { sdp?: unknown } | undefined)?.sdp, { type, sdp });
        } else {
          assert.equal(r?.e, 1282, `sdp of ${sdp.length} chars`);
          assert.ok(Buffer.byteLength(JSON.stringify(sdp)) > 60 * 1024 || sdp.length > 60 * 1024);
        }
      }),
      { numRuns: 100, seed: 11 },
    );
    await fc.assert(
      fc.asyncProperty(candidateArb, async (candidate) => {
        const mark = receiver.received.length;
        const r = await request(sender, "exchangeCandidate", { to: receiver.socketId, candidate });
        if ((candidate as { candidate?: unknown }).candidate === "") {
          // End of candidates: answered with success and not relayed (docs/protocol.md).
          assert.equal(r?.s, true);
          return;
        }
        if (r?.s === true) {
          const got = await waitFor("relayed candidate", () =>
            receiver.received.slice(mark).find((m) => m.message?.a === "eventExchangeCandidate"),
          );
          const relayed = (got.message?.d as { candidate?: unknown } | undefined)?.candidate;
          assert.deepEqual(relayed, JSON.parse(JSON.stringify(candidate)));
        } else assert.equal(r?.e, 1282);
      }),
      { numRuns: 100, seed: 12 },
    );
    for (const s of [sender, receiver])
      for (const m of s.received) assert.equal(protocolViolation(m), undefined);
  } finally {
    sender.close();
    receiver.close();
    await server.close();
  }
});

/** The werift media plane, when this checkout has it (it is being built alongside this test). */
async function mediaPlane(): Promise<
  (MediaPort & { stats(): { publishers: number; listeners: number } }) | string
> {
  try {
    const { newWeriftMediaPlane } = await import("../../src/media/werift/werift-media-plane.ts");
    const { loadMediaConfig } = await import("../../src/config/media-config.ts");
    const { newSilentLogger } = await import("../../src/lib/logger.ts");
    const { newMetrics } = await import("../../src/metrics/metrics.ts");
    return newWeriftMediaPlane(loadMediaConfig({ PUBLIC_IPV4: "127.0.0.1" }), {
      log: newSilentLogger(),
      metrics: newMetrics({ processMetrics: false }),
    });
  } catch (err) {
    return `media plane not available: ${(err as Error).message}`;
  }
}

const MCU_OK_ERRORS = new Set([1282, 1298, 1320, 1330]);

const udpSockets = () => process.getActiveResourcesInfo().filter((r) => r === "UDPWrap").length;

test("MCU: fuzzed offers, answers and candidates give success or 1320/1330/1298/1282, never 1280 or a crash", async (t) => {
  const udpBefore = udpSockets();
  const media = await mediaPlane();
  if (typeof media === "string") {
    t.skip(media);
    return;
  }
  const server = await startTestServer(
    {
      ROOM_MODE: "mcu",
      RATE_LIMIT_PER_SECOND: "100000",
      RATE_LIMIT_BURST: "100000",
      MAX_MESSAGE_BYTES: "262144",
    },
    { media },
  );
  const base = await realOffer();
  const fuzzer = await member(server, "mcu-fuzz", "fuzzer");
  const a = await member(server, "mcu-fuzz", "witness-a");
  const b = await member(server, "mcu-fuzz", "witness-b");
  const codes = new Map<string, number>();
  const count = (k: string) => codes.set(k, (codes.get(k) ?? 0) + 1);
  let n = 0;
  try {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.record({
            kind: fc.constant("sdp" as const),
            to: fc.constantFrom("publisher", a.socketId, "nobody"),
            type: fc.constantFrom("offer", "answer"),
            sdp: sdpArb(base),
          }),
          fc.record({
            kind: fc.constant("candidate" as const),
            to: fc.constantFrom("publisher", a.socketId, "nobody"),
            candidate: candidateArb,
          }),
        ),
        async (input) => {
          const r =
            input.kind === "sdp"
              ? await request(fuzzer, "exchangeSdp", {
                  to: input.to,
                  sdp: { type: input.type, sdp: input.sdp },
                })
              : await request(fuzzer, "exchangeCandidate", { to: input.to, candidate: input.candidate });
          const code = r?.s === true ? "ok" : String(r?.e);
          count(`${input.kind}:${code}`);
          assert.ok(
            r?.s === true || MCU_OK_ERRORS.has(Number(r?.e)),
            `${input.kind} to ${input.to} got ${JSON.stringify(r)}`,
          );
          await talk(a, b, ++n);
        },
      ),
      { numRuns: 120, seed: 13 },
    );
    for (const m of fuzzer.received) assert.equal(protocolViolation(m), undefined);
    const crashes = (await server.metrics.programmerErrors.get()).values[0]?.value ?? 0;
    assert.equal(crashes, 0, "a handler crashed (1280)");
    console.log(
      `fuzz-sdp (MCU): replies ${[...codes.entries()]
        .sort()
        .map(([k, v]) => `${k}=${v}`)
        .join(" ")}`,
    );
    fuzzer.close();
    await waitFor(
      "fuzzer's media released",
      () => media.stats().publishers === 0 && media.stats().listeners === 0,
      5000,
    );
  } finally {
    for (const s of [fuzzer, a, b]) s.close();
    await server.close();
  }
  await waitFor("no UDP socket left open by the media plane", () => udpSockets() <= udpBefore, 3000);
});
