import { createCipheriv, createDecipheriv, createHmac, createSecretKey, type KeyObject } from "node:crypto";

/**
 * The sending half of an SRTP session, owned by this project: one per listener connection, keyed once
 * from the DTLS-SRTP master key and salt werift's handshake exported. Session keys are derived here
 * (RFC 3711 section 4.3, key derivation rate 0) and held as KeyObjects, so no key is imported per
 * packet; the rollover counter of each outgoing SSRC is ours (RocState). SrtpUnprotector is the
 * receiving half (publishers' RTP: RFC 3711 index estimation, replay window, authentication) and
 * SrtcpUnprotector that of RTCP (every connection's incoming SRTCP). Sending SRTCP stays werift's.
 *
 * Profiles: SRTP_AES128_CM_HMAC_SHA1_80 (RFC 3711) and SRTP_AEAD_AES_128_GCM (RFC 7714), the two
 * werift 0.25.2 negotiates. Checked against the RFCs' test vectors and byte for byte against werift's
 * own SrtpSession (test/unit/media-srtp-context.test.ts).
 */
export const SRTP_AES128_CM_HMAC_SHA1_80 = 0x0001;
export const SRTP_AEAD_AES_128_GCM = 0x0007;
export type SrtpProfile = typeof SRTP_AES128_CM_HMAC_SHA1_80 | typeof SRTP_AEAD_AES_128_GCM;

/** Master key and salt lengths of a profile (RFC 5764 / RFC 7714). */
export function srtpKeyLengths(profile: SrtpProfile): { key: number; salt: number } {
  return profile === SRTP_AEAD_AES_128_GCM ? { key: 16, salt: 12 } : { key: 16, salt: 14 };
}

export function isSrtpProfile(p: unknown): p is SrtpProfile {
  return p === SRTP_AES128_CM_HMAC_SHA1_80 || p === SRTP_AEAD_AES_128_GCM;
}

/** Session keys (RFC 3711 section 4.3 labels 0, 1, 2 for SRTP). */
export interface SrtpSessionKeys {
  key: Buffer;
  /** 14 bytes (AES-CM) or 12 bytes (GCM). */
  salt: Buffer;
  /** 20-byte HMAC-SHA1 key (AES-CM only). */
  auth?: Buffer;
}

/**
 * RFC 3711 section 4.3.1 with key_derivation_rate 0: AES-CM of (master_salt XOR label << 48) * 2^16
 * under the master key. A 12-byte (GCM) master salt is padded with zeros to 14 bytes, as libsrtp and
 * werift do.
 */
export function deriveSrtpSessionKeys(
  profile: SrtpProfile,
  masterKey: Buffer,
  masterSalt: Buffer,
): SrtpSessionKeys {
  return deriveWithLabels(profile, masterKey, masterSalt, 0x00, 0x01, 0x02);
}

function deriveWithLabels(
  profile: SrtpProfile,
  masterKey: Buffer,
  masterSalt: Buffer,
  keyLabel: number,
  authLabel: number,
  saltLabel: number,
): SrtpSessionKeys {
  const salt14 = Buffer.alloc(14);
  masterSalt.copy(salt14, 0, 0, Math.min(14, masterSalt.length));
  const prf = (label: number, length: number): Buffer => {
    const iv = Buffer.alloc(16);
    salt14.copy(iv);
    iv[7] = (iv[7] ?? 0) ^ label;
    const cipher = createCipheriv("aes-128-ctr", masterKey, iv);
    return Buffer.concat([cipher.update(Buffer.alloc(length)), cipher.final()]);
  };
  const saltLength = profile === SRTP_AEAD_AES_128_GCM ? 12 : 14;
  return {
    key: prf(keyLabel, 16),
    salt: prf(saltLabel, 14).subarray(0, saltLength),
    ...(profile === SRTP_AES128_CM_HMAC_SHA1_80 ? { auth: prf(authLabel, 20) } : {}),
  };
}

/**
 * Rollover counter of one outgoing SSRC (RFC 3711 section 3.3.1, as a sender that may forward packets
 * out of order): the index of a sequence number is estimated against the highest one sent so far,
 * so a late packet from before a wrap keeps the previous ROC and does not move the state.
 */
export class RocState {
  #roc = 0;
  #highest = -1;

  /** The ROC to protect `seq` with; updates the state when `seq` is the newest so far. */
  next(seq: number): number {
    const s = this.#highest;
    if (s < 0) {
      this.#highest = seq;
      return this.#roc;
    }
    let roc = this.#roc;
    if (s < 0x8000) {
      if (seq - s > 0x8000) roc = this.#roc - 1; // from before the last wrap
    } else if (s - 0x8000 > seq) {
      roc = this.#roc + 1; // wrapped
    }
    if (roc < 0) return 0; // before the first packet of the stream: nothing older was ever sent
    if (roc > this.#roc || (roc === this.#roc && seq > s)) {
      this.#roc = roc >>> 0;
      this.#highest = seq;
    }
    return roc >>> 0;
  }

  get roc(): number {
    return this.#roc;
  }
}

/**
 * Protects RTP for one SRTP session (one listener connection). `protect` allocates only what
 * node:crypto returns (cipher output, tag) and the datagram itself; IVs and counters are reused
 * buffers (createCipheriv copies them).
 */
export class SrtpProtector {
  readonly profile: SrtpProfile;
  /** Bytes added to each packet: the GCM tag (16) or the truncated HMAC-SHA1 (10). */
  readonly overhead: number;
  readonly #key: KeyObject;
  readonly #salt: Buffer;
  readonly #auth: KeyObject | undefined;
  readonly #gcm: boolean;
  readonly #iv: Buffer;
  readonly #rocBytes = Buffer.alloc(4);

  constructor(profile: SrtpProfile, session: SrtpSessionKeys) {
    this.profile = profile;
    this.#gcm = profile === SRTP_AEAD_AES_128_GCM;
    if (session.key.length !== 16) throw new Error("SRTP session key must be 16 bytes");
    if (session.salt.length < (this.#gcm ? 12 : 14)) throw new Error("SRTP session salt too short");
    this.#key = createSecretKey(Buffer.from(session.key));
    this.#salt = Buffer.from(session.salt.subarray(0, this.#gcm ? 12 : 14));
    if (!this.#gcm) {
      if (session.auth?.length !== 20 || !session.auth) throw new Error("AES-CM needs a 20-byte auth key");
      this.#auth = createSecretKey(Buffer.from(session.auth));
    }
    this.overhead = this.#gcm ? 16 : 10;
    this.#iv = Buffer.alloc(this.#gcm ? 12 : 16);
  }

  /** From the DTLS-SRTP master key and salt (the local side's, for sending). */
  static fromMaster(profile: SrtpProfile, masterKey: Buffer, masterSalt: Buffer): SrtpProtector {
    return new SrtpProtector(profile, deriveSrtpSessionKeys(profile, masterKey, masterSalt));
  }

  /**
   * Returns the SRTP datagram for an RTP packet whose plaintext header is `header[0, headerLength)`
   * and payload `payload`: header || encrypted payload || tag. `roc` is the stream's rollover counter
   * for this packet (RocState.next).
   */
  protect(
    header: Buffer,
    headerLength: number,
    payload: Buffer,
    ssrc: number,
    seq: number,
    roc: number,
  ): Buffer {
    const iv = this.#iv;
    const salt = this.#salt;
    const out = Buffer.allocUnsafe(headerLength + payload.length + this.overhead);
    header.copy(out, 0, 0, headerLength);
    if (this.#gcm) {
      // RFC 7714 section 8.1: IV = (0x0000 || SSRC || ROC || SEQ) XOR salt.
      iv[0] = salt[0] as number;
      iv[1] = salt[1] as number;
      iv.writeUInt32BE((ssrc ^ salt.readUInt32BE(2)) >>> 0, 2);
      iv.writeUInt32BE((roc ^ salt.readUInt32BE(6)) >>> 0, 6);
      iv.writeUInt16BE((seq ^ salt.readUInt16BE(10)) & 0xffff, 10);
      const cipher = createCipheriv("aes-128-gcm", this.#key, iv);
      cipher.setAAD(headerLength === header.length ? header : out.subarray(0, headerLength));
      const enc = cipher.update(payload);
      cipher.final();
      enc.copy(out, headerLength);
      cipher.getAuthTag().copy(out, headerLength + enc.length);
      return out;
    }
    // RFC 3711 section 4.1.1: IV = (salt * 2^16) XOR (SSRC * 2^64) XOR (index * 2^16).
    salt.copy(iv, 0, 0, 14);
    iv.writeUInt32BE((ssrc ^ salt.readUInt32BE(4)) >>> 0, 4);
    iv.writeUInt32BE((roc ^ salt.readUInt32BE(8)) >>> 0, 8);
    iv.writeUInt16BE((seq ^ salt.readUInt16BE(12)) & 0xffff, 12);
    iv[14] = 0;
    iv[15] = 0;
    const cipher = createCipheriv("aes-128-ctr", this.#key, iv);
    const enc = cipher.update(payload);
    enc.copy(out, headerLength);
    const end = headerLength + enc.length;
    this.#rocBytes.writeUInt32BE(roc >>> 0, 0);
    const tag = createHmac("sha1", this.#auth as KeyObject)
      .update(out.subarray(0, end))
      .update(this.#rocBytes)
      .digest();
    tag.copy(out, end, 0, 10);
    return out;
  }
}

/** Why SrtpUnprotector.unprotect rejected a packet (negative return values). */
export const SRTP_REJECT_AUTH = -1;
export const SRTP_REJECT_REPLAY = -2;

/** Per incoming SSRC: RFC 3711 section 3.3.1 (s_l, ROC) and the replay window of section 3.3.2. */
class ReceiveStream {
  roc = 0;
  /** s_l: the highest sequence number authenticated so far. */
  highestSeq: number;
  /** Index (2^16 * ROC + SEQ) of s_l; below 2^48, exact in a double. */
  highestIndex: number;
  /** Bit (index mod window) set when that index was received, for the `window` indices up to highestIndex. */
  readonly seen: Uint32Array;

  constructor(seq: number, window: number) {
    this.highestSeq = seq;
    this.highestIndex = -1;
    this.seen = new Uint32Array(window >>> 5);
  }
}

/**
 * Unprotects the SRTP packets of one SRTP session (a publisher connection), in place: the decrypted
 * payload is written over the ciphertext of the datagram it arrived in (node:crypto's output is the
 * only allocation), so the plain packet is `packet.subarray(0, length)`. Keys are KeyObjects made once.
 *
 * Per SSRC: the packet index is estimated from the highest authenticated sequence number and the ROC
 * (RFC 3711 appendix A), the state moves only for authenticated packets, and a replay window (section
 * 3.3.2) rejects indices already received or older than the window. The window defaults to 1024
 * packets, not the RFC's minimum of 64: a NACKed packet's retransmission on the same SSRC (simulcast
 * publishers send no RTX) arrives a round trip later, and a keyframe burst is longer than 64 packets
 * (libwebrtc uses 1024 for the same reason).
 */
export class SrtpUnprotector {
  readonly profile: SrtpProfile;
  readonly overhead: number;
  readonly window: number;
  readonly #key: KeyObject;
  readonly #salt: Buffer;
  readonly #auth: KeyObject | undefined;
  readonly #gcm: boolean;
  readonly #iv: Buffer;
  readonly #rocBytes = Buffer.alloc(4);
  readonly #streams = new Map<number, ReceiveStream>();
  /** Rejected packets since creation (plain counters; the owner folds them into metrics). */
  authFailures = 0;
  replays = 0;

  constructor(profile: SrtpProfile, session: SrtpSessionKeys, window = 1024) {
    if (window < 64 || window % 32 !== 0)
      throw new Error("SRTP replay window must be a multiple of 32, >= 64");
    this.profile = profile;
    this.window = window;
    this.#gcm = profile === SRTP_AEAD_AES_128_GCM;
    if (session.key.length !== 16) throw new Error("SRTP session key must be 16 bytes");
    if (session.salt.length < (this.#gcm ? 12 : 14)) throw new Error("SRTP session salt too short");
    this.#key = createSecretKey(Buffer.from(session.key));
    this.#salt = Buffer.from(session.salt.subarray(0, this.#gcm ? 12 : 14));
    if (!this.#gcm) {
      if (session.auth?.length !== 20 || !session.auth) throw new Error("AES-CM needs a 20-byte auth key");
      this.#auth = createSecretKey(Buffer.from(session.auth));
    }
    this.overhead = this.#gcm ? 16 : 10;
    this.#iv = Buffer.alloc(this.#gcm ? 12 : 16);
  }

  /** From the DTLS-SRTP master key and salt (the remote side's, for receiving). */
  static fromMaster(
    profile: SrtpProfile,
    masterKey: Buffer,
    masterSalt: Buffer,
    window?: number,
  ): SrtpUnprotector {
    return new SrtpUnprotector(profile, deriveSrtpSessionKeys(profile, masterKey, masterSalt), window);
  }

  /**
   * Authenticates and decrypts an SRTP packet in place. Returns the length of the plain RTP packet
   * (header + payload, padding included) now at the start of `packet`, or SRTP_REJECT_AUTH (too short,
   * malformed, wrong tag or bad padding: `packet` unchanged) or SRTP_REJECT_REPLAY.
   */
  unprotect(packet: Buffer): number {
    const tagLength = this.overhead;
    const length = packet.length;
    if (length < 12 + tagLength || packet[0] === undefined || (packet[0] & 0xc0) !== 0x80)
      return this.#reject();
    const first = packet[0];
    let offset = 12 + 4 * (first & 0x0f);
    if ((first & 0x10) !== 0) {
      if (offset + 4 > length - tagLength) return this.#reject();
      offset += 4 + 4 * packet.readUInt16BE(offset + 2);
    }
    const end = length - tagLength;
    if (offset > end) return this.#reject();
    const seq = packet.readUInt16BE(2);
    const ssrc = packet.readUInt32BE(8);
    const stream = this.#streams.get(ssrc);
    // RFC 3711 appendix A: the ROC this packet was most probably sent with.
    let roc = 0;
    if (stream !== undefined) {
      const sl = stream.highestSeq;
      roc = stream.roc;
      if (sl < 0x8000) {
        if (seq - sl > 0x8000) roc = roc - 1;
      } else if (sl - 0x8000 > seq) roc = roc + 1;
      if (roc < 0) return this.#replay(); // before the stream's first packet: older than anything seen
      if (seenOrTooOld(stream, roc * 0x10000 + seq, this.window)) return this.#replay();
    }
    const payloadLength = end - offset;
    if (this.#gcm) {
      const iv = this.#iv;
      const salt = this.#salt;
      iv[0] = salt[0] as number;
      iv[1] = salt[1] as number;
      iv.writeUInt32BE((ssrc ^ salt.readUInt32BE(2)) >>> 0, 2);
      iv.writeUInt32BE((roc ^ salt.readUInt32BE(6)) >>> 0, 6);
      iv.writeUInt16BE((seq ^ salt.readUInt16BE(10)) & 0xffff, 10);
      const decipher = createDecipheriv("aes-128-gcm", this.#key, iv);
      decipher.setAAD(packet.subarray(0, offset));
      decipher.setAuthTag(packet.subarray(end));
      const plain = decipher.update(packet.subarray(offset, end));
      try {
        decipher.final();
      } catch {
        return this.#reject();
      }
      if (!validPadding(first, plain, payloadLength)) return this.#reject();
      plain.copy(packet, offset);
    } else {
      this.#rocBytes.writeUInt32BE(roc >>> 0, 0);
      const tag = createHmac("sha1", this.#auth as KeyObject)
        .update(packet.subarray(0, end))
        .update(this.#rocBytes)
        .digest();
      let diff = 0;
      for (let i = 0; i < tagLength; i++) diff |= (tag[i] as number) ^ (packet[end + i] as number);
      if (diff !== 0) return this.#reject();
      const iv = this.#iv;
      const salt = this.#salt;
      salt.copy(iv, 0, 0, 14);
      iv.writeUInt32BE((ssrc ^ salt.readUInt32BE(4)) >>> 0, 4);
      iv.writeUInt32BE((roc ^ salt.readUInt32BE(8)) >>> 0, 8);
      iv.writeUInt16BE((seq ^ salt.readUInt16BE(12)) & 0xffff, 12);
      iv[14] = 0;
      iv[15] = 0;
      const plain = createDecipheriv("aes-128-ctr", this.#key, iv).update(packet.subarray(offset, end));
      if (!validPadding(first, plain, payloadLength)) return this.#reject();
      plain.copy(packet, offset);
    }
    this.#accept(stream, ssrc, seq, roc);
    return end;
  }

  /** Authenticated: the packet's index enters the replay window; s_l and ROC move if it is the newest. */
  #accept(known: ReceiveStream | undefined, ssrc: number, seq: number, roc: number): void {
    let stream = known;
    if (stream === undefined) {
      stream = new ReceiveStream(seq, this.window);
      this.#streams.set(ssrc, stream);
    }
    if (markReceived(stream, roc * 0x10000 + seq, this.window)) {
      stream.highestSeq = seq;
      stream.roc = roc;
    }
  }

  #reject(): number {
    this.authFailures++;
    return SRTP_REJECT_AUTH;
  }

  #replay(): number {
    this.replays++;
    return SRTP_REJECT_REPLAY;
  }

  /** The rollover counter of an incoming SSRC (0 before its first packet). */
  rocOf(ssrc: number): number {
    return this.#streams.get(ssrc)?.roc ?? 0;
  }
}

/** Whether `index` was received already or is older than the window (RFC 3711 section 3.3.2). */
function seenOrTooOld(stream: ReceiveStream, index: number, window: number): boolean {
  if (index > stream.highestIndex) return false;
  if (stream.highestIndex - index >= window) return true;
  const bit = index % window;
  return ((stream.seen[bit >>> 5] as number) & (1 << (bit & 31))) !== 0;
}

/** Records an authenticated index in the window; true when it is the stream's new highest index. */
function markReceived(stream: ReceiveStream, index: number, window: number): boolean {
  const seen = stream.seen;
  let newest = false;
  if (index > stream.highestIndex) {
    // Indices skipped between the old highest and this one were not received: clear their bits
    // (a new stream's window is already clear).
    const from = stream.highestIndex < 0 ? index : stream.highestIndex + 1;
    if (index - from >= window) seen.fill(0);
    else {
      for (let i = from; i < index; i++) {
        const bit = i % window;
        seen[bit >>> 5] = (seen[bit >>> 5] as number) & ~(1 << (bit & 31));
      }
    }
    stream.highestIndex = index;
    newest = true;
  }
  const bit = index % window;
  seen[bit >>> 5] = (seen[bit >>> 5] as number) | (1 << (bit & 31));
  return newest;
}

/**
 * Unprotects the SRTCP packets of one SRTP session in place (RFC 3711 section 3.4, RFC 7714 section
 * 9): the plain compound RTCP packet is `packet.subarray(0, length)`. Per sender SSRC, the 31-bit
 * SRTCP index goes through a replay window; unencrypted SRTCP (E = 0) is authenticated only.
 * Session keys are those of RFC 3711 labels 3, 4, 5, derived here as KeyObjects.
 */
export class SrtcpUnprotector {
  readonly profile: SrtpProfile;
  readonly window: number;
  readonly #key: KeyObject;
  readonly #salt: Buffer;
  readonly #auth: KeyObject | undefined;
  readonly #gcm: boolean;
  readonly #iv: Buffer;
  readonly #streams = new Map<number, ReceiveStream>();
  authFailures = 0;
  replays = 0;

  constructor(profile: SrtpProfile, session: SrtpSessionKeys, window = 1024) {
    if (window < 64 || window % 32 !== 0)
      throw new Error("SRTCP replay window must be a multiple of 32, >= 64");
    this.profile = profile;
    this.window = window;
    this.#gcm = profile === SRTP_AEAD_AES_128_GCM;
    if (session.key.length !== 16) throw new Error("SRTCP session key must be 16 bytes");
    this.#key = createSecretKey(Buffer.from(session.key));
    this.#salt = Buffer.from(session.salt.subarray(0, this.#gcm ? 12 : 14));
    if (!this.#gcm) {
      if (session.auth?.length !== 20 || !session.auth) throw new Error("AES-CM needs a 20-byte auth key");
      this.#auth = createSecretKey(Buffer.from(session.auth));
    }
    this.#iv = Buffer.alloc(this.#gcm ? 12 : 16);
  }

  static fromMaster(
    profile: SrtpProfile,
    masterKey: Buffer,
    masterSalt: Buffer,
    window?: number,
  ): SrtcpUnprotector {
    return new SrtcpUnprotector(profile, deriveSrtcpSessionKeys(profile, masterKey, masterSalt), window);
  }

  /** Returns the length of the plain RTCP packet at the start of `packet`, or SRTP_REJECT_AUTH / _REPLAY. */
  unprotect(packet: Buffer): number {
    const gcm = this.#gcm;
    const tagLength = gcm ? 16 : 10;
    const length = packet.length;
    if (length < 8 + tagLength + 4 || ((packet[0] as number) & 0xc0) !== 0x80) return this.#reject();
    // GCM: header | ciphertext | tag | E+index; AES-CM: header | ciphertext | E+index | tag.
    const indexOffset = gcm ? length - 4 : length - tagLength - 4;
    const plainEnd = gcm ? indexOffset - tagLength : indexOffset;
    const word = packet.readUInt32BE(indexOffset);
    const encrypted = word >>> 31 === 1;
    const index = word & 0x7fffffff;
    const ssrc = packet.readUInt32BE(4);
    const stream = this.#streams.get(ssrc);
    if (stream !== undefined && seenOrTooOld(stream, index, this.window)) return this.#replay();
    const iv = this.#iv;
    const salt = this.#salt;
    if (gcm) {
      // RFC 7714 9.1: IV = (0x0000 || SSRC || 0x0000 || index) XOR salt; AAD = header || E+index.
      iv[0] = salt[0] as number;
      iv[1] = salt[1] as number;
      iv.writeUInt32BE((ssrc ^ salt.readUInt32BE(2)) >>> 0, 2);
      iv[6] = salt[6] as number;
      iv[7] = salt[7] as number;
      iv.writeUInt32BE((index ^ salt.readUInt32BE(8)) >>> 0, 8);
      const decipher = createDecipheriv("aes-128-gcm", this.#key, iv);
      if (encrypted) {
        decipher.setAAD(packet.subarray(0, 8));
        decipher.setAAD(packet.subarray(indexOffset));
      } else {
        decipher.setAAD(packet.subarray(0, plainEnd));
        decipher.setAAD(packet.subarray(indexOffset));
      }
      decipher.setAuthTag(packet.subarray(plainEnd, plainEnd + tagLength));
      const plain = encrypted ? decipher.update(packet.subarray(8, plainEnd)) : undefined;
      try {
        decipher.final();
      } catch {
        return this.#reject();
      }
      plain?.copy(packet, 8);
    } else {
      const tag = createHmac("sha1", this.#auth as KeyObject)
        .update(packet.subarray(0, length - tagLength))
        .digest();
      let diff = 0;
      for (let i = 0; i < tagLength; i++)
        diff |= (tag[i] as number) ^ (packet[length - tagLength + i] as number);
      if (diff !== 0) return this.#reject();
      if (encrypted) {
        // RFC 3711 4.1.1 with the SRTCP index: IV = salt XOR SSRC << 64 XOR index << 16.
        salt.copy(iv, 0, 0, 14);
        iv.writeUInt32BE((ssrc ^ salt.readUInt32BE(4)) >>> 0, 4);
        iv.writeUInt32BE(((index >>> 16) ^ salt.readUInt32BE(8)) >>> 0, 8);
        iv.writeUInt16BE(((index & 0xffff) ^ salt.readUInt16BE(12)) & 0xffff, 12);
        iv[14] = 0;
        iv[15] = 0;
        createDecipheriv("aes-128-ctr", this.#key, iv).update(packet.subarray(8, plainEnd)).copy(packet, 8);
      }
    }
    let s = stream;
    if (s === undefined) {
      s = new ReceiveStream(0, this.window);
      this.#streams.set(ssrc, s);
    }
    markReceived(s, index, this.window);
    return plainEnd;
  }

  #reject(): number {
    this.authFailures++;
    return SRTP_REJECT_AUTH;
  }

  #replay(): number {
    this.replays++;
    return SRTP_REJECT_REPLAY;
  }
}

/** SRTCP session keys: RFC 3711 section 4.3.2, labels 3 (key), 4 (auth), 5 (salt). */
export function deriveSrtcpSessionKeys(
  profile: SrtpProfile,
  masterKey: Buffer,
  masterSalt: Buffer,
): SrtpSessionKeys {
  return deriveWithLabels(profile, masterKey, masterSalt, 0x03, 0x04, 0x05);
}

/** RFC 3550 5.1: with the P bit, the last payload byte counts the padding, which must fit the payload. */
function validPadding(first: number, plain: Buffer, payloadLength: number): boolean {
  if ((first & 0x20) === 0) return true;
  const size = plain[payloadLength - 1];
  return size !== undefined && size > 0 && size <= payloadLength;
}
