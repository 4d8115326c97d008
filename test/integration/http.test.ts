import assert from "node:assert/strict";
import { test } from "node:test";
import { startTestServer } from "../helpers/server.ts";
import { TestClient } from "../helpers/ws-client.ts";

test("healthz, readyz, state and memstats answer JSON; state holds no secrets", async () => {
  const server = await startTestServer({ ROOM_MODE: "p2p", JWT_SECRET: "super-secret-value-xyz" });
  try {
    const c = await TestClient.connect(server.url);
    await c.request("join", { roomId: "http-room", bearer: "x" });
    assert.deepEqual(await (await fetch(`${server.httpUrl}/healthz`)).json(), { status: "ok" });
    assert.equal((await fetch(`${server.httpUrl}/readyz`)).status, 200);
    const stateText = await (await fetch(`${server.httpUrl}/state`)).text();
    const state = JSON.parse(stateText) as { connections: number; rooms: unknown[] };
    assert.equal(state.connections, 1);
    assert.ok(!stateText.includes("super-secret-value-xyz"));
    const mem = (await (await fetch(`${server.httpUrl}/memstats`)).json()) as {
      rss: number;
      heapUsed: number;
    };
    assert.ok(mem.rss > 0 && mem.heapUsed > 0);
    assert.equal((await fetch(`${server.httpUrl}/nope`)).status, 404);
    c.close();
  } finally {
    await server.close();
  }
});

test("OPS_TOKEN protects state, memstats and metrics but not health", async () => {
  const server = await startTestServer({ ROOM_MODE: "p2p", OPS_TOKEN: "ops-123" });
  try {
    for (const path of ["/state", "/memstats", "/metrics"]) {
      assert.equal((await fetch(`${server.httpUrl}${path}`)).status, 401, path);
      assert.equal(
        (await fetch(`${server.httpUrl}${path}`, { headers: { authorization: "Bearer ops-123" } })).status,
        200,
        path,
      );
    }
    assert.equal((await fetch(`${server.httpUrl}/healthz`)).status, 200);
  } finally {
    await server.close();
  }
});

test("upgrades elsewhere than /api are refused with 404; a disallowed Origin with 403", async () => {
  const server = await startTestServer({ ROOM_MODE: "p2p", ALLOWED_ORIGINS: "https://app.example" });
  try {
    await assert.rejects(
      TestClient.connect(server.url.replace("/api", "/other"), { origin: "https://app.example" }),
      /HTTP 404/,
    );
    await assert.rejects(TestClient.connect(server.url, { origin: "https://evil.example" }), /HTTP 403/);
    const ok = await TestClient.connect(server.url, { origin: "https://app.example" });
    ok.close();
  } finally {
    await server.close();
  }
});
