import { createCipheriv, createHmac, createSecretKey, type KeyObject, randomBytes } from "node:crypto";

export interface SrtpCost {
  /** AES-128-CM + HMAC-SHA1-80 (RFC 3711), keys passed as Buffers (as werift does). */
  cm: number;
  /** AEAD AES-128-GCM (RFC 7714, what two werift peers negotiate), key passed as a Buffer. */
  gcm: number;
  /** The same two with keys made into KeyObjects once (createSecretKey) and reused. */
  cmKeyObject: number;
  gcmKeyObject: number;
}

/**
 * Baseline (b) of scenario 3: the raw cost of SRTP-protecting one packet with node:crypto the way a
 * straightforward implementation does it (a new cipher, and for CM a new HMAC, per packet).
 * Returns CPU microseconds per packet for the given mix of payload sizes. On Node 24 a Buffer key
 * costs ~10 us more per cipher/HMAC than a reused KeyObject (key import per call); on Node 20
 * both cost the same, so both variants are measured.
 */
export function srtpProtectCostUs(payloadSizes: readonly number[], packets = 20_000): SrtpCost {
  const key = randomBytes(16);
  const salt = randomBytes(14);
  const authKey = randomBytes(20);
  const gcmSalt = randomBytes(12);
  const keyObject = createSecretKey(key);
  const authKeyObject = createSecretKey(authKey);
  const header = Buffer.alloc(20, 0); // 12-byte RTP header + a one-byte-header extension carrying MID
  header[0] = 0x90;
  const payloads = payloadSizes.map((n) => randomBytes(n));
  const roc = Buffer.alloc(4);
  let sink = 0;

  const cm = (k: Buffer | KeyObject, ak: Buffer | KeyObject) => (seq: number, payload: Buffer) => {
    const iv = Buffer.alloc(16);
    salt.copy(iv, 0);
    iv.writeUInt32BE((iv.readUInt32BE(4) ^ 0x12345678) >>> 0, 4); // ^ SSRC
    iv.writeUInt16BE(iv.readUInt16BE(12) ^ seq, 12); // ^ index
    const c = createCipheriv("aes-128-ctr", k, iv);
    const enc = c.update(payload);
    const tag = createHmac("sha1", ak).update(header).update(enc).update(roc).digest();
    sink += Buffer.concat([header, enc, tag.subarray(0, 10)]).length;
  };
  const gcm = (k: Buffer | KeyObject) => (seq: number, payload: Buffer) => {
    const iv = Buffer.from(gcmSalt);
    iv.writeUInt16BE(iv.readUInt16BE(10) ^ seq, 10);
    const c = createCipheriv("aes-128-gcm", k, iv);
    c.setAAD(header);
    const enc = Buffer.concat([c.update(payload), c.final()]);
    sink += Buffer.concat([header, enc, c.getAuthTag()]).length;
  };

  const measure = (fn: (seq: number, p: Buffer) => void) => {
    for (let i = 0; i < Math.min(2000, packets); i++) fn(i, payloads[i % payloads.length] as Buffer); // warm-up
    const c0 = process.cpuUsage();
    for (let i = 0; i < packets; i++) fn(i & 0xffff, payloads[i % payloads.length] as Buffer);
    const c = process.cpuUsage(c0);
    return (c.user + c.system) / packets;
  };
  const result = {
    cm: measure(cm(key, authKey)),
    gcm: measure(gcm(key)),
    cmKeyObject: measure(cm(keyObject, authKeyObject)),
    gcmKeyObject: measure(gcm(keyObject)),
  };
  if (sink < 0) console.log(sink);
  return result;
}
