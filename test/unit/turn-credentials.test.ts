import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { describe, it } from "node:test";
import { iceServersFor, turnCredential } from "../../src/auth/turn-credentials.ts";
import { loadTurnConfig } from "../../src/config/turn-config.ts";
import { ConfigError } from "../../src/lib/errors.ts";

/**
 * coturn's definition (README.turnserver, --use-auth-secret): usercombo -> "timestamp:username",
 * turn password -> base64(hmac(input_buffer = usercombo, key = shared-secret)), HMAC-SHA1 by
 * default. Computed here with the openssl command, independently of Node's crypto:
 *   printf %s "$usercombo" | openssl dgst -binary -sha1 -hmac "$secret" | openssl base64
 * test/integration/turn-coturn.test.ts checks the same credentials against a running coturn.
 */
function opensslCredential(secret: string, username: string): string {
  const mac = execFileSync("openssl", ["dgst", "-binary", "-sha1", "-hmac", secret], { input: username });
  return execFileSync("openssl", ["base64", "-A"], { input: mac }).toString().trim();
}

describe("TURN REST credentials (coturn use-auth-secret)", () => {
  it("username is <expiry unix seconds>:<userId>, expiry = now + TTL", () => {
    const now = Date.UTC(2026, 11, 2, 16, 0, 0, 750);
    const c = turnCredential("s3cret-s3cret-s3cret", "alice", 3600, now);
    assert.equal(c.expiresAt, Math.floor(now / 1000) + 3600);
    assert.equal(c.username, `${Math.floor(now / 1000) + 3600}:alice`);
  });

  it("password is base64(HMAC-SHA1(secret, username)), as openssl computes it", () => {
    for (const [secret, userId] of [
      ["s3cret-s3cret-s3cret", "alice"],
      ["another secret with spaces", "user:with:colons"],
      ["ünïcödé-secret-0123456789", "Zoë 🎥"],
    ] as const) {
      const c = turnCredential(secret, userId, 86_400, 1_800_000_000_000);
      assert.equal(c.credential, opensslCredential(secret, c.username), `${secret} / ${userId}`);
      assert.match(c.credential, /^[A-Za-z0-9+/]{27}=$/, "20 bytes of HMAC-SHA1 in base64");
    }
  });

  it("iceServersFor gives every configured URL one fresh credential", () => {
    const turn = loadTurnConfig({
      TURN_URLS: "turn:turn.example.com:3478?transport=udp, turns:turn.example.com:443?transport=tcp",
      TURN_SECRET: "0123456789abcdef0123",
      TURN_TTL_SECONDS: "600",
    });
    assert.ok(turn);
    const [server, ...rest] = iceServersFor(turn, "bob", 1_800_000_000_000);
    assert.equal(rest.length, 0);
    assert.deepEqual(server?.urls, [
      "turn:turn.example.com:3478?transport=udp",
      "turns:turn.example.com:443?transport=tcp",
    ]);
    assert.equal(server?.username, "1800000600:bob");
    assert.equal(server?.credential, opensslCredential("0123456789abcdef0123", "1800000600:bob"));
  });
});

describe("loadTurnConfig", () => {
  it("without TURN_URLS there is no TURN (nothing changes)", () => {
    assert.equal(loadTurnConfig({}), undefined);
    assert.equal(loadTurnConfig({ TURN_URLS: "  " }), undefined);
  });

  it("reads URLs, secret and TTL (default one day)", () => {
    const t = loadTurnConfig({
      TURN_URLS: "turn:[2001:db8::1]:3478,turns:turn.example.com",
      TURN_SECRET: "x".repeat(16),
    });
    assert.deepEqual(t?.urls, ["turn:[2001:db8::1]:3478", "turns:turn.example.com"]);
    assert.equal(t?.ttlSeconds, 86_400);
    assert.ok(Object.isFrozen(t));
  });

  it("refuses a missing or short secret, a secret without URLs, bad URLs and TTLs", () => {
    const bad: Record<string, string>[] = [
      { TURN_URLS: "turn:h:3478" },
      { TURN_URLS: "turn:h:3478", TURN_SECRET: "short" },
      { TURN_SECRET: "x".repeat(16) },
      { TURN_URLS: "stun:h:3478", TURN_SECRET: "x".repeat(16) },
      { TURN_URLS: "turn:h:3478?transport=tls", TURN_SECRET: "x".repeat(16) },
      { TURN_URLS: "http://h", TURN_SECRET: "x".repeat(16) },
      { TURN_URLS: "turn:h", TURN_SECRET: "x".repeat(16), TURN_TTL_SECONDS: "10" },
    ];
    for (const env of bad) assert.throws(() => loadTurnConfig(env), ConfigError, JSON.stringify(env));
  });
});
