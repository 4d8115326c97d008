import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { TribeClient } from "../helpers/tribe-client.ts";
import { waitFor } from "../helpers/wait-for.ts";
import { TestClient, type WireMessage } from "../helpers/ws-client.ts";

/**
 * The seed's real client, replayed: three Tribe-app clients call each other through the MCU, and
 * no reply they get ever carries `e` (the app quits the call on the first one).
 */
let server: TestServer;
const closers: Array<() => unknown> = [];
before(async () => {
  server = await startTestServer({ ROOM_MODE: "mcu", PUBLIC_IPV4: "127.0.0.1" });
});
after(async () => {
  for (const close of closers.reverse()) await close();
  await server.close();
});

async function tribe(user: string): Promise<TribeClient> {
  const t = await TribeClient.connect(server.url, user);
  closers.push(() => t.close());
  return t;
}

function fromId(m: WireMessage): string | undefined {
  return (m.d?.from as { socketId?: string } | undefined)?.socketId;
}

test("three app clients call each other: media in all six directions, no error reply, no re-offer", async () => {
  const room = "tribe-call";
  const alice = await tribe("alice");
  const bob = await tribe("bob");
  const carol = await tribe("carol");
  assert.equal((await alice.join(room, { form: "android" })).s, true);
  assert.equal((await bob.join(room, { form: "minimal" })).s, true);
  assert.equal((await carol.join(room, { form: "android" })).s, true);
  for (const t of [alice, bob, carol]) await t.publish();

  const all = [alice, bob, carol];
  await waitFor(
    "video in all six directions",
    () => all.every((to) => all.every((from) => from === to || to.videoFrom(from.socketId) >= 20)),
    30_000,
  );
  for (const t of all) {
    assert.deepEqual(t.errors, [], `${t.user} got an error reply`);
    assert.deepEqual(t.reoffered, [], `${t.user} was re-offered a connection`);
    // Every `{completed: true}` was answered with success.
    assert.ok(t.c.all("exchangeCandidateR").every((r) => r.s === true));
  }
  // 3 publishing connections and 6 listener connections each ended their gathering.
  const ignored = (await server.metrics.signalsIgnored.get()).values.find(
    (v) => v.labels.reason === "end-of-candidates",
  );
  assert.ok((ignored?.value ?? 0) >= 9, `end-of-candidates counted: ${ignored?.value}`);
});

test("candidates and answers for a member who just left are answered with success; sendMessage still 1298", async () => {
  const room = "tribe-leave";
  const alice = await tribe("alice2");
  const bob = await tribe("bob2");
  await alice.join(room, { form: "android" });
  await bob.join(room, { form: "android" });
  await alice.publish();
  await bob.publish();
  await waitFor("bob's offer reaches alice", () => alice.listeners.has(bob.socketId), 15_000);

  const bobId = bob.socketId;
  bob.c.close(1000);
  await alice.c.next("eventLeave", (m) => m.d?.socketId === bobId, 5000);
  // What the app still sends for bob's connection after he left.
  alice.sendCandidate(bobId, {
    candidate: "candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host",
    sdpMid: "0",
  });
  alice.sendCandidate(bobId, { completed: true });
  const answer = alice.listeners.get(bobId)?.answer;
  assert.ok(answer);
  const sdpReply = await alice.c.request("exchangeSdp", { to: bobId, sdp: answer }, 5000);
  assert.deepEqual(sdpReply, { a: "exchangeSdpR", s: true });
  await waitFor("all candidate replies", () => alice.c.all("exchangeCandidateR").length >= 2, 5000);
  assert.deepEqual(alice.errors, []);

  const message = await alice.c.request("sendMessage", { to: bobId, message: "hi" });
  assert.deepEqual(message, { a: "sendMessageR", s: false, e: 1298 });
  // A socketId that was never in the room is still an error.
  const never = await alice.c.request("exchangeCandidate", {
    to: "0123456789ABCDEF0123456789ABCDEF",
    candidate: { candidate: "candidate:1 1 udp 1 127.0.0.1 9 typ host", sdpMid: "0" },
  });
  assert.equal(never.e, 1298);
});

test("a re-join after a network drop replaces the ghost at once: eventLeave first, no offer or orientation for itself", async () => {
  const room = "tribe-rejoin";
  const alice = await tribe("alice3");
  const bob = await tribe("bob3");
  await alice.join(room, { form: "android" });
  await bob.join(room, { form: "android" });
  await alice.publish();
  await bob.publish();
  await waitFor("bob receives alice's video", () => bob.videoFrom(alice.socketId) >= 10, 20_000);

  const ghost = bob.socketId;
  bob.c.drop(); // no close frame: the server keeps bob for the reconnect grace
  const bobAgain = await tribe("bob3");
  const reply = await bobAgain.join(room, { form: "android" });
  assert.equal(reply.s, true);
  assert.equal(reply.d?.roomSize, 2, "the ghost is not counted");
  assert.deepEqual(reply.d?.sessions, [{ socketId: alice.socketId, userId: "alice3" }]);

  // Alice sees the ghost leave before the new bob's orientation.
  const leave = await alice.c.next("eventLeave", (m) => m.d?.socketId === ghost, 5000);
  assert.equal(leave.d?.roomSize, 1);
  const leaveAt = alice.c.received.indexOf(leave);
  const newBobAt = alice.c.received.findIndex(
    (m) => m.a === "eventOrientationChange" && fromId(m) === bobAgain.socketId,
  );
  assert.ok(newBobAt > leaveAt, "eventLeave of the ghost comes before the new member's announcement");
  assert.ok(server.published.some((e) => e.key === "room.leave" && e.payload.socketId === ghost));

  await bobAgain.publish();
  await waitFor("alice's video reaches the new bob", () => bobAgain.videoFrom(alice.socketId) >= 10, 20_000);
  await waitFor("the new bob's video reaches alice", () => alice.videoFrom(bobAgain.socketId) >= 10, 20_000);
  assert.ok(!bobAgain.c.received.some((m) => fromId(m) === ghost), "nothing about its own ghost");
  assert.deepEqual(bobAgain.errors, []);
  assert.deepEqual(alice.errors, []);
  assert.equal(server.rooms.room(room)?.size, 2);
});

test("two live sockets of one user: the newer join wins, the older socket closes with 4001", async () => {
  const room = "same-user";
  const first = await TestClient.connect(server.url);
  closers.push(() => first.close());
  const other = await TestClient.connect(server.url);
  closers.push(() => other.close());
  const firstJoin = await first.join(room, "dana");
  await other.join(room, "erin");
  const second = await TestClient.connect(server.url);
  closers.push(() => second.close());
  const secondJoin = await second.join(room, "dana");
  assert.equal(secondJoin.d?.roomSize, 2);
  const closed = await first.waitClosed();
  assert.equal(closed.code, 4001);
  const leave = await other.next("eventLeave", (m) => m.d?.socketId === firstJoin.d?.socketId);
  assert.equal(leave.d?.userId, "dana");
  // The replaced socketId cannot be resumed.
  const third = await TestClient.connect(server.url);
  closers.push(() => third.close());
  const resumed = await third.request("reconnect", { socketId: firstJoin.d?.socketId, bearer: "dana" });
  assert.equal(resumed.e, 1317);
});

test("replies leave in request order, schema and rate-limit errors included", async () => {
  const c = await TestClient.connect(server.url);
  closers.push(() => c.close());
  await c.join("order-room", "olga");
  // A publish offer takes the media plane a while; the malformed message after it must not overtake it.
  const bad = { to: "publisher", sdp: { type: "offer", sdp: "v=0\r\nnot an sdp\r\n" } };
  c.send("exchangeSdp", bad);
  c.send("orientationChange", { orientation: "sideways" });
  c.send("nosuchAction", {});
  c.send("orientationChange", { orientation: 90, camera: "back" });
  await waitFor(
    "four replies",
    () => c.received.filter((m) => m.a.endsWith("R") && m.a !== "joinR").length >= 4,
  );
  const replies = c.received.filter((m) => m.a.endsWith("R") && m.a !== "joinR");
  assert.deepEqual(
    replies.map((m) => [m.a, m.e ?? "ok"]),
    [
      ["exchangeSdpR", 1320],
      ["orientationChangeR", 1282],
      ["nosuchActionR", 1296],
      ["orientationChangeR", "ok"],
    ],
  );
});

test("a Plan B offer (2017 libwebrtc: mids audio/video, a=ssrc lines, no a=msid) is answered, its candidates accepted", async () => {
  const c = await TestClient.connect(server.url);
  closers.push(() => c.close());
  await c.join("planb-room", "pablo", { capabilities: [] });
  const reply = await c.request(
    "exchangeSdp",
    { to: "publisher", sdp: { type: "offer", sdp: PLAN_B_OFFER } },
    10_000,
  );
  assert.deepEqual(reply, { a: "exchangeSdpR", s: true });
  const answer = c.all("eventExchangeSdp").at(-1)?.d?.sdp as { type: string; sdp: string };
  assert.equal(answer.type, "answer");
  assert.match(answer.sdp, /^a=mid:audio\r$/m);
  assert.match(answer.sdp, /^a=mid:video\r$/m);
  assert.match(answer.sdp, /^a=rtpmap:\d+ H264\/90000/m, "H.264 preferred, as the original did");
  const cand = await c.request("exchangeCandidate", {
    to: "publisher",
    candidate: {
      candidate: "candidate:842163049 1 udp 1677729535 127.0.0.1 40000 typ host generation 0",
      sdpMid: "audio",
      sdpMLineIndex: 0,
    },
  });
  assert.deepEqual(cand, { a: "exchangeCandidateR", s: true });
});

test("a simulcast offer keeps VP8 even when H.264 is offered first (layers are VP8)", async () => {
  const c = await TestClient.connect(server.url);
  closers.push(() => c.close());
  await c.join("simulcast-codec-room", "simone");
  const simulcast = PLAN_B_OFFER.replace(
    "a=mid:video\r\n",
    "a=mid:video\r\na=rid:h send\r\na=rid:l send\r\na=simulcast:send h;l\r\n",
  );
  const reply = await c.request(
    "exchangeSdp",
    { to: "publisher", sdp: { type: "offer", sdp: simulcast } },
    10_000,
  );
  assert.deepEqual(reply, { a: "exchangeSdpR", s: true });
  const answer = c.all("eventExchangeSdp").at(-1)?.d?.sdp as { sdp: string };
  const video = answer.sdp.slice(answer.sdp.indexOf("m=video"));
  assert.match(video, /^a=rtpmap:\d+ VP8\/90000/m);
  assert.doesNotMatch(video, /^a=rtpmap:\d+ H264\/90000/m);
});

/** What a 2017-era Android libwebrtc (Plan B) offered: H.264 first, VP8, Opus; tracks by a=ssrc. */
const PLAN_B_OFFER = [
  "v=0",
  "o=- 6183406357541539183 2 IN IP4 127.0.0.1",
  "s=-",
  "t=0 0",
  "a=group:BUNDLE audio video",
  "a=msid-semantic: WMS ARDAMS",
  "m=audio 9 UDP/TLS/RTP/SAVPF 111 103 9 0 8 126",
  "c=IN IP4 0.0.0.0",
  "a=rtcp:9 IN IP4 0.0.0.0",
  "a=ice-ufrag:Ab3d",
  "a=ice-pwd:0123456789abcdefghijklmn",
  "a=ice-options:trickle renomination",
  "a=fingerprint:sha-256 4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AB:4F:5C:9A:1B:48:1C:9C:B3:8F:4F:39:5E",
  "a=setup:actpass",
  "a=mid:audio",
  "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level",
  "a=sendrecv",
  "a=rtcp-mux",
  "a=rtpmap:111 opus/48000/2",
  "a=rtcp-fb:111 transport-cc",
  "a=fmtp:111 minptime=10;useinbandfec=1",
  "a=rtpmap:103 ISAC/16000",
  "a=rtpmap:9 G722/8000",
  "a=rtpmap:0 PCMU/8000",
  "a=rtpmap:8 PCMA/8000",
  "a=rtpmap:126 telephone-event/8000",
  "a=ssrc:1001 cname:tribeAndroidCname",
  "a=ssrc:1001 msid:ARDAMS ARDAMSa0",
  "a=ssrc:1001 mslabel:ARDAMS",
  "a=ssrc:1001 label:ARDAMSa0",
  "m=video 9 UDP/TLS/RTP/SAVPF 100 96 97 98",
  "c=IN IP4 0.0.0.0",
  "a=rtcp:9 IN IP4 0.0.0.0",
  "a=ice-ufrag:Ab3d",
  "a=ice-pwd:0123456789abcdefghijklmn",
  "a=ice-options:trickle renomination",
  "a=fingerprint:sha-256 4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AB:4F:5C:9A:1B:48:1C:9C:B3:8F:4F:39:5E",
  "a=setup:actpass",
  "a=mid:video",
  "a=extmap:2 urn:ietf:params:rtp-hdrext:toffset",
  "a=extmap:3 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
  "a=sendrecv",
  "a=rtcp-mux",
  "a=rtcp-rsize",
  "a=rtpmap:100 H264/90000",
  "a=rtcp-fb:100 ccm fir",
  "a=rtcp-fb:100 nack",
  "a=rtcp-fb:100 nack pli",
  "a=rtcp-fb:100 goog-remb",
  "a=fmtp:100 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
  "a=rtpmap:96 VP8/90000",
  "a=rtcp-fb:96 ccm fir",
  "a=rtcp-fb:96 nack",
  "a=rtcp-fb:96 nack pli",
  "a=rtcp-fb:96 goog-remb",
  "a=rtpmap:97 rtx/90000",
  "a=fmtp:97 apt=96",
  "a=rtpmap:98 rtx/90000",
  "a=fmtp:98 apt=100",
  "a=ssrc-group:FID 2002 2003",
  "a=ssrc:2002 cname:tribeAndroidCname",
  "a=ssrc:2002 msid:ARDAMS ARDAMSv0",
  "a=ssrc:2002 mslabel:ARDAMS",
  "a=ssrc:2002 label:ARDAMSv0",
  "a=ssrc:2003 cname:tribeAndroidCname",
  "a=ssrc:2003 msid:ARDAMS ARDAMSv0",
  "",
].join("\r\n");
