import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { loadEventsConfig, redactUrl } from "../../src/config/events-config.ts";
import { ConfigError } from "../../src/lib/errors.ts";

test("defaults: no broker, 60 s room.live, hostname-pid instance id", () => {
  const c = loadEventsConfig({});
  assert.equal(c.rabbitmq, undefined);
  assert.equal(c.roomLiveIntervalMs, 60_000);
  assert.equal(c.instanceId, `${hostname()}-${process.pid}`);
});

test("RABBITMQ_URL enables the broker with documented defaults", () => {
  const c = loadEventsConfig({ RABBITMQ_URL: "amqp://guest:guest@127.0.0.1:5672", INSTANCE_ID: "sig-1" });
  assert.equal(c.instanceId, "sig-1");
  assert.deepEqual(c.rabbitmq, {
    url: "amqp://guest:guest@127.0.0.1:5672",
    exchange: "live_events",
    connectTimeoutMs: 10_000,
    reconnectMinMs: 500,
    reconnectMaxMs: 30_000,
    outboxMax: 10_000,
    flushTimeoutMs: 5_000,
  });
  assert.ok(Object.isFrozen(c));
});

test("every bad value names its variable", () => {
  const cases: Array<[Record<string, string>, RegExp]> = [
    [{ RABBITMQ_URL: "http://broker" }, /RABBITMQ_URL/],
    [{ RABBITMQ_URL: "amqp://" }, /RABBITMQ_URL/],
    [{ EVENTS_OUTBOX_MAX: "0" }, /EVENTS_OUTBOX_MAX/],
    [{ ROOM_LIVE_INTERVAL_MS: "soon" }, /ROOM_LIVE_INTERVAL_MS/],
    [{ RABBITMQ_EXCHANGE: "a b" }, /RABBITMQ_EXCHANGE/],
    [{ RABBITMQ_RECONNECT_MIN_MS: "1000", RABBITMQ_RECONNECT_MAX_MS: "100" }, /RABBITMQ_RECONNECT_MAX_MS/],
    [{ RABBITMQ_URL: "amqps://b", RABBITMQ_CERT_FILE: "/x" }, /RABBITMQ_CERT_FILE and RABBITMQ_KEY_FILE/],
    [{ RABBITMQ_URL: "amqp://b", RABBITMQ_CA_FILE: "/x" }, /RABBITMQ_CA_FILE needs an amqps/],
    [{ RABBITMQ_URL: "amqps://b", RABBITMQ_CA_FILE: "/does/not/exist" }, /RABBITMQ_CA_FILE: cannot read/],
    [{ RABBITMQ_CA_FILE: "/x" }, /need RABBITMQ_URL/],
  ];
  for (const [env, message] of cases) {
    assert.throws(
      () => loadEventsConfig(env),
      (err: unknown) => err instanceof ConfigError && message.test(err.message),
    );
  }
});

test("TLS files are read for amqps://", () => {
  const dir = mkdtempSync(join(tmpdir(), "events-config-"));
  for (const name of ["ca.pem", "cert.pem", "key.pem"]) writeFileSync(join(dir, name), name);
  const c = loadEventsConfig({
    RABBITMQ_URL: "amqps://user:secret@broker.example:5671/vhost",
    RABBITMQ_CA_FILE: join(dir, "ca.pem"),
    RABBITMQ_CERT_FILE: join(dir, "cert.pem"),
    RABBITMQ_KEY_FILE: join(dir, "key.pem"),
  });
  assert.equal(c.rabbitmq?.tls?.ca?.toString(), "ca.pem");
  assert.equal(c.rabbitmq?.tls?.cert?.toString(), "cert.pem");
  assert.equal(c.rabbitmq?.tls?.key?.toString(), "key.pem");
});

test("redactUrl hides the password", () => {
  assert.equal(redactUrl("amqps://user:secret@broker:5671/v"), "amqps://user:***@broker:5671/v");
  assert.equal(redactUrl("amqp://broker"), "amqp://broker");
});
