/**
 * No secret in logs or on the operational endpoints: a server started at debug level with a
 * JWT_SECRET, an OPS_TOKEN and a RABBITMQ_URL carrying a password (to a closed port, so the sink
 * logs its connection failures), then driven through joins with good and bad bearers, a reconnect,
 * bad input and a shutdown. Neither the captured pino output nor /state, /metrics, /memstats
 * contains any of the secrets or a client's bearer.
 */
import assert from "node:assert/strict";
import { createServer } from "node:net";
import { Writable } from "node:stream";
import { test } from "node:test";
import { SignJWT } from "jose";
import { buildApp, loadAppConfig } from "../../src/app.ts";
import { newLogger } from "../../src/lib/logger.ts";
import { newMetrics } from "../../src/metrics/metrics.ts";
import { waitFor } from "../helpers/wait-for.ts";
import { TestClient } from "../helpers/ws-client.ts";

const JWT_SECRET = "jwt-secret-Q7w9Zk2LmN4pR8sT1vX3yB6c";
const OPS_TOKEN = "ops-token-H5jK8mP2qW4eR7tY";
const AMQP_PASSWORD = "amqp-pass-Z9xC3vB6nM1";

async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

test("no secret or bearer in the logs (debug level) nor in /state, /metrics, /memstats", async () => {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _enc, done) {
      lines.push(String(chunk));
      done();
    },
  });
  const env = {
    PORT_NUMBER: "0",
    BIND_ADDRESS: "127.0.0.1",
    NODE_ENV: "test",
    ROOM_MODE: "p2p",
    JWT_SECRET,
    OPS_TOKEN,
    RABBITMQ_URL: `amqp://signaling:${AMQP_PASSWORD}@127.0.0.1:${await closedPort()}/`,
    RABBITMQ_RECONNECT_MIN_MS: "50",
    ROOM_LIVE_INTERVAL_MS: "0",
  };
  const log = newLogger({ level: "trace", pretty: false, destination });
  const server = await buildApp(loadAppConfig(env), { log, metrics: newMetrics({ processMetrics: false }) });
  const httpUrl = `http://127.0.0.1:${server.port}`;
  const key = new TextEncoder().encode(JWT_SECRET);
  const good = await new SignJWT({ userId: "logged-user" })
    .setProtectedHeader({ alg: "HS256" })
    .setExpirationTime("5m")
    .sign(key);
  const expired = await new SignJWT({ userId: "late-user" })
    .setProtectedHeader({ alg: "HS256" })
    .setExpirationTime(Math.floor(Date.now() / 1000) - 60)
    .sign(key);
  const forged = `${good.slice(0, -6)}AAAAAA`;
  const bearers = [good, expired, forged];
  let ops: Record<string, string> = {};
  try {
    const a = await TestClient.connect(server.url);
    const joined = await a.join("logs", good);
    for (const bad of [expired, forged]) {
      const c = await TestClient.connect(server.url);
      assert.equal((await c.request("join", { roomId: "logs", bearer: bad })).e, 1286);
      c.close();
    }
    a.sendRaw("{broken");
    a.drop();
    const again = await TestClient.connect(server.url);
    assert.equal((await again.request("reconnect", { socketId: joined.d?.socketId, bearer: good })).s, true);
    const other = await TestClient.connect(server.url);
    assert.equal(
      (await other.request("reconnect", { socketId: joined.d?.socketId, bearer: forged })).e,
      1286,
    );
    // Let the event sink fail to connect a few times.
    await waitFor(
      "broker failures logged",
      () => lines.some((l) => /broker|rabbitmq|event bus/i.test(l)),
      5000,
    );
    ops = { authorization: `Bearer ${OPS_TOKEN}` };
    for (const path of ["/state", "/metrics", "/memstats"]) {
      const text = await (await fetch(`${httpUrl}${path}`, { headers: ops })).text();
      for (const secret of [JWT_SECRET, OPS_TOKEN, AMQP_PASSWORD, ...bearers]) {
        assert.ok(!text.includes(secret), `${path} contains a secret`);
      }
    }
    again.close();
    other.close();
  } finally {
    await server.close(AbortSignal.timeout(300));
  }
  const output = lines.join("");
  assert.ok(lines.length > 10, "the server logged");
  for (const [name, secret] of Object.entries({ JWT_SECRET, OPS_TOKEN, AMQP_PASSWORD })) {
    assert.ok(!output.includes(secret), `the log contains ${name}`);
  }
  for (const [i, bearer] of bearers.entries()) {
    assert.ok(!output.includes(bearer), `the log contains bearer #${i}`);
    // Not even the signature part alone.
    assert.ok(!output.includes(bearer.split(".")[2] ?? "-"), `the log contains bearer #${i}'s signature`);
  }
  assert.ok(output.includes("signaling:***@"), "the broker URL is logged, redacted");
});
