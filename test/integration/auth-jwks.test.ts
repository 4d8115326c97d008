import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { startTestServer } from "../helpers/server.ts";
import { TestClient } from "../helpers/ws-client.ts";

test("ES256 tokens verified against a JWKS URL; an unknown key id is refused with 1286", async () => {
  const { publicKey, privateKey } = await generateKeyPair("ES256", { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid: "k1", alg: "ES256", use: "sig" };
  let fetched = 0;
  const jwks = createServer((_req, res) => {
    fetched++;
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys: [jwk] }));
  });
  await new Promise<void>((r) => jwks.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks.json`;
  const server = await startTestServer({
    ROOM_MODE: "p2p",
    JWT_JWKS_URL: url,
    JWT_ISSUER: "https://auth.example",
  });
  try {
    const sign = (kid: string, iss = "https://auth.example") =>
      new SignJWT({ userId: "jwks-user" })
        .setProtectedHeader({ alg: "ES256", kid })
        .setIssuer(iss)
        .setExpirationTime("5m")
        .sign(privateKey);
    const c = await TestClient.connect(server.url);
    assert.deepEqual(await c.request("join", { roomId: "r", bearer: await sign("other-kid") }), {
      a: "joinR",
      s: false,
      e: 1286,
    });
    assert.deepEqual(
      await c.request("join", { roomId: "r", bearer: await sign("k1", "https://evil.example") }),
      {
        a: "joinR",
        s: false,
        e: 1286,
      },
    );
    const ok = await c.request("join", { roomId: "r", bearer: await sign("k1") });
    assert.equal(ok.d?.userId, "jwks-user");
    assert.ok(fetched >= 1);
    c.close();
  } finally {
    await server.close();
    jwks.close();
  }
});
