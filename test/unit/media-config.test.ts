import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { loadMediaConfig } from "../../src/config/media-config.ts";
import { ConfigError } from "../../src/lib/errors.ts";

describe("loadMediaConfig", () => {
  it("has loopback defaults", () => {
    const c = loadMediaConfig({});
    assert.equal(c.publicIpv4, "127.0.0.1");
    assert.equal(c.listenIpv4, "127.0.0.1");
    assert.equal(c.portRange, undefined);
    assert.equal(c.freezeTimeoutMs, 2000);
    assert.ok(c.nackHistoryMs >= 1000);
    assert.ok(Object.isFrozen(c));
  });

  it("reads addresses, port range and bitrates", () => {
    const c = loadMediaConfig({
      PUBLIC_IPV4: "203.0.113.7",
      MEDIA_LISTEN_IPV4: "10.0.0.5",
      PUBLIC_IPV6: "2001:db8::1",
      STATIC_PORTS: "40000-40100",
      BITRATE_VIDEO_START: "300000",
      BITRATE_VIDEO_MIN: "150000",
      BITRATE_VIDEO_MAX: "900000",
      BITRATE_VIDEO_STEP: "50000",
    });
    assert.equal(c.publicIpv4, "203.0.113.7");
    assert.equal(c.listenIpv4, "10.0.0.5");
    assert.equal(c.listenIpv6, "2001:db8::1");
    assert.deepEqual(c.portRange, [40000, 40100]);
    assert.deepEqual(c.bitrate.video, { start: 300000, min: 150000, max: 900000, step: 50000 });
  });

  const bad: [Record<string, string>, RegExp][] = [
    [{ PUBLIC_IPV4: "localhost" }, /PUBLIC_IPV4/],
    [{ PUBLIC_IPV6: "1.2.3.4" }, /PUBLIC_IPV6/],
    [{ STATIC_PORTS: "5000" }, /STATIC_PORTS/],
    [{ STATIC_PORTS: "6000-5000" }, /STATIC_PORTS/],
    [{ BITRATE_AUDIO_MIN: "90000" }, /BITRATE_AUDIO_MIN/],
    [{ BITRATE_VIDEO_START: "50000000" }, /BITRATE_VIDEO_START/],
    [{ NACK_HISTORY_MS: "200" }, /NACK_HISTORY_MS/],
    [{ FREEZE_TIMEOUT_MS: "abc" }, /FREEZE_TIMEOUT_MS/],
    [{ MEDIA_LISTEN_IPV6: "::1" }, /MEDIA_LISTEN_IPV6/],
  ];
  for (const [env, re] of bad) {
    it(`rejects ${JSON.stringify(env)} naming the variable`, () => {
      assert.throws(
        () => loadMediaConfig(env),
        (err: unknown) => err instanceof ConfigError && re.test(err.message),
      );
    });
  }
});
