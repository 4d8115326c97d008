import assert from "node:assert/strict";
import { createCipheriv, createHmac, randomBytes } from "node:crypto";
import { describe, it } from "node:test";
import {
  ProtectionProfileAeadAes128Gcm,
  ProtectionProfileAes128CmHmacSha1_80,
  RtpHeader,
  SrtcpSession,
  SrtpSession,
} from "werift";
import {
  deriveSrtpSessionKeys,
  SRTP_AEAD_AES_128_GCM,
  SRTP_AES128_CM_HMAC_SHA1_80,
  SRTP_REJECT_AUTH,
  SRTP_REJECT_REPLAY,
  SrtcpUnprotector,
  type SrtpProfile,
  SrtpProtector,
  SrtpUnprotector,
} from "../../src/media/werift/srtp-context.ts";

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ""), "hex");

/** A werift SRTP session with both directions keyed by (key, salt): the publisher and werift's receiver. */
function weriftSession(profile: SrtpProfile, key: Buffer, salt: Buffer) {
  const wp =
    profile === SRTP_AEAD_AES_128_GCM ? ProtectionProfileAeadAes128Gcm : ProtectionProfileAes128CmHmacSha1_80;
  return new SrtpSession({
    profile: wp,
    keys: { localMasterKey: key, localMasterSalt: salt, remoteMasterKey: key, remoteMasterSalt: salt },
  });
}

const PROFILES = [
  ["AEAD_AES_128_GCM", SRTP_AEAD_AES_128_GCM, 12],
  ["AES128_CM_HMAC_SHA1_80", SRTP_AES128_CM_HMAC_SHA1_80, 14],
] as const;

/** One SRTP packet from a werift sender. */
function packet(sender: SrtpSession, seq: number, payload: Buffer, extra: Partial<RtpHeader> = {}): Buffer {
  const header = new RtpHeader({
    payloadType: 96,
    sequenceNumber: seq,
    timestamp: seq * 3000,
    ssrc: 0x1234,
    ...extra,
  });
  return sender.encrypt(payload, header);
}

describe("SRTP unprotect: RFC test vectors", () => {
  it("decrypts the AEAD_AES_128_GCM packet of RFC 7714 section 16.1.1 in place", () => {
    const u = new SrtpUnprotector(SRTP_AEAD_AES_128_GCM, {
      key: hex("000102030405060708090a0b0c0d0e0f"),
      salt: hex("517569642070726f2071756f"),
    });
    const srtp = hex(
      "8040f17b 8041f8d3 5501a0b2 f24de3a3 fb34de6c acba861c 9d7e4bca be633bd5 0d294e6f 42a5f47a" +
        "51c7d19b 36de3adf 8833 899d7f27 beb16a91 52cf765e e4390cce",
    );
    const n = u.unprotect(srtp);
    assert.equal(
      srtp.subarray(0, n).toString("hex"),
      hex(
        "8040f17b 8041f8d3 5501a0b2 47616c6c 69612065 7374206f 6d6e6973 20646976 69736120 696e2070 61727465 73207472 6573",
      ).toString("hex"),
    );
  });

  it("decrypts with the AES-CM keystream of RFC 3711 appendix B.2 and checks HMAC-SHA1-80 (B.3 keys)", () => {
    const keys = deriveSrtpSessionKeys(
      SRTP_AES128_CM_HMAC_SHA1_80,
      hex("E1F97A0D3E018BE0D64FA32C06DE4139"),
      hex("0EC675AD498AFEEBB6960B3AABE6"),
    );
    const u = new SrtpUnprotector(SRTP_AES128_CM_HMAC_SHA1_80, {
      key: hex("2B7E151628AED2A6ABF7158809CF4F3C"),
      salt: hex("F0F1F2F3F4F5F6F7F8F9FAFBFCFD"),
      auth: keys.auth as Buffer,
    });
    // SSRC 0, index 0: the ciphertext of 48 zero bytes is B.2's keystream; the tag is computed here.
    const header = Buffer.from([0x80, 96, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    const keystream = hex(
      "e03ead0935c95e80e166b16dd92b4eb4d23513162b02d0f72a43a2fe4a5f97ab41e95b3bb0a2e8dd477901e4fca894c0",
    );
    const body = Buffer.concat([header, keystream]);
    const tag = createHmac("sha1", keys.auth as Buffer)
      .update(body)
      .update(Buffer.alloc(4))
      .digest()
      .subarray(0, 10);
    const srtp = Buffer.concat([body, tag]);
    const n = u.unprotect(srtp);
    assert.equal(n, 60);
    assert.deepEqual(srtp.subarray(12, n), Buffer.alloc(48));
  });

  it("a keystream made independently with node:crypto AES-CTR gives the same plaintext", () => {
    const keys = { key: randomBytes(16), salt: randomBytes(14), auth: randomBytes(20) };
    const p = new SrtpProtector(SRTP_AES128_CM_HMAC_SHA1_80, keys);
    const u = new SrtpUnprotector(SRTP_AES128_CM_HMAC_SHA1_80, keys);
    const header = Buffer.from([0x80, 96, 0x12, 0x34, 0, 0, 0, 1, 0xca, 0xfe, 0xba, 0xbe]);
    const payload = randomBytes(333);
    const srtp = p.protect(header, 12, payload, 0xcafebabe, 0x1234, 0);
    // IV = salt XOR SSRC << 64 XOR index << 16.
    const iv = Buffer.alloc(16);
    keys.salt.copy(iv);
    iv.writeUInt32BE((iv.readUInt32BE(4) ^ 0xcafebabe) >>> 0, 4);
    iv.writeUInt16BE(iv.readUInt16BE(12) ^ 0x1234, 12);
    const ks = createCipheriv("aes-128-ctr", keys.key, iv).update(Buffer.alloc(333));
    const n = u.unprotect(srtp);
    assert.deepEqual(srtp.subarray(12, n), payload);
    assert.deepEqual(
      Buffer.from(payload.map((b, i) => b ^ (ks[i] as number))),
      p.protect(header, 12, payload, 0xcafebabe, 0x1234, 0).subarray(12, 345),
    );
  });
});

describe("SRTP unprotect: byte-identical to werift 0.25.2's decrypt", () => {
  for (const [name, profile, saltLength] of PROFILES) {
    it(`${name}: every packet across a sequence wrap (CSRCs, extensions, padding) as werift decrypts it`, () => {
      const key = randomBytes(16);
      const salt = randomBytes(saltLength);
      const sender = weriftSession(profile, key, salt);
      const werift = weriftSession(profile, key, salt);
      const ours = SrtpUnprotector.fromMaster(profile, key, salt);
      for (let i = 0; i < 14; i++) {
        const seq = (65528 + i) % 0x10000;
        const extra: Partial<RtpHeader> = {
          marker: i % 3 === 0,
          ...(i % 2 === 0
            ? {
                extensions: [
                  { id: 1, payload: Buffer.from("a") },
                  { id: 3, payload: randomBytes(3) },
                ],
              }
            : {}),
          ...(i % 5 === 1 ? { csrc: [0x01020304, 0x05060708], csrcLength: 2 } : {}),
        };
        let payload = randomBytes(50 + i * 91);
        if (i % 4 === 2) {
          // RFC 3550 padding: the last byte counts the padding bytes.
          payload = Buffer.concat([payload, Buffer.from([0, 0, 3])]);
          extra.padding = true;
        }
        const srtp = packet(sender, seq, payload, extra);
        const expected = werift.decrypt(Buffer.from(srtp));
        const n = ours.unprotect(srtp);
        assert.ok(n > 0, `packet ${i} accepted`);
        assert.equal(
          srtp.subarray(0, n).toString("hex"),
          expected.toString("hex"),
          `packet ${i} (seq ${seq})`,
        );
      }
      assert.equal(ours.rocOf(0x1234), 1, "one rollover");
      assert.equal(ours.authFailures + ours.replays, 0);
    });
  }
});

describe("SRTP unprotect: index estimation, replay window, authentication", () => {
  for (const [name, profile, saltLength] of PROFILES) {
    it(`${name}: a late packet from before the wrap is decrypted with the previous ROC`, () => {
      const key = randomBytes(16);
      const salt = randomBytes(saltLength);
      const sender = weriftSession(profile, key, salt);
      const ours = SrtpUnprotector.fromMaster(profile, key, salt);
      const sent = new Map<number, { srtp: Buffer; payload: Buffer }>();
      for (const seq of [65533, 65534, 65535, 0, 1, 2]) {
        const payload = randomBytes(80);
        sent.set(seq, { srtp: packet(sender, seq, payload), payload });
      }
      for (const seq of [65533, 65535, 0, 1, 2]) {
        const p = sent.get(seq) as { srtp: Buffer; payload: Buffer };
        const n = ours.unprotect(p.srtp);
        assert.deepEqual(p.srtp.subarray(12, n), p.payload, `seq ${seq}`);
      }
      const late = sent.get(65534) as { srtp: Buffer; payload: Buffer };
      const n = ours.unprotect(late.srtp);
      assert.ok(n > 0, "the packet skipped before the wrap is authenticated with ROC 0");
      assert.deepEqual(late.srtp.subarray(12, n), late.payload);
      assert.equal(ours.rocOf(0x1234), 1, "the late packet did not move the ROC back");
    });

    it(`${name}: a replayed packet and one older than the window are rejected and counted`, () => {
      const key = randomBytes(16);
      const salt = randomBytes(saltLength);
      const sender = weriftSession(profile, key, salt);
      const ours = SrtpUnprotector.fromMaster(profile, key, salt, 64);
      const packets: Buffer[] = [];
      for (let seq = 1000; seq < 1100; seq++) packets.push(packet(sender, seq, randomBytes(40)));
      const first = Buffer.from(packets[0] as Buffer);
      assert.ok(ours.unprotect(Buffer.from(first)) > 0);
      assert.equal(ours.unprotect(Buffer.from(first)), SRTP_REJECT_REPLAY, "the same packet again");
      // Skip 1001..1010, receive up to 1099: 1036 is 63 behind (inside the window), 1035 is 64 behind.
      for (let i = 11; i < 100; i++) assert.ok(ours.unprotect(Buffer.from(packets[i] as Buffer)) > 0);
      assert.equal(
        ours.unprotect(Buffer.from(packets[36] as Buffer)),
        SRTP_REJECT_REPLAY,
        "already received",
      );
      assert.ok(ours.unprotect(Buffer.from(packets[10] as Buffer)) < 0, "seq 1010 is older than the window");
      const lost = packets[5] as Buffer;
      assert.equal(ours.unprotect(Buffer.from(lost)), SRTP_REJECT_REPLAY, "older than the window");
      assert.equal(ours.replays, 4);
      assert.equal(ours.authFailures, 0);

      // With the default window (1024) a retransmission 90 packets late is accepted once.
      const wide = SrtpUnprotector.fromMaster(profile, key, salt);
      for (let i = 0; i < 100; i++)
        if (i !== 7) assert.ok(wide.unprotect(Buffer.from(packets[i] as Buffer)) > 0);
      assert.ok(wide.unprotect(Buffer.from(packets[7] as Buffer)) > 0, "the retransmitted packet");
      assert.equal(wide.unprotect(Buffer.from(packets[7] as Buffer)), SRTP_REJECT_REPLAY, "but only once");
    });

    it(`${name}: a packet that fails authentication is rejected unchanged, counted, and moves no state`, () => {
      const key = randomBytes(16);
      const salt = randomBytes(saltLength);
      const sender = weriftSession(profile, key, salt);
      const ours = SrtpUnprotector.fromMaster(profile, key, salt);
      assert.ok(ours.unprotect(packet(sender, 40000, randomBytes(60))) > 0);
      // Seq 7000 after 40000 is taken for the next ROC: authentic, it would move s_l and the ROC.
      const forged = packet(sender, 7000, randomBytes(60));
      forged[20] = (forged[20] as number) ^ 1;
      const copy = Buffer.from(forged);
      assert.equal(ours.unprotect(forged), SRTP_REJECT_AUTH);
      assert.deepEqual(forged, copy, "left as it arrived");
      const wrongKey = SrtpUnprotector.fromMaster(profile, randomBytes(16), salt);
      assert.equal(wrongKey.unprotect(packet(sender, 11, randomBytes(60))), SRTP_REJECT_AUTH);
      assert.equal(ours.unprotect(Buffer.alloc(20, 0x80)), SRTP_REJECT_AUTH, "too short");
      assert.equal(ours.authFailures, 2);
      // The forged packet moved nothing: seq 40001 is still ROC 0, next to 40000.
      const payload = randomBytes(60);
      const next = packet(sender, 40001, payload);
      const n = ours.unprotect(next);
      assert.deepEqual(next.subarray(12, n), payload);
      assert.equal(ours.rocOf(0x1234), 0);
    });
  }
});

/** A werift SRTCP session with both directions keyed by (key, salt). */
function weriftSrtcp(profile: SrtpProfile, key: Buffer, salt: Buffer) {
  const wp =
    profile === SRTP_AEAD_AES_128_GCM ? ProtectionProfileAeadAes128Gcm : ProtectionProfileAes128CmHmacSha1_80;
  return new SrtcpSession({
    profile: wp,
    keys: { localMasterKey: key, localMasterSalt: salt, remoteMasterKey: key, remoteMasterSalt: salt },
  });
}

/** A compound RTCP packet: receiver report (one block) + PLI, from `ssrc`. */
function rtcp(ssrc: number, n: number): Buffer {
  const rr = Buffer.alloc(32);
  rr.writeUInt8(0x81, 0);
  rr.writeUInt8(201, 1);
  rr.writeUInt16BE(7, 2);
  rr.writeUInt32BE(ssrc, 4);
  rr.writeUInt32BE(0xabcdef01, 8);
  rr.writeUInt32BE(n, 12);
  const pli = Buffer.from([0x81, 206, 0, 2, 0, 0, 0, 0, 0xab, 0xcd, 0xef, 0x01]);
  pli.writeUInt32BE(ssrc, 4);
  return Buffer.concat([rr, pli]);
}

describe("SRTCP unprotect", () => {
  for (const [name, profile, saltLength] of PROFILES) {
    it(`${name}: byte-identical to werift's SRTCP decrypt, in place; replays and forgeries rejected`, () => {
      const key = randomBytes(16);
      const salt = randomBytes(saltLength);
      const sender = weriftSrtcp(profile, key, salt);
      const werift = weriftSrtcp(profile, key, salt);
      const ours = SrtcpUnprotector.fromMaster(profile, key, salt);
      const sent: Buffer[] = [];
      for (let i = 0; i < 20; i++) {
        const plain = rtcp(0x5151 + (i % 2), i);
        const srtcp = sender.encrypt(plain);
        sent.push(Buffer.from(srtcp));
        const expected = werift.decrypt(Buffer.from(srtcp));
        const n = ours.unprotect(srtcp);
        assert.ok(n > 0, `packet ${i}`);
        assert.equal(srtcp.subarray(0, n).toString("hex"), expected.toString("hex"), `packet ${i}`);
        assert.deepEqual(srtcp.subarray(0, n), plain);
      }
      assert.equal(ours.unprotect(Buffer.from(sent[3] as Buffer)), SRTP_REJECT_REPLAY);
      const forged = Buffer.from(sender.encrypt(rtcp(0x5151, 99)));
      forged[12] = (forged[12] as number) ^ 0x10;
      const copy = Buffer.from(forged);
      assert.equal(ours.unprotect(forged), SRTP_REJECT_AUTH);
      assert.deepEqual(forged, copy, "left as it arrived");
      assert.equal(ours.unprotect(Buffer.alloc(12, 0x80)), SRTP_REJECT_AUTH, "too short");
      assert.equal(ours.replays, 1);
      assert.equal(ours.authFailures, 2);
      const next = sender.encrypt(rtcp(0x5151, 100));
      assert.ok(ours.unprotect(next) > 0, "a forgery moves no state");
    });
  }
});
