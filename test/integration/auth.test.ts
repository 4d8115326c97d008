import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { exportSPKI, generateKeyPair, SignJWT } from "jose";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { TestClient } from "../helpers/ws-client.ts";

const SECRET = "test-secret-that-is-long-enough-0123456789";
const key = new TextEncoder().encode(SECRET);
let server: TestServer;
const clients: TestClient[] = [];
let rsa: Awaited<ReturnType<typeof generateKeyPair>>;

before(async () => {
  rsa = await generateKeyPair("RS256", { extractable: true });
  const pemFile = join(tmpdir(), `jwt-pub-${process.pid}.pem`);
  writeFileSync(pemFile, await exportSPKI(rsa.publicKey));
  server = await startTestServer({
    ROOM_MODE: "p2p",
    JWT_SECRET: SECRET,
    JWT_PUBLIC_KEY_FILE: pemFile,
    JWT_AUDIENCE: "webrtc",
  });
});
after(async () => {
  for (const c of clients) c.close();
  await server.close();
});

function hs256(
  claims: Record<string, unknown>,
  opts: { exp?: string | number; nbf?: string | number; aud?: string } = {},
) {
  const jwt = new SignJWT(claims)
    .setProtectedHeader({ alg: "HS256" })
    .setIssuedAt()
    .setAudience(opts.aud ?? "webrtc");
  if (opts.exp !== undefined) jwt.setExpirationTime(opts.exp);
  if (opts.nbf !== undefined) jwt.setNotBefore(opts.nbf);
  return jwt.sign(key);
}

async function joinWith(bearer: string, roomId = "auth-room") {
  const c = await TestClient.connect(server.url);
  clients.push(c);
  return c.request("join", { roomId, bearer });
}

test("a valid HS256 token gives the userId of its claim", async () => {
  const r = await joinWith(await hs256({ userId: "u-42" }, { exp: "1h" }));
  assert.equal(r.s, true);
  assert.equal(r.d?.userId, "u-42");
});

test("an RS256 token verified with the configured public key", async () => {
  const token = await new SignJWT({ userId: "rsa-user" })
    .setProtectedHeader({ alg: "RS256" })
    .setAudience("webrtc")
    .setExpirationTime("5m")
    .sign(rsa.privateKey);
  const r = await joinWith(token);
  assert.equal(r.d?.userId, "rsa-user");
});

test("bad tokens get 1286: expired, not yet valid, wrong signature, alg none, no userId, wrong audience, garbage", async () => {
  const now = Math.floor(Date.now() / 1000);
  const wrongKey = await new SignJWT({ userId: "x" })
    .setProtectedHeader({ alg: "HS256" })
    .setAudience("webrtc")
    .sign(new TextEncoder().encode("another-secret-of-some-length-000000"));
  const none = `${Buffer.from(JSON.stringify({ alg: "none", typ: "JWT" })).toString("base64url")}.${Buffer.from(JSON.stringify({ userId: "x", aud: "webrtc" })).toString("base64url")}.`;
  const bad = [
    await hs256({ userId: "x" }, { exp: now - 60 }),
    await hs256({ userId: "x" }, { nbf: now + 3600 }),
    wrongKey,
    none,
    await hs256({ sub: "x" }),
    await hs256({ userId: "x" }, { aud: "other" }),
    "not-a-token",
  ];
  for (const [i, token] of bad.entries()) {
    assert.deepEqual(await joinWith(token), { a: "joinR", s: false, e: 1286 }, `token #${i}`);
  }
  const failures = (await server.metrics.authFailures.get()).values[0]?.value ?? 0;
  assert.ok(failures >= bad.length);
});

test("a token naming a room cannot join another room", async () => {
  const token = await hs256({ userId: "roomy", roomId: "room-a" });
  assert.equal((await joinWith(token, "room-b")).e, 1286);
  assert.equal((await joinWith(token, "room-a")).s, true);
});

test("reconnect needs the same user's token", async () => {
  const c = await TestClient.connect(server.url);
  clients.push(c);
  const joined = await c.request("join", { roomId: "auth-rc", bearer: await hs256({ userId: "owner" }) });
  c.drop();
  const thief = await TestClient.connect(server.url);
  clients.push(thief);
  assert.equal(
    (
      await thief.request("reconnect", {
        socketId: joined.d?.socketId,
        bearer: await hs256({ userId: "thief" }),
      })
    ).e,
    1317,
  );
  assert.equal(
    (await thief.request("reconnect", { socketId: joined.d?.socketId, bearer: "garbage" })).e,
    1286,
  );
  const owner = await TestClient.connect(server.url);
  clients.push(owner);
  assert.equal(
    (
      await owner.request("reconnect", {
        socketId: joined.d?.socketId,
        bearer: await hs256({ userId: "owner" }),
      })
    ).s,
    true,
  );
});
