import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { waitFor } from "../helpers/wait-for.ts";
import { TestListener, TestPublisher } from "../helpers/werift-peers.ts";
import { TestClient, type WireMessage } from "../helpers/ws-client.ts";

/** The MCU flow through the WebSocket protocol, with werift peers playing the clients. */
let server: TestServer;
const closers: Array<() => unknown> = [];
before(async () => {
  server = await startTestServer({ ROOM_MODE: "mcu", PUBLIC_IPV4: "127.0.0.1", FREEZE_TIMEOUT_MS: "400" });
});
after(async () => {
  for (const close of closers.reverse()) await close();
  await server.close();
});

async function member(room: string, user: string): Promise<{ c: TestClient; id: string }> {
  const c = await TestClient.connect(server.url);
  closers.push(() => c.close());
  const r = await c.join(room, user);
  return { c, id: String(r.d?.socketId) };
}

function fromOf(m: WireMessage): { socketId: string; userId: string } {
  return m.d?.from as { socketId: string; userId: string };
}

/** The SDP with a fingerprint that matches no certificate: ICE connects, DTLS cannot. */
function wrongFingerprint(sdp: string): string {
  return sdp.replace(/a=fingerprint:(\S+) ([0-9A-F]{2})/i, (_m, alg: string, byte: string) => {
    const flipped = ((Number.parseInt(byte, 16) + 1) % 256).toString(16).toUpperCase().padStart(2, "0");
    return `a=fingerprint:${alg} ${flipped}`;
  });
}

/** Applies the server's candidates for `from` to `pc` as they come. */
function applyCandidates(c: TestClient, from: string, pc: TestPublisher["pc"]): void {
  c.ws.on("message", (data) => {
    const m = JSON.parse(data.toString()) as WireMessage;
    if (m.a !== "eventExchangeCandidate" || fromOf(m).socketId !== from) return;
    const cand = m.d?.candidate as { candidate: string; sdpMid?: string; sdpMLineIndex?: number };
    void pc.addIceCandidate(cand).catch(() => {});
  });
}

test("a publisher's media reaches another member through the server, with the protocol's events", async () => {
  const alice = await member("mcu-room", "alice");
  const bob = await member("mcu-room", "bob");
  const publisher = new TestPublisher();
  closers.push(() => publisher.close());
  applyCandidates(alice.c, "publisher", publisher.pc);

  const reply = await alice.c.request(
    "exchangeSdp",
    { to: "publisher", sdp: await publisher.offer() },
    10_000,
  );
  assert.deepEqual(reply, { a: "exchangeSdpR", s: true });
  // The answer arrived before the reply.
  const answerAt = alice.c.received.findIndex((m) => m.a === "eventExchangeSdp");
  assert.ok(answerAt >= 0 && answerAt < alice.c.received.findIndex((m) => m.a === "exchangeSdpR"));
  const answer = alice.c.received[answerAt]!;
  assert.deepEqual(fromOf(answer), { socketId: "publisher", userId: "" });
  await publisher.pc.setRemoteDescription(answer.d?.sdp as { type: "answer"; sdp: string });
  publisher.start();

  const offer = await bob.c.next("eventExchangeSdp", (m) => fromOf(m).socketId === alice.id, 10_000);
  assert.deepEqual(fromOf(offer), { socketId: alice.id, userId: "alice" });
  assert.equal((offer.d?.sdp as { type: string } | undefined)?.type, "offer");
  const listener = new TestListener();
  closers.push(() => listener.pc.close());
  applyCandidates(bob.c, alice.id, listener.pc);
  const bobAnswer = await listener.answer(offer.d?.sdp as { type: "offer"; sdp: string });
  assert.equal((await bob.c.request("exchangeSdp", { to: alice.id, sdp: bobAnswer }, 10_000)).s, true);

  await alice.c.next("eventWebrtcUp", (m) => fromOf(m).socketId === "publisher", 15_000);
  await bob.c.next("eventWebrtcUp", (m) => fromOf(m).socketId === alice.id, 15_000);
  await waitFor(
    "video and audio at bob",
    () => listener.video.length > 20 && listener.audio.length > 20,
    15_000,
  );

  // Alice's video stops: the server sees the freeze and tells Bob, then the recovery.
  publisher.stop();
  const freeze = await bob.c.next("eventFreeze", () => true, 5000);
  assert.deepEqual(fromOf(freeze), { socketId: alice.id, userId: "alice" });
  publisher.start();
  const unfreeze = await bob.c.next("eventUnfreeze", () => true, 5000);
  assert.deepEqual(fromOf(unfreeze), { socketId: alice.id, userId: "alice" });
  assert.ok(Number(unfreeze.d?.durationMs) >= 300, `freeze lasted ${unfreeze.d?.durationMs} ms`);
  const freezes = server.published.filter((e) => e.key === "media.freeze").map((e) => e.payload);
  assert.deepEqual(
    freezes.map((p) => ("frozen" in p ? p.frozen : undefined)),
    [true, false],
  );

  // Alice leaves: Bob is told, and the server's media for her is gone.
  alice.c.close(1000);
  const leave = await bob.c.next("eventLeave", () => true, 5000);
  assert.equal(leave.d?.socketId, alice.id);
  assert.equal(leave.d?.roomSize, 1);
});

test("bad SDP gets 1320, an unknown target 1298, and the socket keeps working", async () => {
  const carol = await member("mcu-bad", "carol");
  const other = await member("mcu-elsewhere", "dave");
  assert.deepEqual(
    await carol.c.request("exchangeSdp", { to: "publisher", sdp: { type: "offer", sdp: "garbage" } }),
    {
      a: "exchangeSdpR",
      s: false,
      e: 1320,
    },
  );
  assert.equal(
    (await carol.c.request("exchangeSdp", { to: other.id, sdp: { type: "answer", sdp: "v=0" } })).e,
    1298,
  );
  // A re-offer on an established connection that drops every supported codec is refused too.
  const publisher = new TestPublisher();
  closers.push(() => publisher.close());
  const offer = await publisher.offer();
  assert.equal((await carol.c.request("exchangeSdp", { to: "publisher", sdp: offer })).s, true);
  const noCodec = offer.sdp.replace(/opus\/48000/g, "G722/8000").replace(/VP8\/90000/g, "H265/90000");
  assert.equal(
    (await carol.c.request("exchangeSdp", { to: "publisher", sdp: { type: "offer", sdp: noCodec } })).e,
    1320,
  );
  const cand = { candidate: "candidate:1 1 udp 1 127.0.0.1 9 typ host", sdpMid: "0", sdpMLineIndex: 0 };
  assert.equal((await carol.c.request("exchangeCandidate", { to: other.id, candidate: cand })).e, 1298);
  assert.deepEqual(await carol.c.request("orientationChange", { orientation: 0, camera: "front" }), {
    a: "orientationChangeR",
    s: true,
  });
});

test("a connection that fails (DTLS fingerprint mismatch) is reported; publishing again brings media back", async () => {
  const erin = await member("mcu-fail", "erin");
  const frank = await member("mcu-fail", "frank");
  const broken = new TestPublisher();
  closers.push(() => broken.close());
  applyCandidates(erin.c, "publisher", broken.pc);
  const offer = await broken.offer();
  // A fingerprint that does not match erin's certificate: ICE connects, DTLS cannot.
  const tampered = wrongFingerprint(offer.sdp);
  assert.notEqual(tampered, offer.sdp);
  assert.equal(
    (await erin.c.request("exchangeSdp", { to: "publisher", sdp: { type: "offer", sdp: tampered } })).s,
    true,
  );
  const answer = erin.c.received.find((m) => m.a === "eventExchangeSdp");
  await broken.pc.setRemoteDescription(answer?.d?.sdp as { type: "answer"; sdp: string });
  broken.start();
  const down = await erin.c.next("eventWebrtcDown", () => true, 15_000);
  assert.deepEqual(fromOf(down), { socketId: "publisher", userId: "" });

  // The client publishes again on a new connection; frank receives.
  await broken.close();
  const fresh = new TestPublisher();
  closers.push(() => fresh.close());
  applyCandidates(erin.c, "publisher", fresh.pc);
  const before = erin.c.received.length;
  assert.equal(
    (await erin.c.request("exchangeSdp", { to: "publisher", sdp: await fresh.offer() }, 10_000)).s,
    true,
  );
  const again = erin.c.received.slice(before).find((m) => m.a === "eventExchangeSdp");
  await fresh.pc.setRemoteDescription(again?.d?.sdp as { type: "answer"; sdp: string });
  fresh.start();
  const offerToFrank = await frank.c.next("eventExchangeSdp", (m) => fromOf(m).socketId === erin.id, 10_000);
  const listener = new TestListener();
  closers.push(() => listener.pc.close());
  applyCandidates(frank.c, erin.id, listener.pc);
  const frankAnswer = await listener.answer(offerToFrank.d?.sdp as { type: "offer"; sdp: string });
  assert.equal((await frank.c.request("exchangeSdp", { to: erin.id, sdp: frankAnswer }, 10_000)).s, true);
  await waitFor("video at frank after the re-publish", () => listener.video.length > 20, 15_000);
});

test("a listener connection that fails is reported and offered again", async () => {
  const gina = await member("mcu-lfail", "gina");
  const hank = await member("mcu-lfail", "hank");
  const publisher = new TestPublisher();
  closers.push(() => publisher.close());
  applyCandidates(gina.c, "publisher", publisher.pc);
  assert.equal(
    (await gina.c.request("exchangeSdp", { to: "publisher", sdp: await publisher.offer() }, 10_000)).s,
    true,
  );
  const answer = gina.c.received.find((m) => m.a === "eventExchangeSdp");
  await publisher.pc.setRemoteDescription(answer?.d?.sdp as { type: "answer"; sdp: string });
  publisher.start();

  const first = await hank.c.next("eventExchangeSdp", (m) => fromOf(m).socketId === gina.id, 10_000);
  const bad = new TestListener();
  closers.push(() => bad.pc.close());
  applyCandidates(hank.c, gina.id, bad.pc);
  const badAnswer = await bad.answer(first.d?.sdp as { type: "offer"; sdp: string });
  const tampered = wrongFingerprint(badAnswer.sdp);
  assert.equal(
    (await hank.c.request("exchangeSdp", { to: gina.id, sdp: { type: "answer", sdp: tampered } })).s,
    true,
  );
  const down = await hank.c.next("eventWebrtcDown", () => true, 15_000);
  assert.deepEqual(fromOf(down), { socketId: gina.id, userId: "gina" });
  // A fresh offer for the same publisher follows; answering it properly brings the media.
  const second = await hank.c.next("eventExchangeSdp", (m) => fromOf(m).socketId === gina.id, 10_000);
  const good = new TestListener();
  closers.push(() => good.pc.close());
  applyCandidates(hank.c, gina.id, good.pc);
  const goodAnswer = await good.answer(second.d?.sdp as { type: "offer"; sdp: string });
  assert.equal((await hank.c.request("exchangeSdp", { to: gina.id, sdp: goodAnswer }, 10_000)).s, true);
  await waitFor("video at hank on the new connection", () => good.video.length > 20, 15_000);
});
