/**
 * The media path under a bad network, without root or netem: the server (ROOM_MODE=mcu, a child
 * process) and two werift room members (a publisher and a viewer, test/impairment/media-peers.ts)
 * talk through the real WebSocket protocol, and every media datagram of a member's peer connection
 * crosses a userspace UDP impairment relay (test/helpers/udp-impairment.ts) that rewrites the ICE
 * candidates in both directions. Scenarios: baseline, 2 s added delay, 5 % and 15 % seeded random
 * loss on the server -> viewer path, 100 ms jitter with reordering, a 10 s total cut of both
 * members' media paths then recovery. Each asserts what the user sees (frames shown) and prints
 * the figures. The namespace + netem variant of these scenarios is impairment.test.ts.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { type ChildServer, spawnServer } from "../helpers/child-server.ts";
import { parsePrometheusText } from "../helpers/prometheus-text.ts";
import { type Direction, UdpImpairmentRelay } from "../helpers/udp-impairment.ts";
import { waitFor } from "../helpers/wait-for.ts";
import { TestClient, type WireMessage } from "../helpers/ws-client.ts";
import { MediaPublisher, MediaViewer } from "./media-peers.ts";

const SEED = 0x5eed;

let server: ChildServer;
const figures: string[] = [];
const cleanups: Array<() => unknown> = [];

before(async () => {
  server = await spawnServer({
    ROOM_MODE: "mcu",
    PUBLIC_IPV4: "127.0.0.1",
    RECONNECT_GRACE_MS: "30000",
  });
});

after(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  await server?.kill();
  console.log(`media impairment figures:\n  ${figures.join("\n  ")}`);
});

function figure(text: string): void {
  figures.push(text);
  console.log(`media impairment: ${text}`);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ms = (v: number) => Math.round(v);
const pct = (part: number, whole: number) => `${((100 * part) / Math.max(1, whole)).toFixed(1)}%`;

async function scrape(): Promise<{ nackHit: number; nackMiss: number; plis: number }> {
  const text = await (await fetch(`${server.httpUrl}/metrics`)).text();
  const samples = parsePrometheusText(text).samples;
  const sum = (name: string, labels: Record<string, string> = {}) =>
    samples
      .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
      .reduce((a, s) => a + s.value, 0);
  return {
    nackHit: sum("webrtcsignaling_media_nacks_total", { result: "hit" }),
    nackMiss: sum("webrtcsignaling_media_nacks_total", { result: "miss" }),
    plis: sum("webrtcsignaling_media_plis_total"),
  };
}

function fromOf(m: WireMessage): string {
  return String((m.d?.from as { socketId?: string } | undefined)?.socketId);
}

const DEBUG = process.env.IMPAIRMENT_DEBUG === "1";
const t00 = performance.now();
function trace(name: string, pc: MediaPublisher["pc"]): void {
  if (!DEBUG) return;
  const at = () => ms(performance.now() - t00);
  pc.iceConnectionStateChange.subscribe((s) => console.log(`${at()} ${name} ice ${s}`));
  pc.connectionStateChange.subscribe((s) => console.log(`${at()} ${name} pc ${s}`));
}

type Rewrite = (text: string) => Promise<string>;
const same: Rewrite = async (t) => t;

/** Applies the server's candidates for connection `from` to `pc`, rewritten, as they come (and those already received). */
function applyCandidates(c: TestClient, from: string, pc: MediaPublisher["pc"], rewrite: Rewrite): void {
  const apply = (m: WireMessage) => {
    if (m.a !== "eventExchangeCandidate" || fromOf(m) !== from) return;
    const cand = m.d?.candidate as { candidate: string; sdpMid?: string; sdpMLineIndex?: number };
    void rewrite(cand.candidate)
      .then((candidate) => pc.addIceCandidate({ ...cand, candidate }))
      .catch(() => undefined);
  };
  for (const m of c.received) apply(m);
  c.ws.on("message", (data) => apply(JSON.parse(data.toString()) as WireMessage));
}

/** Sends `pc`'s own trickled candidates to the server, rewritten. */
function sendCandidates(c: TestClient, to: string, pc: MediaPublisher["pc"], rewrite: Rewrite): void {
  pc.onIceCandidate.subscribe((cand) => {
    if (!cand) return;
    const json = cand.toJSON();
    void rewrite(json.candidate ?? "")
      .then((candidate) => c.send("exchangeCandidate", { to, candidate: { ...json, candidate } }))
      .catch(() => undefined);
  });
}

interface Call {
  readonly alice: TestClient;
  readonly bob: TestClient;
  readonly aliceId: string;
  readonly bobId: string;
  readonly pub: MediaPublisher;
  readonly viewer: MediaViewer;
  /** performance.now() when the publisher's offer was sent. */
  readonly startedAt: number;
}

/**
 * alice publishes, bob views; each peer connection's media goes through its relay when given.
 * Resolves once the offers/answers are exchanged (not once media flows).
 */
async function call(
  room: string,
  relays: { pub?: UdpImpairmentRelay; sub?: UdpImpairmentRelay },
): Promise<Call> {
  const { pub: p, sub: v } = relays;
  const pubForClient: Rewrite = p ? (t) => p.forClient(t) : same;
  const pubForServer: Rewrite = p ? (t) => p.forServer(t) : same;
  const subForClient: Rewrite = v ? (t) => v.forClient(t) : same;
  const subForServer: Rewrite = v ? (t) => v.forServer(t) : same;
  const alice = await TestClient.connect(server.wsUrl);
  const bob = await TestClient.connect(server.wsUrl);
  cleanups.push(
    () => alice.close(),
    () => bob.close(),
  );
  const aliceId = String((await alice.join(room, "alice")).d?.socketId);
  const bobId = String((await bob.join(room, "bob")).d?.socketId);

  const pub = new MediaPublisher();
  cleanups.push(() => pub.close());
  trace("pub", pub.pc);
  applyCandidates(alice, "publisher", pub.pc, pubForClient);
  sendCandidates(alice, "publisher", pub.pc, pubForServer);
  const offer = await pub.offer();
  const startedAt = performance.now();
  const reply = await alice.request(
    "exchangeSdp",
    { to: "publisher", sdp: { type: "offer", sdp: await pubForServer(offer.sdp) } },
    15_000,
  );
  assert.equal(reply.s, true, `publish refused: ${JSON.stringify(reply)}`);
  const answer = alice.received.find((m) => m.a === "eventExchangeSdp" && fromOf(m) === "publisher");
  const answerSdp = (answer?.d?.sdp as { sdp: string } | undefined)?.sdp ?? "";
  if (DEBUG) console.log("server answer setup:", /a=setup:\S+/.exec(answerSdp)?.[0]);
  await pub.pc.setRemoteDescription({ type: "answer", sdp: await pubForClient(answerSdp) });
  pub.start();

  const viewer = new MediaViewer();
  cleanups.push(() => viewer.close());
  trace("viewer", viewer.pc);
  const serverOffer = await bob.next("eventExchangeSdp", (m) => fromOf(m) === aliceId, 15_000);
  applyCandidates(bob, aliceId, viewer.pc, subForClient);
  sendCandidates(bob, aliceId, viewer.pc, subForServer);
  const offerSdp = String((serverOffer.d?.sdp as { sdp?: string } | undefined)?.sdp ?? "");
  const viewerAnswer = await viewer.answer({ type: "offer", sdp: await subForClient(offerSdp) });
  const r = await bob.request(
    "exchangeSdp",
    { to: aliceId, sdp: { type: "answer", sdp: await subForServer(viewerAnswer.sdp) } },
    15_000,
  );
  assert.equal(r.s, true, `answer refused: ${JSON.stringify(r)}`);
  return { alice, bob, aliceId, bobId, pub, viewer, startedAt };
}

/** Waits for the first shown frame; returns the time from the publisher's offer to it. */
async function firstFrame(c: Call, timeoutMs: number): Promise<number> {
  const shown = await waitFor("the viewer's first frame", () => c.viewer.shown[0], timeoutMs);
  return shown.at - c.startedAt;
}

interface Window {
  framesSent: number;
  framesShown: number;
  packetsSent: number;
  packetsGot: number;
  firstFrame: number;
  lastFrame: number;
}

/** Media for `durationMs`; then waits `settleMs` for late packets and counts what the viewer got of it. */
async function window(c: Call, durationMs: number, settleMs: number): Promise<Window> {
  const first = c.pub.framesSent;
  await sleep(durationMs);
  const last = c.pub.framesSent;
  await sleep(settleMs);
  const framesSent = last - first;
  return {
    framesSent,
    framesShown: c.viewer.shownBetween(first, last),
    packetsSent: framesSent * c.pub.packetsPerFrame,
    packetsGot: c.viewer.packetsBetween(first, last),
    firstFrame: first,
    lastFrame: last,
  };
}

async function relay(seed = SEED): Promise<UdpImpairmentRelay> {
  const r = new UdpImpairmentRelay({ seed });
  cleanups.push(() => r.close());
  return r;
}

function rtp(r: UdpImpairmentRelay, d: Direction, pt: number): { passed: number; dropped: number } {
  return { ...(r.stats[d].byPayloadType.get(pt) ?? { passed: 0, dropped: 0 }) };
}

test("baseline through the relays: the call connects and every frame is shown", async () => {
  const pubRelay = await relay();
  const subRelay = await relay();
  const c = await call("media-baseline", { pub: pubRelay, sub: subRelay });
  const ttff = await firstFrame(c, 15_000);
  const w = await window(c, 2000, 300);
  figure(
    `baseline (relays, no impairment): first frame ${ms(ttff)} ms after the offer, frames shown ${w.framesShown}/${w.framesSent}, packets ${w.packetsGot}/${w.packetsSent}`,
  );
  assert.ok(subRelay.stats.toClient.byClass.rtp.passed > 50, "media did not cross the viewer's relay");
  assert.ok(pubRelay.stats.toServer.byClass.rtp.passed > 50, "media did not cross the publisher's relay");
  assert.ok(w.framesShown >= w.framesSent - 1, `frames ${w.framesShown}/${w.framesSent}`);
});

test("2 s added delay server -> client on both media paths: the call connects, frames are shown 2 s late", async () => {
  const pubRelay = await relay();
  const subRelay = await relay();
  // werift cannot complete ICE or DTLS at a 2 s round trip (see the known-limit test below): the media
  // (RTP/RTCP) is delayed from the start, the handshake (STUN, DTLS) only once connected.
  for (const r of [pubRelay, subRelay]) r.impair("toClient", { delayMs: 2000, only: ["rtp", "rtcp"] });
  const c = await call("media-delay", { pub: pubRelay, sub: subRelay });
  const ttff = await firstFrame(c, 20_000);
  for (const r of [pubRelay, subRelay]) r.impair("toClient", { only: undefined });
  const w = await window(c, 3000, 2500);
  const latencies = c.viewer.shown
    .filter((f) => f.frame >= w.firstFrame && f.frame < w.lastFrame)
    .map((f) => f.at - (c.pub.frameSentAt[f.frame] ?? f.at));
  const median = latencies.sort((x, y) => x - y)[Math.floor(latencies.length / 2)] ?? 0;
  figure(
    `2 s delay server->client on both media paths (RTT 2 s): first frame ${ms(ttff)} ms after the offer, frames shown ${w.framesShown}/${w.framesSent}, packets ${w.packetsGot}/${w.packetsSent}, median frame latency ${ms(median)} ms, viewer PLIs ${c.viewer.plis.length}`,
  );
  assert.ok(ttff >= 2000, `first frame after ${ms(ttff)} ms under a 2 s delay`);
  assert.ok(median >= 2000 && median < 2300, `frame latency ${ms(median)} ms`);
  assert.ok(w.framesShown >= 0.95 * w.framesSent, `frames ${w.framesShown}/${w.framesSent}`);
});

// A known werift limit, asserted rather than left as a failing `todo` (which the test runner lists
// under "failing tests" with a stack even when everything passed). When werift connects here one
// day, this fails: then turn it into the test that the call connects.
test("2 s added delay on every packet from the start (ICE and DTLS included): werift does not connect (known limit)", async () => {
  const subRelay = await relay();
  subRelay.impair("toClient", { delayMs: 2000 });
  const c = await call("media-delay-setup", { sub: subRelay });
  const ttff = await firstFrame(c, 12_000).catch(() => undefined);
  assert.equal(
    ttff,
    undefined,
    `the call connected at a 2 s round trip (first frame ${ttff} ms): werift's limit is gone, expect the connection instead`,
  );
  figure(
    "2 s delay on every packet from the start: no frame within 12 s (werift gives up an ICE check after 1.55 s: RTO 50 ms, 4 retransmissions; its DTLS client fails on a duplicate HelloVerifyRequest)",
  );
});

for (const loss of [5, 15]) {
  test(`${loss}% random loss server -> viewer: NACK recovers the packets, frames are shown`, async () => {
    const subRelay = await relay(SEED + loss);
    const c = await call(`media-loss-${loss}`, { sub: subRelay });
    await firstFrame(c, 15_000);
    await sleep(500);
    const m0 = await scrape();
    const v0 = rtp(subRelay, "toClient", 96);
    const x0 = rtp(subRelay, "toClient", 97);
    const plis0 = c.viewer.plis.length;
    const since = performance.now();
    subRelay.impair("toClient", { loss: loss / 100 });
    const w = await window(c, 5000, 0);
    subRelay.clear();
    await sleep(500);
    const m1 = await scrape();
    const v1 = rtp(subRelay, "toClient", 96);
    const x1 = rtp(subRelay, "toClient", 97);
    const dropped = v1.dropped - v0.dropped + (x1.dropped - x0.dropped);
    const firstCopiesDropped = v1.dropped - v0.dropped;
    const retransmitted = x1.passed - x0.passed;
    const nackHit = m1.nackHit - m0.nackHit;
    const nackMiss = m1.nackMiss - m0.nackMiss;
    // Recount after the settle time (window() returned at once): retransmissions have arrived.
    const got = c.viewer.packetsBetween(w.firstFrame, w.lastFrame);
    const shown = c.viewer.shownBetween(w.firstFrame, w.lastFrame);
    const pliCount = c.viewer.plis.length - plis0;
    figure(
      `${loss}% loss server->viewer (seeded): relay dropped ${firstCopiesDropped} of ${v1.passed - v0.passed + firstCopiesDropped} video packets (${pct(firstCopiesDropped, v1.passed - v0.passed + firstCopiesDropped)}) and ${x1.dropped - x0.dropped} retransmissions; server NACKs answered ${nackHit} (miss ${nackMiss}), retransmissions delivered ${retransmitted}; viewer packets complete ${got}/${w.packetsSent} (${pct(got, w.packetsSent)}), frames shown ${shown}/${w.framesSent} (${w.framesSent - shown} lost), viewer PLIs ${pliCount}, longest freeze ${c.viewer.longestFreezeMs(since)} ms`,
    );
    assert.ok(firstCopiesDropped >= (loss / 100 / 2) * w.packetsSent, `only ${dropped} packets dropped`);
    assert.ok(nackHit >= firstCopiesDropped, `NACKs answered ${nackHit} < ${firstCopiesDropped} lost`);
    assert.ok(retransmitted > 0, "no retransmission reached the viewer");
    // Without retransmission the viewer would have (1 - loss) of the packets.
    assert.ok(got >= 0.99 * w.packetsSent, `packets ${got}/${w.packetsSent} after NACK`);
    assert.ok(shown >= 0.95 * w.framesSent, `frames shown ${shown}/${w.framesSent}`);
  });
}

test("100 ms jitter both ways on both media paths, then with reordering: frames keep being shown", async () => {
  const pubRelay = await relay();
  const subRelay = await relay();
  // In order during the handshake: werift's DTLS fails on reordered handshake records.
  for (const r of [pubRelay, subRelay]) r.impair("both", { delayMs: 100, jitterMs: 100 });
  const c = await call("media-jitter", { pub: pubRelay, sub: subRelay });
  const ttff = await firstFrame(c, 20_000);
  await sleep(300);
  const inOrder = await window(c, 2500, 400);
  for (const r of [pubRelay, subRelay]) r.impair("both", { reorder: true });
  const m0 = await scrape();
  const since = performance.now();
  const w = await window(c, 3000, 600);
  const m1 = await scrape();
  figure(
    `100 ms jitter (each packet delayed 0-200 ms) both ways, both paths: first frame ${ms(ttff)} ms; in order: frames shown ${inOrder.framesShown}/${inOrder.framesSent}; with reordering: frames shown ${w.framesShown}/${w.framesSent}, packets ${w.packetsGot}/${w.packetsSent}, server NACKs answered ${m1.nackHit - m0.nackHit} (reordering looks like loss to werift's receiver), viewer PLIs ${c.viewer.plis.length}, longest freeze ${c.viewer.longestFreezeMs(since)} ms`,
  );
  assert.ok(
    inOrder.framesShown >= 0.95 * inOrder.framesSent,
    `frames ${inOrder.framesShown}/${inOrder.framesSent}`,
  );
  assert.ok(w.packetsGot >= 0.99 * w.packetsSent, `packets ${w.packetsGot}/${w.packetsSent}`);
  assert.ok(w.framesShown >= 0.9 * w.framesSent, `frames ${w.framesShown}/${w.framesSent}`);
});

test("10 s total cut of both media paths: media resumes, a keyframe is asked for, nobody is dropped", async () => {
  const pubRelay = await relay();
  const subRelay = await relay();
  const c = await call("media-cut", { pub: pubRelay, sub: subRelay });
  await firstFrame(c, 15_000);
  await sleep(1000);
  const m0 = await scrape();
  pubRelay.cut(true);
  subRelay.cut(true);
  const cutAt = performance.now();
  const frozen = await c.bob.next("eventFreeze", (m) => fromOf(m) === c.aliceId, 5000);
  const frozenAfter = performance.now() - cutAt;
  await sleep(10_000 - (performance.now() - cutAt));
  const shownBeforeRestore = c.viewer.shown.length;
  assert.equal(
    c.viewer.shown.filter((s) => s.at > cutAt + 200).length,
    0,
    "frames were shown during the cut",
  );
  pubRelay.cut(false);
  subRelay.cut(false);
  const restoredAt = performance.now();
  const back = await waitFor(
    "a frame shown after the cut",
    () => c.viewer.shown.find((s) => s.at > restoredAt),
    10_000,
  );
  const recoveryMs = back.at - restoredAt;
  const packetsBackMs = (c.viewer.arrivals.find((t) => t > restoredAt) ?? Number.NaN) - restoredAt;
  const unfrozen = await c.bob.next("eventUnfreeze", (m) => fromOf(m) === c.aliceId, 5000);
  await sleep(500);
  const m1 = await scrape();
  const w = await window(c, 2000, 300);
  const pubPlis = c.pub.plis.filter((t) => t > restoredAt).length;
  const viewerPlis = c.viewer.plis.filter((t) => t > restoredAt).length;
  figure(
    `10 s media cut (both paths, both ways): eventFreeze after ${ms(frozenAfter)} ms, eventUnfreeze durationMs ${String(unfrozen.d?.durationMs)}; first packet ${ms(packetsBackMs)} ms and first frame shown ${ms(recoveryMs)} ms after the link came back (keyframe: ${back.key}), viewer PLIs ${viewerPlis}, PLIs reaching the publisher ${pubPlis} (server plis_total +${m1.plis - m0.plis}), NACKs after the cut answered ${m1.nackHit - m0.nackHit} / missed ${m1.nackMiss - m0.nackMiss}; then frames shown ${w.framesShown}/${w.framesSent}`,
  );
  assert.ok(shownBeforeRestore > 0);
  assert.ok(recoveryMs < 3000, `media resumed after ${ms(recoveryMs)} ms`);
  assert.ok(pubPlis > 0, "the publisher was not asked for a keyframe after the cut");
  assert.ok(m1.plis > m0.plis, "the server sent no PLI after the cut");
  assert.equal(frozen.a, "eventFreeze");
  assert.equal(c.alice.all("eventLeave").length + c.bob.all("eventLeave").length, 0, "a member was dropped");
  assert.equal(c.alice.closed ?? c.bob.closed, undefined, "a WebSocket closed");
  assert.equal(
    c.bob.all("eventExchangeSdp").length,
    1,
    "the viewer's connection was replaced, not recovered",
  );
  assert.ok(w.framesShown >= 0.95 * w.framesSent, `after recovery: frames ${w.framesShown}/${w.framesSent}`);
});
