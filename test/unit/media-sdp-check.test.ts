import assert from "node:assert/strict";
import { describe, it, test } from "node:test";
import { loadMediaConfig } from "../../src/config/media-config.ts";
import { ErrorCode } from "../../src/lib/errors.ts";
import { wireCodeOf } from "../../src/mcu/media-errors.ts";
import {
  checkSdp,
  fingerprintOf,
  offersSupportedCodec,
  sameClientConnection,
} from "../../src/media/sdp-check.ts";
import { announceAddresses } from "../../src/media/werift/peer-factory.ts";
import { isPlausibleDatagram } from "../../src/media/werift/udp-guard.ts";

const good =
  "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=fingerprint:sha-256 AA:BB\r\n";
/** The wire code the MCU answers this media failure with. */
const is1320 = (err: unknown) => wireCodeOf(err) === ErrorCode.invalidSdp;

describe("checkSdp", () => {
  it("accepts a plausible offer and normalises line endings", () => {
    assert.ok(
      checkSdp({ type: "offer", sdp: good.replaceAll("\r\n", "\n") }, "offer", 10_000).includes(
        "\r\nm=audio",
      ),
    );
  });
  it("rejects the wrong type, garbage, a missing fingerprint and oversize input with 1320", () => {
    assert.throws(() => checkSdp({ type: "answer", sdp: good }, "offer", 10_000), is1320);
    assert.throws(() => checkSdp({ type: "offer", sdp: "hello" }, "offer", 10_000), is1320);
    assert.throws(
      () => checkSdp({ type: "offer", sdp: good.replace(/a=fingerprint.*\r\n/, "") }, "offer", 10_000),
      is1320,
    );
    assert.throws(() => checkSdp({ type: "offer", sdp: good }, "offer", 20), is1320);
  });
  it("extracts the fingerprint and tells a renegotiation from a new connection", () => {
    assert.equal(fingerprintOf(good), "sha-256 AA:BB");
    const a = `${good}a=ice-ufrag:u1\r\n`;
    assert.equal(sameClientConnection(a, a.replace("o=- 1 1", "o=- 1 2")), true, "renegotiation");
    assert.equal(sameClientConnection(a, a.replace("u1", "u2")), true, "ICE restart keeps the session id");
    assert.equal(
      sameClientConnection(a, a.replace("o=- 1 1", "o=- 7 1")),
      true,
      "werift: new session id, same ufrag",
    );
    assert.equal(
      sameClientConnection(a, a.replace("o=- 1 1", "o=- 7 1").replace("u1", "u2")),
      false,
      "new connection",
    );
    assert.equal(sameClientConnection(a, a.replace("AA:BB", "CC:DD")), false, "new certificate");
  });
});

describe("announceAddresses", () => {
  it("rewrites the listen address in candidates when it differs from the public one", () => {
    const c = loadMediaConfig({ PUBLIC_IPV4: "203.0.113.9", MEDIA_LISTEN_IPV4: "10.1.2.3" });
    const line = "a=candidate:1 1 udp 2130706431 10.1.2.3 40000 typ host";
    assert.equal(announceAddresses(c, line), "a=candidate:1 1 udp 2130706431 203.0.113.9 40000 typ host");
    assert.equal(announceAddresses(loadMediaConfig({}), line), line);
  });
});

describe("isPlausibleDatagram", () => {
  it("keeps STUN, DTLS and RTP shapes and drops the rest", () => {
    const stun = Buffer.alloc(20);
    stun.writeUInt32BE(0x2112a442, 4);
    assert.equal(isPlausibleDatagram(stun), true);
    assert.equal(isPlausibleDatagram(Buffer.alloc(20)), false, "STUN without magic cookie");
    assert.equal(isPlausibleDatagram(Buffer.from([22, ...Buffer.alloc(20)])), true);
    assert.equal(isPlausibleDatagram(Buffer.from([0x80, ...Buffer.alloc(20)])), true);
    assert.equal(isPlausibleDatagram(Buffer.from("GET / HTTP/1.1")), false);
    assert.equal(isPlausibleDatagram(Buffer.alloc(0)), false);
  });
});

test("an offer must name a codec the server forwards", () => {
  const base = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=fingerprint:sha-256 AA\r\n";
  assert.equal(offersSupportedCodec(`${base}a=rtpmap:111 opus/48000/2\r\n`), true);
  assert.equal(offersSupportedCodec(`${base}a=rtpmap:96 VP8/90000\r\n`), true);
  assert.equal(
    offersSupportedCodec(
      `${base}a=rtpmap:102 H264/90000\r\na=fmtp:102 profile-level-id=42e01f;packetization-mode=1\r\n`,
    ),
    true,
  );
  assert.equal(
    offersSupportedCodec(`${base}a=rtpmap:102 H264/90000\r\na=fmtp:102 packetization-mode=0\r\n`),
    false,
  );
  assert.equal(offersSupportedCodec(`${base}a=rtpmap:9 G722/8000\r\na=rtpmap:98 H265/90000\r\n`), false);
});
