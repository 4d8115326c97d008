/**
 * src/media/werift/srtp-key-cache.ts: werift's SRTP/SRTCP protect and unprotect give byte-identical output
 * with the session keys imported once as KeyObjects, for both profiles werift negotiates
 * (AEAD_AES_128_GCM, preferred, and AES_CM_128_HMAC_SHA1_80); and an unexpected werift is left alone.
 * The tests run in order: the reference outputs are taken from werift's own code before installing.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import * as werift from "werift";
import {
  ProtectionProfileAeadAes128Gcm,
  ProtectionProfileAes128CmHmacSha1_80,
  RtpHeader,
  SrtcpSession,
  SrtpSession,
} from "werift";
import {
  installSrtpKeyCache,
  uninstallSrtpKeyCache,
  usesKeyObjects,
  type WeriftSrtpApi,
} from "../../src/media/werift/srtp-key-cache.ts";

const PROFILES = [
  { name: "AES_CM_128_HMAC_SHA1_80", profile: ProtectionProfileAes128CmHmacSha1_80, saltLength: 14 },
  { name: "AEAD_AES_128_GCM", profile: ProtectionProfileAeadAes128Gcm, saltLength: 12 },
] as const;

/** Deterministic bytes (xorshift), so that both runs use the same keys and payloads. */
function bytes(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  let x = seed | 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

function keys(saltLength: number) {
  // Different local and remote keys, as in a real session.
  return {
    localMasterKey: bytes(16, 1),
    localMasterSalt: bytes(saltLength, 2),
    remoteMasterKey: bytes(16, 3),
    remoteMasterSalt: bytes(saltLength, 4),
  };
}
/** The peer's view of the same keys (its local keys are our remote ones). */
function peerKeys(saltLength: number) {
  const k = keys(saltLength);
  return {
    localMasterKey: k.remoteMasterKey,
    localMasterSalt: k.remoteMasterSalt,
    remoteMasterKey: k.localMasterKey,
    remoteMasterSalt: k.localMasterSalt,
  };
}

/** RTP packets: sizes 0..1200, a sequence number wrap (ROC), two SSRCs, marker bits. */
const RTP = Array.from({ length: 40 }, (_, i) => ({
  header: {
    payloadType: i % 3 === 0 ? 111 : 96,
    sequenceNumber: (65520 + i) % 65536,
    timestamp: 3000 * i,
    ssrc: i % 2 === 0 ? 0x11223344 : 0xdeadbeef,
    marker: i % 4 === 3,
  },
  payload: bytes([0, 1, 80, 160, 1100, 1200][i % 6] as number, 100 + i),
}));

/** RTCP: receiver reports, a sender report, a compound packet, a PLI. */
const RTCP = [
  Buffer.from([0x80, 201, 0, 1, 0x11, 0x22, 0x33, 0x44]),
  Buffer.concat([Buffer.from([0x81, 201, 0, 7, 0x11, 0x22, 0x33, 0x44]), bytes(24, 7)]),
  Buffer.concat([Buffer.from([0x80, 200, 0, 6, 0xde, 0xad, 0xbe, 0xef]), bytes(20, 8)]),
  Buffer.concat([
    Buffer.from([0x80, 200, 0, 6, 0xde, 0xad, 0xbe, 0xef]),
    bytes(20, 9),
    Buffer.from([0x81, 202, 0, 2, 0xde, 0xad, 0xbe, 0xef, 1, 0, 0, 0]),
  ]),
  Buffer.from([0x81, 206, 0, 2, 0x11, 0x22, 0x33, 0x44, 0xde, 0xad, 0xbe, 0xef]),
];

interface Run {
  rtpProtected: Buffer[];
  rtpUnprotected: Buffer[];
  rtcpProtected: Buffer[];
  rtcpUnprotected: Buffer[];
  tamperedRejected: boolean[];
  keyObjects: boolean;
}

/** Protects every packet with a session, and unprotects the peer's protected packets. */
function run(profile: number, saltLength: number): Run {
  const rtp = new SrtpSession({ profile, keys: keys(saltLength) });
  const rtcp = new SrtcpSession({ profile, keys: keys(saltLength) });
  const peerRtp = new SrtpSession({ profile, keys: peerKeys(saltLength) });
  const peerRtcp = new SrtcpSession({ profile, keys: peerKeys(saltLength) });
  const rtpProtected = RTP.map((p) => rtp.encrypt(p.payload, new RtpHeader(p.header)));
  const rtcpProtected = RTCP.map((p) => rtcp.encrypt(p));
  // What we receive: the peer protects with its local keys (our remote ones).
  const fromPeerRtp = RTP.map((p) => peerRtp.encrypt(p.payload, new RtpHeader(p.header)));
  const fromPeerRtcp = RTCP.map((p) => peerRtcp.encrypt(p));
  const rtpUnprotected = fromPeerRtp.map((p) => rtp.decrypt(p));
  const rtcpUnprotected = fromPeerRtcp.map((p) => rtcp.decrypt(p));
  const tamper = (b: Buffer) => {
    const t = Buffer.from(b);
    t[t.length - 1] = (t[t.length - 1] as number) ^ 1;
    return t;
  };
  const rejects = (f: () => unknown) => {
    try {
      f();
      return false;
    } catch {
      return true;
    }
  };
  const tamperedRejected = [
    rejects(() => rtp.decrypt(tamper(fromPeerRtp[5] as Buffer))),
    rejects(() => rtcp.decrypt(tamper(fromPeerRtcp[1] as Buffer))),
  ];
  return {
    rtpProtected,
    rtpUnprotected,
    rtcpProtected,
    rtcpUnprotected,
    tamperedRejected,
    keyObjects: [rtp, rtcp, peerRtp, peerRtcp].every(usesKeyObjects),
  };
}

const cipherProtos = () =>
  PROFILES.map(({ profile, saltLength }) => {
    const s = new SrtpSession({ profile, keys: keys(saltLength) });
    return Object.getPrototypeOf((s.localContext as unknown as { cipher: object }).cipher) as Record<
      string,
      unknown
    >;
  });
const methodsOf = (protos: Record<string, unknown>[]) =>
  protos.flatMap((p) => ["encryptRtp", "decryptRtp", "encryptRTCP", "decryptRTCP"].map((m) => p[m]));

const warnings: unknown[] = [];
const log = { warn: (...a: unknown[]) => warnings.push(a), debug: () => undefined };

const reference = new Map<string, Run>();
const pristine = methodsOf(cipherProtos());

test("reference output from werift's own SRTP code", () => {
  for (const p of PROFILES) {
    const r = run(p.profile, p.saltLength);
    assert.equal(r.keyObjects, false);
    assert.deepEqual(r.tamperedRejected, [true, true]);
    // Sanity: unprotect gives back the packets (werift's output is a packet, header included).
    for (const [i, buf] of r.rtcpUnprotected.entries()) assert.deepEqual(buf, RTCP[i]);
    reference.set(p.name, r);
  }
});

test("an unexpected werift shape: one warning, werift untouched", () => {
  warnings.length = 0;
  const empty: WeriftSrtpApi = {};
  assert.equal(installSrtpKeyCache(log, empty).state, "unsupported");
  assert.equal(installSrtpKeyCache(log, empty).state, "unsupported");
  assert.equal(warnings.length, 1, "warned once");
  // Sessions whose ciphers lack the expected fields (e.g. a version that keeps keys elsewhere).
  class OtherCipher {
    key = Buffer.alloc(16);
    encryptRtp() {}
    decryptRtp() {}
    encryptRTCP() {}
    decryptRTCP() {}
  }
  class OtherSession {
    localContext = { cipher: new OtherCipher() };
  }
  const other = { ...werift, SrtpSession: OtherSession, SrtcpSession: OtherSession } as WeriftSrtpApi;
  const s = installSrtpKeyCache(log, other);
  assert.equal(s.state, "unsupported");
  assert.match(s.state === "unsupported" ? s.reason : "", /srtpSessionKey/);
  // A self-test that fails once the methods are wrapped: everything is put back.
  let headers = 0;
  class FlakyHeader extends RtpHeader {
    constructor(props: Partial<RtpHeader>) {
      super(props);
      if (++headers > 6) throw new Error("flaky");
    }
  }
  const flaky = { ...werift, RtpHeader: FlakyHeader } as WeriftSrtpApi;
  const f = installSrtpKeyCache(log, flaky);
  assert.equal(f.state, "unsupported");
  assert.match(f.state === "unsupported" ? f.reason : "", /self-test failed/);
  assert.equal(warnings.length, 3);
  assert.deepEqual(methodsOf(cipherProtos()), pristine, "werift's methods restored");
  for (const p of PROFILES) assert.equal(run(p.profile, p.saltLength).keyObjects, false);
});

test("installed: byte-identical SRTP and SRTCP protect/unprotect for both profiles, with KeyObject keys", () => {
  warnings.length = 0;
  assert.deepEqual(installSrtpKeyCache(log), { state: "installed" });
  const wrapped = methodsOf(cipherProtos());
  assert.notDeepEqual(wrapped, pristine);
  // Idempotent: a second install (another media plane) wraps nothing more.
  assert.deepEqual(installSrtpKeyCache(log), { state: "installed" });
  assert.deepEqual(methodsOf(cipherProtos()), wrapped);
  assert.equal(warnings.length, 0);
  for (const p of PROFILES) {
    const ref = reference.get(p.name) as Run;
    const r = run(p.profile, p.saltLength);
    assert.equal(r.keyObjects, true, `${p.name}: the sessions use KeyObjects`);
    assert.deepEqual(r.rtpProtected, ref.rtpProtected, `${p.name}: SRTP protect`);
    assert.deepEqual(r.rtpUnprotected, ref.rtpUnprotected, `${p.name}: SRTP unprotect`);
    assert.deepEqual(r.rtcpProtected, ref.rtcpProtected, `${p.name}: SRTCP protect`);
    assert.deepEqual(r.rtcpUnprotected, ref.rtcpUnprotected, `${p.name}: SRTCP unprotect`);
    assert.deepEqual(r.tamperedRejected, [true, true], `${p.name}: authentication still checked`);
  }
});

test("uninstalled: werift's own methods again", () => {
  uninstallSrtpKeyCache();
  assert.deepEqual(methodsOf(cipherProtos()), pristine);
  for (const p of PROFILES) {
    const r = run(p.profile, p.saltLength);
    assert.equal(r.keyObjects, false);
    assert.deepEqual(r.rtpProtected, reference.get(p.name)?.rtpProtected);
  }
});
