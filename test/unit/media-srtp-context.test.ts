import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, it } from "node:test";
import {
  ProtectionProfileAeadAes128Gcm,
  ProtectionProfileAes128CmHmacSha1_80,
  RtpHeader,
  SrtpSession,
} from "werift";
import {
  deriveSrtpSessionKeys,
  RocState,
  SRTP_AEAD_AES_128_GCM,
  SRTP_AES128_CM_HMAC_SHA1_80,
  type SrtpProfile,
  SrtpProtector,
} from "../../src/media/werift/srtp-context.ts";
import { HeaderTemplate } from "../../src/media/werift/track-forwarder.ts";

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ""), "hex");

describe("SRTP context: RFC test vectors", () => {
  it("derives the session keys of RFC 3711 appendix B.3", () => {
    const k = deriveSrtpSessionKeys(
      SRTP_AES128_CM_HMAC_SHA1_80,
      hex("E1F97A0D3E018BE0D64FA32C06DE4139"),
      hex("0EC675AD498AFEEBB6960B3AABE6"),
    );
    assert.equal(k.key.toString("hex"), "c61e7a93744f39ee10734afe3ff7a087");
    assert.equal(k.salt.toString("hex"), "30cbbc08863d8c85d49db34a9ae1");
    assert.equal(k.auth?.toString("hex"), "cebe321f6ff7716b6fd4ab49af256a156d38baa4");
  });

  it("encrypts with the AES-CM keystream of RFC 3711 appendix B.2 (SSRC 0, index 0)", () => {
    const p = new SrtpProtector(SRTP_AES128_CM_HMAC_SHA1_80, {
      key: hex("2B7E151628AED2A6ABF7158809CF4F3C"),
      salt: hex("F0F1F2F3F4F5F6F7F8F9FAFBFCFD"),
      auth: Buffer.alloc(20, 1),
    });
    const header = Buffer.from([0x80, 96, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    const out = p.protect(header, 12, Buffer.alloc(48), 0, 0, 0);
    assert.equal(out.length, 12 + 48 + 10);
    assert.equal(
      out.subarray(12, 60).toString("hex"),
      "e03ead0935c95e80e166b16dd92b4eb4d23513162b02d0f72a43a2fe4a5f97ab41e95b3bb0a2e8dd477901e4fca894c0",
    );
  });

  it("protects the AEAD_AES_128_GCM packet of RFC 7714 section 16.1.1", () => {
    const p = new SrtpProtector(SRTP_AEAD_AES_128_GCM, {
      key: hex("000102030405060708090a0b0c0d0e0f"),
      salt: hex("517569642070726f2071756f"),
    });
    const header = hex("8040f17b 8041f8d3 5501a0b2");
    const payload = hex(
      "47616c6c 69612065 7374206f 6d6e6973 20646976 69736120 696e2070 61727465 73207472 6573",
    );
    const out = p.protect(header, 12, payload, 0x5501a0b2, 0xf17b, 0);
    assert.equal(
      out.toString("hex"),
      hex(
        "8040f17b 8041f8d3 5501a0b2 f24de3a3 fb34de6c acba861c 9d7e4bca be633bd5 0d294e6f 42a5f47a" +
          "51c7d19b 36de3adf 8833 899d7f27 beb16a91 52cf765e e4390cce",
      ).toString("hex"),
    );
  });
});

/** A werift SRTP session whose local keys are (key, salt): what the listener connection would use. */
function weriftSession(profile: SrtpProfile, key: Buffer, salt: Buffer) {
  const wp =
    profile === SRTP_AEAD_AES_128_GCM ? ProtectionProfileAeadAes128Gcm : ProtectionProfileAes128CmHmacSha1_80;
  return new SrtpSession({
    profile: wp,
    keys: { localMasterKey: key, localMasterSalt: salt, remoteMasterKey: key, remoteMasterSalt: salt },
  });
}

describe("SRTP context: byte-identical to werift 0.25.2", () => {
  for (const [name, profile, saltLength] of [
    ["AEAD_AES_128_GCM", SRTP_AEAD_AES_128_GCM, 12],
    ["AES128_CM_HMAC_SHA1_80", SRTP_AES128_CM_HMAC_SHA1_80, 14],
  ] as const) {
    it(`${name}: same datagrams as werift's SrtpSession across a sequence wrap, and werift decrypts them`, () => {
      const key = randomBytes(16);
      const salt = randomBytes(saltLength);
      const theirs = weriftSession(profile, key, salt);
      const receiver = weriftSession(profile, key, salt);
      const ours = SrtpProtector.fromMaster(profile, key, salt);
      const roc = new RocState();
      const ssrc = 0xdeadbeef;
      const template = new HeaderTemplate(96, ssrc, { id: 1, value: "1" });
      let ts = 0xfffff000;
      for (let i = 0; i < 12; i++) {
        const seq = (65530 + i) % 0x10000;
        ts = (ts + 3000) % 0x100000000;
        const marker = i % 4 === 3;
        const payload = randomBytes(100 + i * 97);
        const header = new RtpHeader({
          payloadType: 96,
          sequenceNumber: seq,
          timestamp: ts,
          ssrc,
          marker,
          extensions: [{ id: 1, payload: Buffer.from("1") }],
        });
        const expected = theirs.encrypt(payload, header);
        const hdr = template.write(marker, seq, ts);
        assert.deepEqual(hdr, header.serialize(header.serializeSize), "header template = werift's header");
        const actual = ours.protect(hdr, hdr.length, payload, ssrc, seq, roc.next(seq));
        assert.equal(actual.toString("hex"), expected.toString("hex"), `packet ${i} (seq ${seq})`);
        const plain = receiver.decrypt(actual);
        assert.deepEqual(plain.subarray(hdr.length), payload);
      }
      assert.equal(roc.roc, 1, "one rollover");
    });
  }
});

describe("RocState (RFC 3711 3.3.1 for a sender)", () => {
  it("counts rollovers and gives a late packet from before the wrap the previous ROC", () => {
    const r = new RocState();
    assert.equal(r.next(65534), 0);
    assert.equal(r.next(65535), 0);
    assert.equal(r.next(0), 1);
    assert.equal(r.next(1), 1);
    assert.equal(r.next(65533), 0, "late packet from before the wrap");
    assert.equal(r.next(2), 1, "the state did not move back");
    assert.equal(r.roc, 1);
  });

  it("never goes below 0 for a packet older than the first one", () => {
    const r = new RocState();
    assert.equal(r.next(5), 0);
    assert.equal(r.next(65530), 0);
    assert.equal(r.next(6), 0);
  });

  it("keeps counting over many wraps, one packet in 1000", () => {
    const r = new RocState();
    let seq = 40000;
    let expectedRoc = 0;
    for (let i = 0; i < 1000; i++) {
      const next = (seq + 1000) % 0x10000;
      if (next < seq) expectedRoc++;
      seq = next;
      assert.equal(r.next(seq), expectedRoc);
    }
    assert.ok(expectedRoc > 10);
  });
});
