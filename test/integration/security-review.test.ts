/**
 * Security review, one test per point not already covered by auth.test.ts (tokens, room-bound
 * tokens, reconnect bound to the user), signaling-bad-input.test.ts (flood -> 1322 then 1008,
 * oversize -> 1009, binary -> 1003) and http.test.ts (OPS_TOKEN, Origin 403, /state without
 * JWT_SECRET). See SECURITY.md.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { SignJWT } from "jose";
import { startTestServer } from "../helpers/server.ts";
import { waitFor } from "../helpers/wait-for.ts";
import { TestClient } from "../helpers/ws-client.ts";

async function refusedWith(url: string, options: Record<string, unknown> = {}): Promise<string> {
  try {
    const c = await TestClient.connect(url, options);
    c.close();
    return "accepted";
  } catch (err) {
    return (err as Error).message;
  }
}

test("per-IP connection limit: the next upgrade gets HTTP 429, a spoofed X-Forwarded-For does not help, a freed slot is reusable", async () => {
  const server = await startTestServer({ ROOM_MODE: "p2p", MAX_CONNECTIONS_PER_IP: "3" });
  const open: TestClient[] = [];
  try {
    for (let i = 0; i < 3; i++) open.push(await TestClient.connect(server.url));
    assert.equal(await refusedWith(server.url), "HTTP 429");
    // 127.0.0.1 is not a trusted proxy: its forwarding headers are ignored.
    const spoof = { headers: { "x-forwarded-for": "203.0.113.9", "x-real-ip": "203.0.113.9" } };
    assert.equal(await refusedWith(server.url, spoof), "HTTP 429");
    const rejected = (await server.metrics.wsRejected.get()).values.find(
      (v) => v.labels.reason === "per-ip-limit",
    );
    assert.equal(rejected?.value, 2);
    open.pop()?.close();
    await waitFor("slot freed", () => server.hub.size === 2);
    open.push(await TestClient.connect(server.url));
  } finally {
    for (const c of open) c.close();
    await server.close();
  }
});

test("per-IP limit behind a trusted proxy counts the forwarded client address", async () => {
  const server = await startTestServer({
    ROOM_MODE: "p2p",
    MAX_CONNECTIONS_PER_IP: "1",
    TRUSTED_PROXIES: "127.0.0.1",
  });
  const open: TestClient[] = [];
  try {
    const as = (ip: string) => ({ headers: { "x-forwarded-for": ip } });
    open.push(await TestClient.connect(server.url, as("198.51.100.1")));
    open.push(await TestClient.connect(server.url, as("198.51.100.2")));
    assert.equal(await refusedWith(server.url, as("198.51.100.1")), "HTTP 429");
  } finally {
    for (const c of open) c.close();
    await server.close();
  }
});

test("rate limits are per socket: a flooding socket is cut (1008) while another socket from the same IP is served", async () => {
  const server = await startTestServer({
    ROOM_MODE: "p2p",
    RATE_LIMIT_PER_SECOND: "10",
    RATE_LIMIT_BURST: "10",
    RATE_LIMIT_STRIKES: "3",
  });
  try {
    const flooder = await TestClient.connect(server.url);
    const calm = await TestClient.connect(server.url);
    await flooder.join("rl", "flooder");
    const calmId = String((await calm.join("rl", "calm")).d?.socketId);
    for (let i = 0; i < 50; i++) flooder.send("sendMessage", { to: calmId, message: i });
    assert.equal((await flooder.waitClosed()).code, 1008);
    // The flooder got at most its burst through; the rest was refused with 1322.
    await new Promise((r) => setTimeout(r, 100));
    assert.ok(calm.all("eventMessage").length <= 11, `${calm.all("eventMessage").length} relayed`);
    assert.ok(flooder.all("generalR").every((m) => m.e === 1322));
    // A client within the sustained rate is never refused.
    for (let i = 0; i < 12; i++) {
      assert.equal((await calm.request("orientationChange", { orientation: 0, camera: "front" })).s, true);
      await new Promise((r) => setTimeout(r, 110));
    }
    calm.close();
  } finally {
    await server.close();
  }
});

test("Origin allowlist: a missing Origin is refused when the list is set; any Origin is accepted when it is empty", async () => {
  const strict = await startTestServer({
    ROOM_MODE: "p2p",
    ALLOWED_ORIGINS: "https://app.example, https://admin.example",
  });
  try {
    assert.equal(await refusedWith(strict.url), "HTTP 403");
    assert.equal(await refusedWith(strict.url, { origin: "https://app.example.evil" }), "HTTP 403");
    assert.equal(await refusedWith(strict.url, { origin: "http://app.example" }), "HTTP 403");
    assert.equal(await refusedWith(strict.url, { origin: "https://admin.example" }), "accepted");
  } finally {
    await strict.close();
  }
  const open = await startTestServer({ ROOM_MODE: "p2p" });
  try {
    assert.equal(await refusedWith(open.url, { origin: "https://anything.example" }), "accepted");
  } finally {
    await open.close();
  }
});

test("operational endpoints: wrong or partial tokens get 401, the token is not accepted in the query, the original's /globals and /debug/pprof do not exist", async () => {
  const server = await startTestServer({ ROOM_MODE: "p2p", OPS_TOKEN: "ops-token-0123456789" });
  try {
    const status = async (path: string, headers: Record<string, string> = {}) =>
      (await fetch(`${server.httpUrl}${path}`, { headers })).status;
    for (const path of ["/state", "/memstats", "/metrics"]) {
      assert.equal(await status(path, { authorization: "Bearer ops-token-012345678" }), 401, path);
      assert.equal(await status(path, { authorization: "Bearer ops-token-01234567890" }), 401, path);
      assert.equal(await status(path, { authorization: "ops-token-0123456789" }), 401, path);
      assert.equal(await status(`${path}?token=ops-token-0123456789`), 401, path);
    }
    for (const path of ["/globals", "/debug/pprof", "/debug/pprof/heap", "/config", "/env"]) {
      assert.equal(await status(path, { authorization: "Bearer ops-token-0123456789" }), 404, path);
    }
  } finally {
    await server.close();
  }
});

test("messages never cross rooms: relays to another room's socketId get 1298 and room events stay in their room", async () => {
  const server = await startTestServer({ ROOM_MODE: "p2p" });
  const clients: TestClient[] = [];
  const connect = async () => {
    const c = await TestClient.connect(server.url);
    clients.push(c);
    return c;
  };
  try {
    const a1 = await connect();
    const a2 = await connect();
    const b1 = await connect();
    await a1.join("room-a", "a1");
    await a2.join("room-a", "a2");
    const b1Id = String((await b1.join("room-b", "b1")).d?.socketId);
    const sdp = { type: "offer", sdp: "v=0\r\n" };
    const candidate = {
      candidate: "candidate:1 1 udp 1 127.0.0.1 9 typ host",
      sdpMid: "0",
      sdpMLineIndex: 0,
    };
    assert.equal((await a1.request("sendMessage", { to: b1Id, message: "hi" })).e, 1298);
    assert.equal((await a1.request("exchangeSdp", { to: b1Id, sdp })).e, 1298);
    assert.equal((await a1.request("exchangeCandidate", { to: b1Id, candidate })).e, 1298);
    await a1.request("orientationChange", { orientation: 180, camera: "back" });
    // A reconnect cannot move a socket into another room's membership either (bound to the user).
    const thief = await connect();
    assert.equal((await thief.request("reconnect", { socketId: b1Id, bearer: "a1" })).e, 1317);
    a2.close();
    await waitFor("a2 left", () => server.rooms.room("room-a")?.size === 1);
    const b2 = await connect();
    await b2.join("room-b", "b2");
    await new Promise((r) => setTimeout(r, 100));
    const seenByB1 = b1.received.map((m) => m.a);
    assert.deepEqual(
      seenByB1.filter((a) => a !== "joinR"),
      ["eventUserMediaConfiguration", "eventOrientationChange"],
      "b1 saw only b2's arrival",
    );
    const fromUser = (m: { d?: Record<string, unknown> }) =>
      String((m.d?.from as { userId?: string } | undefined)?.userId ?? m.d?.userId ?? "");
    for (const m of b1.received) assert.ok(!["a1", "a2"].includes(fromUser(m)), JSON.stringify(m));
    for (const m of a1.received) assert.ok(!["b1", "b2"].includes(fromUser(m)), JSON.stringify(m));
    assert.ok(!b1.received.some((m) => m.a === "eventMessage" || m.a === "eventLeave"));
  } finally {
    for (const c of clients) c.close();
    await server.close();
  }
});

test("socketIds are unguessable: 128 random bits as 32 upper-case hex characters, all distinct, bits balanced", async () => {
  const server = await startTestServer({
    ROOM_MODE: "p2p",
    ROOM_MAX_MEMBERS: "1000",
    MAX_CONNECTIONS_PER_IP: "1000",
  });
  const clients: TestClient[] = [];
  try {
    const ids: string[] = [];
    for (let batch = 0; batch < 4; batch++) {
      const joined = await Promise.all(
        Array.from({ length: 50 }, async (_, i) => {
          const c = await TestClient.connect(server.url);
          clients.push(c);
          return String((await c.join(`ids-${batch}`, `u${batch}-${i}`)).d?.socketId);
        }),
      );
      ids.push(...joined);
    }
    for (const id of ids) assert.match(id, /^[0-9A-F]{32}$/);
    assert.equal(new Set(ids).size, ids.length);
    let ones = 0;
    for (const id of ids)
      for (const ch of id) ones += (Number.parseInt(ch, 16).toString(2).match(/1/g) ?? []).length;
    const ratio = ones / (ids.length * 128);
    assert.ok(ratio > 0.48 && ratio < 0.52, `bit ratio ${ratio}`);
    // Not a counter or a timestamp: sorted in issue order, neighbours share no long prefix.
    const shared = ids.slice(1).filter((id, i) => id.slice(0, 4) === ids[i]?.slice(0, 4)).length;
    assert.ok(shared <= 2, `${shared} consecutive ids share a 16-bit prefix`);
  } finally {
    for (const c of clients) c.close();
    await server.close();
  }
});

test("tokens: a wrong issuer is refused when JWT_ISSUER is set; a token valid for the issuer is accepted", async () => {
  const secret = "issuer-test-secret-of-sufficient-length-0123";
  const server = await startTestServer({
    ROOM_MODE: "p2p",
    JWT_SECRET: secret,
    JWT_ISSUER: "https://auth.example",
  });
  const key = new TextEncoder().encode(secret);
  const token = (iss?: string) => {
    const jwt = new SignJWT({ userId: "iss-user" })
      .setProtectedHeader({ alg: "HS256" })
      .setExpirationTime("5m");
    return (iss ? jwt.setIssuer(iss) : jwt).sign(key);
  };
  try {
    for (const [iss, ok] of [
      ["https://evil.example", false],
      [undefined, false],
      ["https://auth.example", true],
    ] as const) {
      const c = await TestClient.connect(server.url);
      const r = await c.request("join", { roomId: "iss", bearer: await token(iss) });
      assert.equal(r.s === true, ok, `iss ${iss}: ${JSON.stringify(r)}`);
      if (!ok) assert.equal(r.e, 1286);
      c.close();
    }
  } finally {
    await server.close();
  }
});
