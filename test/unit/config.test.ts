import assert from "node:assert/strict";
import { test } from "node:test";
import { loadConfig } from "../../src/config/config.ts";
import { ConfigError } from "../../src/lib/errors.ts";

test("defaults run alone in development mode", () => {
  const c = loadConfig({});
  assert.equal(c.port, 8080);
  assert.equal(c.auth.devMode, true);
  assert.equal(c.rooms.maxMembers, 8);
  assert.equal(c.socket.maxMessageBytes, 65536);
  assert.equal(c.socket.heartbeatIntervalMs, 5000);
  assert.equal(c.socket.heartbeatTimeoutMs, 15000);
  assert.equal(c.socket.reconnectGraceMs, 30000);
});

test("a bad value names the variable", () => {
  assert.throws(
    () => loadConfig({ PORT_NUMBER: "eighty" }),
    (e: unknown) => e instanceof ConfigError && /PORT_NUMBER/.test(e.message),
  );
  assert.throws(() => loadConfig({ ROOM_MAX_MEMBERS: "0" }), /ROOM_MAX_MEMBERS/);
  assert.throws(() => loadConfig({ CERT_FILE_PATH: "/x" }), /KEY_FILE_PATH/);
  assert.throws(
    () => loadConfig({ CERT_FILE_PATH: "/nonexistent.pem", KEY_FILE_PATH: "/nonexistent.key" }),
    /CERT_FILE_PATH: cannot read/,
  );
});

test("production refuses to start without a token key", () => {
  assert.throws(() => loadConfig({ NODE_ENV: "production" }), /JWT_SECRET/);
  const c = loadConfig({ NODE_ENV: "production", JWT_SECRET: "s3cret" });
  assert.equal(c.auth.devMode, false);
});

test("development mode listens on loopback unless BIND_ADDRESS says otherwise; production keeps 0.0.0.0", () => {
  const dev = loadConfig({});
  assert.equal(dev.bindAddress, "127.0.0.1");
  assert.equal(dev.bindAddressFrom, "development default");
  const devOpen = loadConfig({ BIND_ADDRESS: "0.0.0.0" });
  assert.equal(devOpen.bindAddress, "0.0.0.0");
  assert.equal(devOpen.bindAddressFrom, "BIND_ADDRESS");
  const prod = loadConfig({ NODE_ENV: "production", JWT_SECRET: "s3cret" });
  assert.equal(prod.bindAddress, "0.0.0.0");
  assert.equal(prod.bindAddressFrom, "default");
  assert.equal(
    loadConfig({ NODE_ENV: "production", JWT_SECRET: "s", BIND_ADDRESS: "10.0.0.5" }).bindAddress,
    "10.0.0.5",
  );
});
