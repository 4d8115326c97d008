/**
 * TLS with a modern configuration: a self-signed certificate made with openssl in a temporary
 * directory, the server started with CERT_FILE_PATH/KEY_FILE_PATH. wss works (TLS 1.3 by
 * default, TLS 1.2 with forward-secret AEAD suites); TLS 1.0 and 1.1 are refused by the server,
 * and so are TLS 1.2 suites without forward secrecy or with CBC.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { connect, type SecureVersion } from "node:tls";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { TestClient } from "../helpers/ws-client.ts";

let dir: string;
let server: TestServer;
let cert: string;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "tls-test-"));
  const rsaKey = join(dir, "rsa-key.pem");
  const rsaCert = join(dir, "rsa-cert.pem");
  execFileSync(
    "openssl",
    ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost"].concat([
      "-addext",
      "subjectAltName=IP:127.0.0.1",
      "-keyout",
      rsaKey,
      "-out",
      rsaCert,
    ]),
    { stdio: "ignore" },
  );
  server = await startTestServer({ ROOM_MODE: "p2p", CERT_FILE_PATH: rsaCert, KEY_FILE_PATH: rsaKey });
  cert = execFileSync("cat", [rsaCert]).toString();
});

after(async () => {
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

interface Handshake {
  ok: boolean;
  protocol?: string | null;
  cipher?: string;
  error?: string;
}

function handshake(options: {
  min?: SecureVersion;
  max?: SecureVersion;
  ciphers?: string;
}): Promise<Handshake> {
  return new Promise((resolve) => {
    let socket: ReturnType<typeof connect>;
    try {
      socket = connect({
        host: "127.0.0.1",
        port: server.port,
        ca: cert,
        servername: "localhost",
        ...(options.min ? { minVersion: options.min } : {}),
        ...(options.max ? { maxVersion: options.max } : {}),
        // Lets this client offer the legacy protocols and suites the server must refuse.
        ciphers: options.ciphers ?? "DEFAULT:@SECLEVEL=0",
      });
    } catch (err) {
      // This client's OpenSSL cannot even offer it.
      resolve({ ok: false, error: `client: ${(err as Error).message}` });
      return;
    }
    socket.once("secureConnect", () => {
      resolve({ ok: true, protocol: socket.getProtocol(), cipher: socket.getCipher().name });
      socket.end();
    });
    socket.once("error", (err: Error & { code?: string }) =>
      resolve({ ok: false, error: err.code ?? err.message }),
    );
  });
}

test("wss works with the configured certificate, over TLS 1.3 by default", async () => {
  assert.ok(server.url.startsWith("wss://"));
  const c = await TestClient.connect(server.url, { ca: cert });
  assert.equal((await c.join("tls-room", "tls-user")).s, true);
  c.close();
  const h = await handshake({});
  assert.equal(h.protocol, "TLSv1.3");
});

test("TLS 1.0 and 1.1 are refused by the server", async () => {
  for (const version of ["TLSv1", "TLSv1.1"] as const) {
    const h = await handshake({ min: version, max: version });
    assert.equal(h.ok, false, `${version} was accepted (${h.cipher})`);
    // The refusal is the server's protocol_version alert, not this client's inability to offer it.
    assert.match(
      String(h.error),
      /ALERT_PROTOCOL_VERSION|UNSUPPORTED_PROTOCOL|WRONG_VERSION/,
      String(h.error),
    );
  }
});

test("TLS 1.2 negotiates an ECDHE AEAD suite; suites without forward secrecy or with CBC are refused", async () => {
  const modern = await handshake({ min: "TLSv1.2", max: "TLSv1.2" });
  assert.equal(modern.ok, true, modern.error);
  assert.match(String(modern.cipher), /^ECDHE-(RSA|ECDSA)-(AES\d+-GCM-SHA\d+|CHACHA20-POLY1305)$/);
  let refusedByServer = 0;
  for (const legacy of [
    "AES128-SHA",
    "AES256-GCM-SHA384",
    "ECDHE-RSA-AES128-SHA",
    "ECDHE-RSA-AES256-SHA384",
    "DES-CBC3-SHA",
  ]) {
    const h = await handshake({ min: "TLSv1.2", max: "TLSv1.2", ciphers: `${legacy}:@SECLEVEL=0` });
    assert.equal(h.ok, false, `${legacy} was accepted`);
    if (!String(h.error).startsWith("client:")) refusedByServer++;
  }
  assert.ok(refusedByServer >= 4, `only ${refusedByServer} legacy suites could be offered`);
});

test("plain HTTP on the TLS port gets no service", async () => {
  const res = await fetch(`http://127.0.0.1:${server.port}/healthz`).catch((err: Error) => err);
  assert.ok(res instanceof Error || res.status >= 400);
});
