import assert from "node:assert/strict";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import { after, before, test } from "node:test";
import { WebSocket, WebSocketServer } from "ws";
import { loadConfig } from "../../src/config/config.ts";
import { newSilentLogger } from "../../src/lib/logger.ts";
import { newMetrics } from "../../src/metrics/metrics.ts";
import type { ClientMessage } from "../../src/protocol/messages.ts";
import type { CloseReason } from "../../src/signaling/close-reason.ts";
import { Connection, type ConnectionHandlers } from "../../src/signaling/connection.ts";
import { waitFor } from "../helpers/wait-for.ts";

/**
 * One Connection around a real WebSocket on loopback: replies keep request order, errors
 * included; a close is handled at once even while a handler hangs; a flood is answered, then closed.
 */
let wss: WebSocketServer;
let url: string;
before(async () => {
  wss = new WebSocketServer({ port: 0, host: "127.0.0.1" });
  await new Promise((r) => wss.once("listening", r));
  url = `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`;
});
after(() => new Promise<void>((r) => wss.close(() => r())));

async function pair(handlers: ConnectionHandlers, env: Record<string, string> = {}) {
  const accepted = new Promise<Connection>((resolve) => {
    wss.once("connection", (ws, req) => {
      const conn = new Connection({
        ws,
        socket: req.socket as Duplex,
        ctx: { socketId: "S", ip: "127.0.0.1", log: newSilentLogger() },
        limits: loadConfig(env).socket,
        metrics: newMetrics({ processMetrics: false }),
        handlers,
      });
      resolve(conn);
    });
  });
  const client = new WebSocket(url);
  const received: Array<{ a: string; e?: number }> = [];
  client.on("message", (d) => received.push(JSON.parse(d.toString()) as { a: string; e?: number }));
  await new Promise((r) => client.once("open", r));
  return { conn: await accepted, client, received };
}

test("a schema error waits behind the reply to the slow message before it", async () => {
  const { client, received } = await pair({
    async message(conn: Connection, msg: ClientMessage) {
      if (msg.a === "orientationChange" && msg.d.orientation === 1)
        await new Promise((r) => setTimeout(r, 100));
      conn.send({
        a: `${msg.a}R`,
        s: true,
        d: { orientation: msg.a === "orientationChange" ? msg.d.orientation : -1 },
      });
    },
    closed: () => undefined,
  });
  client.send(JSON.stringify({ a: "orientationChange", d: { orientation: 1, camera: "front" } }));
  client.send("not json");
  client.send(JSON.stringify({ a: "orientationChange", d: { orientation: 2, camera: "front" } }));
  await waitFor("three replies", () => received.length >= 3);
  assert.deepEqual(
    received.map((m) => [m.a, m.e ?? "ok"]),
    [
      ["orientationChangeR", "ok"],
      ["generalR", 1282],
      ["orientationChangeR", "ok"],
    ],
  );
  client.close();
});

test("a close is handled at once, even while a handler of that socket hangs", async () => {
  const closed: CloseReason[] = [];
  const { client } = await pair({
    message: () => new Promise<void>(() => undefined), // never settles
    closed: (_c, reason) => void closed.push(reason),
  });
  client.send(JSON.stringify({ a: "orientationChange", d: { orientation: 1, camera: "front" } }));
  await new Promise((r) => setTimeout(r, 20));
  client.terminate();
  await waitFor("closed handled", () => closed.length === 1, 2000);
  assert.deepEqual(closed, ["dropped"]);
});

test("a flood gets its 1322 replies before the 1008 close", async () => {
  const { client, received } = await pair(
    { message: async (conn, msg) => conn.send({ a: `${msg.a}R`, s: true }), closed: () => undefined },
    { RATE_LIMIT_PER_SECOND: "1", RATE_LIMIT_BURST: "2", RATE_LIMIT_STRIKES: "3" },
  );
  const code = new Promise<number>((r) => client.once("close", (c) => r(c)));
  for (let i = 0; i < 10; i++) client.send(JSON.stringify({ a: "eventFreeze", d: {} }));
  assert.equal(await code, 1008);
  assert.deepEqual(
    received.map((m) => m.e ?? "ok"),
    ["ok", "ok", 1322, 1322, 1322],
  );
});
