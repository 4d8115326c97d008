import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect as netConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { createServer, type TLSSocket } from "node:tls";
import { loadEventsConfig } from "../../src/config/events-config.ts";
import { createEventSink } from "../../src/events/create-event-sink.ts";
import { RabbitmqEventSink } from "../../src/events/rabbitmq-sink.ts";
import { newSilentLogger } from "../../src/lib/logger.ts";
import { newMetrics } from "../../src/metrics/metrics.ts";
import {
  openTestQueue,
  RABBITMQ_HOST,
  RABBITMQ_PORT,
  testExchangeName,
  waitFor,
} from "../helpers/events-broker.ts";

// amqps:// with a private CA and a client certificate: a TLS terminator in front of the real
// broker checks the client certificate, then relays plain AMQP to it.
const dir = mkdtempSync(join(tmpdir(), "events-tls-"));
const file = (name: string) => join(dir, name);
let server: ReturnType<typeof createServer> | undefined;
let port = 0;
const clientSubjects: string[] = [];

function openssl(args: string[]): void {
  execFileSync("openssl", args, { stdio: ["ignore", "ignore", "pipe"] });
}

/** A private CA, a server certificate for 127.0.0.1 and a client certificate, made with openssl. */
function makeCertificates(): void {
  const days = ["-days", "1"];
  openssl([
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    ...days,
    "-subj",
    "/CN=test-ca",
    "-keyout",
    file("ca.key"),
    "-out",
    file("ca.pem"),
  ]);
  const leaves = [
    { name: "server", subject: "/CN=localhost", ext: "subjectAltName=IP:127.0.0.1,DNS:localhost\n" },
    { name: "client", subject: "/CN=webrtcsignaling", ext: "extendedKeyUsage=clientAuth\n" },
  ];
  for (const { name, subject, ext } of leaves) {
    const key = file(`${name}.key`);
    const csr = file(`${name}.csr`);
    openssl(["req", "-newkey", "rsa:2048", "-nodes", "-subj", subject, "-keyout", key, "-out", csr]);
    const extFile = file(`${name}.ext`);
    writeFileSync(extFile, ext);
    const ca = ["-CA", file("ca.pem"), "-CAkey", file("ca.key"), "-CAcreateserial"];
    openssl(["x509", "-req", "-in", csr, ...ca, ...days, "-extfile", extFile, "-out", file(`${name}.pem`)]);
  }
}

before(async () => {
  makeCertificates();
  const tls = createServer(
    {
      key: readFileSync(file("server.key")),
      cert: readFileSync(file("server.pem")),
      ca: readFileSync(file("ca.pem")),
      requestCert: true,
      rejectUnauthorized: true,
    },
    (tlsSocket: TLSSocket) => {
      const subject = tlsSocket.getPeerCertificate().subject?.CN;
      if (subject) clientSubjects.push(String(subject));
      const upstream = netConnect(RABBITMQ_PORT, RABBITMQ_HOST);
      tlsSocket.pipe(upstream).pipe(tlsSocket);
      const drop = () => {
        tlsSocket.destroy();
        upstream.destroy();
      };
      tlsSocket.on("error", drop).on("close", drop);
      upstream.on("error", drop).on("close", drop);
    },
  );
  server = tls;
  await new Promise<void>((resolve) => tls.listen(0, "127.0.0.1", resolve));
  const address = tls.address();
  if (address === null || typeof address === "string") throw new Error("no TLS address");
  port = address.port;
});

after(async () => {
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  rmSync(dir, { recursive: true, force: true });
});

test("amqps:// with RABBITMQ_CA_FILE and a client certificate delivers events", async () => {
  const exchange = testExchangeName();
  const q = await openTestQueue(exchange, ["room.#"]);
  const config = loadEventsConfig({
    RABBITMQ_URL: `amqps://guest:guest@127.0.0.1:${port}`,
    RABBITMQ_EXCHANGE: exchange,
    RABBITMQ_CA_FILE: file("ca.pem"),
    RABBITMQ_CERT_FILE: file("client.pem"),
    RABBITMQ_KEY_FILE: file("client.key"),
    INSTANCE_ID: "tls-test",
  });
  const sink = createEventSink(config, {
    log: newSilentLogger(),
    metrics: newMetrics({ processMetrics: false }),
  });
  try {
    sink.publish({ key: "room.leave", payload: { roomId: "r", roomSize: 0, socketId: "S", userId: "u" } });
    await waitFor("the event over TLS", () => q.received.length === 1);
    assert.equal(q.received[0]?.body.instanceId, "tls-test");
    assert.ok(sink.ready);
    assert.deepEqual(clientSubjects, ["webrtcsignaling"], "the client certificate was presented");
  } finally {
    await sink.close();
    await q.close();
  }
});

test("amqps:// refuses a broker certificate its CA list does not vouch for", async () => {
  const config = loadEventsConfig({
    RABBITMQ_URL: `amqps://guest:guest@127.0.0.1:${port}`,
    RABBITMQ_EXCHANGE: "live_events_test_never_declared",
    RABBITMQ_RECONNECT_MIN_MS: "20",
    RABBITMQ_RECONNECT_MAX_MS: "50",
  });
  const sink = createEventSink(config, {
    log: newSilentLogger(),
    metrics: newMetrics({ processMetrics: false }),
  });
  try {
    assert.ok(sink instanceof RabbitmqEventSink);
    await waitFor("two refused attempts", () => sink.status.reconnectAttempts >= 2);
    assert.equal(sink.ready, false);
  } finally {
    await sink.close();
  }
});
