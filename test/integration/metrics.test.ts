import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { SignJWT } from "jose";
import { openTestQueue, type TestQueue, testExchangeName } from "../helpers/events-broker.ts";
import { parsePrometheusText, type Sample, type Scrape } from "../helpers/prometheus-text.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { waitFor } from "../helpers/wait-for.ts";
import { TestListener, TestPublisher } from "../helpers/werift-peers.ts";
import { TestClient, type WireMessage } from "../helpers/ws-client.ts";

const SECRET = "metrics-test-secret-0123456789-abcdef";
const RABBITMQ_URL = process.env.RABBITMQ_TEST_URL ?? "amqp://guest:guest@127.0.0.1:5672";
const OPS_TOKEN = "metrics-ops-token";

let server: TestServer;
let queue: TestQueue;
const clients: TestClient[] = [];

before(async () => {
  const exchange = testExchangeName();
  queue = await openTestQueue(exchange, ["#"]);
  server = await startTestServer({
    ROOM_MODE: "p2p",
    JWT_SECRET: SECRET,
    OPS_TOKEN,
    RABBITMQ_URL,
    RABBITMQ_EXCHANGE: exchange,
    RECONNECT_GRACE_MS: "5000",
    HEARTBEAT_INTERVAL_MS: "100",
    HEARTBEAT_TIMEOUT_MS: "400",
  });
  await waitFor("event sink ready", () => ready());
});
after(async () => {
  for (const c of clients) c.close();
  await server.close();
  await queue.close();
});

async function ready(): Promise<boolean> {
  return (await fetch(`${server.httpUrl}/readyz`)).status === 200;
}

function token(userId: string): Promise<string> {
  return new SignJWT({ userId })
    .setProtectedHeader({ alg: "HS256" })
    .setIssuedAt()
    .setExpirationTime("5m")
    .sign(new TextEncoder().encode(SECRET));
}

async function connect(options = {}): Promise<TestClient> {
  const c = await TestClient.connect(server.url, options);
  clients.push(c);
  return c;
}

async function scrape(): Promise<Scrape> {
  const res = await fetch(`${server.httpUrl}/metrics`, { headers: { authorization: `Bearer ${OPS_TOKEN}` } });
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
  return parsePrometheusText(await res.text());
}

/** Sum of the samples of `name` whose labels include `labels`. */
function value(s: Scrape, name: string, labels: Record<string, string> = {}): number {
  return s.samples
    .filter((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v))
    .reduce((sum, x) => sum + x.value, 0);
}

/** Every metric family the operations issue asks for, with its Prometheus type. */
const REQUIRED: Record<string, "counter" | "gauge" | "histogram"> = {
  webrtcsignaling_ws_connections: "gauge",
  webrtcsignaling_ws_connections_opened_total: "counter",
  webrtcsignaling_ws_closed_total: "counter",
  webrtcsignaling_ws_upgrades_rejected_total: "counter",
  webrtcsignaling_rooms: "gauge",
  webrtcsignaling_members: "gauge",
  webrtcsignaling_messages_received_total: "counter",
  webrtcsignaling_messages_sent_total: "counter",
  webrtcsignaling_errors_total: "counter",
  webrtcsignaling_auth_failures_total: "counter",
  webrtcsignaling_reconnects_total: "counter",
  webrtcsignaling_heartbeat_timeouts_total: "counter",
  webrtcsignaling_join_duration_seconds: "histogram",
  webrtcsignaling_media_peer_connections: "gauge",
  webrtcsignaling_media_rtp_packets_received_total: "counter",
  webrtcsignaling_media_rtp_received_bytes_total: "counter",
  webrtcsignaling_media_rtp_packets_sent_total: "counter",
  webrtcsignaling_media_rtp_sent_bytes_total: "counter",
  webrtcsignaling_media_nacks_total: "counter",
  webrtcsignaling_media_plis_total: "counter",
  webrtcsignaling_media_forwarded_streams: "gauge",
  webrtcsignaling_media_freezes_total: "counter",
  webrtcsignaling_events_published_total: "counter",
  webrtcsignaling_events_confirmed_total: "counter",
  webrtcsignaling_events_dropped_total: "counter",
  webrtcsignaling_events_outbox: "gauge",
  webrtcsignaling_event_bus_connected: "gauge",
};

test("every metric of the issue is exposed with its type and follows Prometheus naming", async () => {
  const s = await scrape();
  for (const [name, type] of Object.entries(REQUIRED)) {
    assert.equal(s.types.get(name), type, `${name} has TYPE ${type}`);
    assert.ok(s.help.get(name), `${name} has HELP`);
  }
  for (const [name, type] of s.types) {
    assert.match(name, /^[a-z_][a-z0-9_]*$/, name);
    if (type === "counter") assert.match(name, /_total$/, `counter ${name} ends in _total`);
    else assert.doesNotMatch(name, /_total$/, `${type} ${name} must not end in _total`);
    assert.doesNotMatch(name, /_(ms|milliseconds|kb|mb)(_|$)/, `${name} uses base units`);
  }
});

test("counters and gauges move with real traffic; no label carries a socketId, roomId or userId", async () => {
  const before = await scrape();

  // Two members join the same room with real JWTs.
  const alice = await connect();
  const a = await alice.join("metrics-room", await token("alice-metrics"));
  const bob = await connect();
  const b = await bob.join("metrics-room", await token("bob-metrics"));
  const aliceId = String(a.d?.socketId);
  const bobId = String(b.d?.socketId);
  // Messages by action, and an error reply by code.
  await alice.request("sendMessage", { to: bobId, message: "hi" });
  await bob.next("eventMessage");
  const noTarget = await alice.request("sendMessage", { to: "no-such-socket", message: 1 });
  assert.equal(noTarget.e, 1298);
  alice.send("noSuchAction", {});
  await alice.next("noSuchActionR");
  // An auth failure.
  const mallory = await connect();
  const refused = await mallory.request("join", { roomId: "metrics-room", bearer: "not-a-jwt" });
  assert.equal(refused.e, 1286);
  // A reconnect: alice drops, comes back on a new socket.
  alice.drop();
  await waitFor("alice detached", () => server.rooms.member(aliceId)?.connected === false);
  const again = await connect();
  const resumed = await again.request("reconnect", {
    socketId: aliceId,
    bearer: await token("alice-metrics"),
  });
  assert.equal(resumed.s, true);
  // A heartbeat timeout: a client that never answers pings.
  const silent = await connect({ autoPong: false });
  await silent.waitClosed(3000);
  // A refused upgrade (wrong path).
  await assert.rejects(TestClient.connect(server.url.replace("/api", "/nope")), /HTTP 404/);
  // room.join events are confirmed by the broker.
  await waitFor("2 room.join events at the broker", () =>
    queue.received.filter((e) => e.routingKey === "room.join").length >= 2 ? true : undefined,
  );

  const after = await waitFor("metrics settled", async () => {
    const s = await scrape();
    return value(s, "webrtcsignaling_heartbeat_timeouts_total") > 0 &&
      value(s, "webrtcsignaling_events_confirmed_total") >= 2
      ? s
      : undefined;
  });
  const delta = (name: string, labels: Record<string, string> = {}) =>
    value(after, name, labels) - value(before, name, labels);

  assert.ok(delta("webrtcsignaling_ws_connections_opened_total") >= 5);
  assert.ok(value(after, "webrtcsignaling_ws_connections") >= 3, "bob, mallory and the resumed alice");
  assert.equal(value(after, "webrtcsignaling_rooms"), 1);
  assert.equal(value(after, "webrtcsignaling_members"), 2);
  assert.equal(delta("webrtcsignaling_messages_received_total", { action: "join" }), 3);
  assert.equal(delta("webrtcsignaling_messages_received_total", { action: "sendMessage" }), 2);
  assert.equal(delta("webrtcsignaling_messages_received_total", { action: "reconnect" }), 1);
  assert.ok(delta("webrtcsignaling_messages_sent_total") >= 6);
  assert.equal(delta("webrtcsignaling_errors_total", { code: "1298" }), 1);
  assert.equal(delta("webrtcsignaling_errors_total", { code: "1296" }), 1);
  assert.equal(delta("webrtcsignaling_errors_total", { code: "1286" }), 1);
  assert.equal(delta("webrtcsignaling_auth_failures_total"), 1);
  assert.equal(delta("webrtcsignaling_reconnects_total", { result: "resumed" }), 1);
  assert.equal(delta("webrtcsignaling_heartbeat_timeouts_total"), 1);
  assert.equal(delta("webrtcsignaling_ws_closed_total", { reason: "heartbeat-timeout" }), 1);
  assert.ok(delta("webrtcsignaling_ws_closed_total", { reason: "dropped" }) >= 1);
  assert.equal(delta("webrtcsignaling_ws_upgrades_rejected_total"), 1);
  assert.equal(delta("webrtcsignaling_join_duration_seconds_count"), 2);
  assert.ok(delta("webrtcsignaling_join_duration_seconds_sum") > 0);
  assert.ok(delta("webrtcsignaling_events_published_total", { key: "room.join" }) >= 2);
  assert.ok(delta("webrtcsignaling_events_confirmed_total") >= 2);
  assert.equal(value(after, "webrtcsignaling_event_bus_connected"), 1);

  // Bounded labels only: no identifier of a member, socket or room, in names or values.
  const identifiers = [aliceId, bobId, "metrics-room", "alice-metrics", "bob-metrics", "mallory"];
  const forbiddenLabels = /^(socket_?id|room_?id|user_?id|ip|peer_?id|session_?id)$/i;
  for (const sample of after.samples) assertBoundedLabels(sample, identifiers, forbiddenLabels);
  for (const c of [bob, mallory, again]) c.close();
});

test("every exposed label has a small, closed set of values", async () => {
  const s = await scrape();
  const valuesPerLabel = new Map<string, Set<string>>();
  for (const sample of s.samples) {
    for (const [k, v] of Object.entries(sample.labels)) {
      const key = `${sample.name}:${k}`;
      const set = valuesPerLabel.get(key) ?? new Set<string>();
      set.add(v);
      valuesPerLabel.set(key, set);
    }
  }
  for (const [key, set] of valuesPerLabel) {
    assert.ok(set.size <= 32, `${key} has ${set.size} distinct values`);
  }
});

function assertBoundedLabels(sample: Sample, identifiers: readonly string[], forbidden: RegExp): void {
  for (const [k, v] of Object.entries(sample.labels)) {
    assert.doesNotMatch(k, forbidden, `${sample.name} has label ${k}`);
    for (const id of identifiers) assert.ok(!v.includes(id), `${sample.name}{${k}="${v}"} carries ${id}`);
    assert.doesNotMatch(v, /^[0-9a-f]{16,}$/i, `${sample.name}{${k}="${v}"} looks like an id`);
  }
}

test("media metrics move with real media through an MCU room, and return to zero after", async () => {
  const mcu = await startTestServer({ ROOM_MODE: "mcu", PUBLIC_IPV4: "127.0.0.1" });
  const closers: Array<() => unknown> = [];
  const mcuScrape = async () => parsePrometheusText(await (await fetch(`${mcu.httpUrl}/metrics`)).text());
  try {
    const connectMember = async (user: string) => {
      const c = await TestClient.connect(mcu.url);
      closers.push(() => c.close());
      const r = await c.join("metrics-mcu", user);
      return { c, id: String(r.d?.socketId) };
    };
    const alice = await connectMember("alice");
    const bob = await connectMember("bob");
    const publisher = new TestPublisher();
    closers.push(() => publisher.close());
    forwardCandidates(alice.c, "publisher", publisher.pc);
    const reply = await alice.c.request(
      "exchangeSdp",
      { to: "publisher", sdp: await publisher.offer() },
      10_000,
    );
    assert.equal(reply.s, true);
    const answer = await alice.c.next("eventExchangeSdp", (m) => fromOf(m) === "publisher", 10_000);
    await publisher.pc.setRemoteDescription(answer.d?.sdp as { type: "answer"; sdp: string });
    publisher.start();
    const offer = await bob.c.next("eventExchangeSdp", (m) => fromOf(m) === alice.id, 10_000);
    const listener = new TestListener();
    closers.push(() => listener.pc.close());
    forwardCandidates(bob.c, alice.id, listener.pc);
    const bobAnswer = await listener.answer(offer.d?.sdp as { type: "offer"; sdp: string });
    assert.equal((await bob.c.request("exchangeSdp", { to: alice.id, sdp: bobAnswer }, 10_000)).s, true);
    await waitFor("media at bob", () => listener.video.length > 20 && listener.audio.length > 20, 15_000);

    const s = await mcuScrape();
    for (const kind of ["audio", "video"]) {
      assert.ok(value(s, "webrtcsignaling_media_rtp_packets_received_total", { kind }) > 20, kind);
      assert.ok(value(s, "webrtcsignaling_media_rtp_received_bytes_total", { kind }) > 0, kind);
      assert.ok(value(s, "webrtcsignaling_media_rtp_packets_sent_total", { kind }) > 20, kind);
      assert.ok(value(s, "webrtcsignaling_media_rtp_sent_bytes_total", { kind }) > 0, kind);
    }
    assert.equal(value(s, "webrtcsignaling_media_peer_connections", { state: "connected" }), 2);
    assert.equal(value(s, "webrtcsignaling_media_forwarded_streams"), 1);
    assert.ok(value(s, "webrtcsignaling_media_plis_total") >= 1, "a keyframe asked for the new listener");
    for (const sample of s.samples) assertBoundedLabels(sample, [alice.id, bob.id, "metrics-mcu"], /id$/i);

    alice.c.close(1000);
    await bob.c.next("eventLeave", () => true, 5000);
    await waitFor("media gauges back to zero", async () => {
      const after = await mcuScrape();
      return (
        value(after, "webrtcsignaling_media_peer_connections") === 0 &&
        value(after, "webrtcsignaling_media_forwarded_streams") === 0
      );
    });
  } finally {
    for (const close of closers.reverse()) await close();
    await mcu.close();
  }
});

function fromOf(m: WireMessage): string {
  return String((m.d?.from as { socketId?: string } | undefined)?.socketId);
}

/** Applies the server's candidates for `from` to `pc` as they come. */
function forwardCandidates(c: TestClient, from: string, pc: TestPublisher["pc"]): void {
  c.ws.on("message", (data) => {
    const m = JSON.parse(data.toString()) as WireMessage;
    if (m.a !== "eventExchangeCandidate" || fromOf(m) !== from) return;
    void pc.addIceCandidate(m.d?.candidate as { candidate: string }).catch(() => {});
  });
}
