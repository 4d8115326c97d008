import { createSecretKey } from "node:crypto";
import * as werift from "werift";
import type { Logger } from "../../lib/logger.ts";

/**
 * SRTP session keys imported once per session as KeyObjects, instead of once per packet.
 *
 * werift 0.25.2's SRTP ciphers (CipherAesGcm, CipherAesCtr) pass their session keys to
 * createCipheriv/createDecipheriv/createHmac as Buffers on every packet. On Node 24 each such call
 * imports the key again (`getKeyObjectSlots`/`getSlots` at the top of the media profile), ~10 us per
 * cipher or HMAC object; with a KeyObject made once that import is gone (BENCHMARKS.md: -28 % server
 * CPU per forwarded packet). This wraps the four methods of each cipher class so that, on its first
 * use, a cipher instance replaces its key fields (the encryption keys and, for AES-CM, the HMAC keys)
 * with KeyObjects of the same bytes. The algorithms, IVs, salts and outputs are werift's own, byte for
 * byte (test/unit/media-srtp-key-cache.test.ts). Upstream werift could do the same in its constructors.
 *
 * Guarded: the cipher classes are reached through werift's public SrtpSession/SrtcpSession (they are
 * not exported). When their shape is not the expected one (another werift version), or a self-test
 * after wrapping does not give werift's own output, nothing is changed (or the change is undone) and
 * one warning is logged. Idempotent: installing twice, or from two media planes, wraps once.
 */

/** The werift exports used to reach and self-test the cipher classes (a parameter for tests). */
export interface WeriftSrtpApi {
  SrtpSession?: unknown;
  SrtcpSession?: unknown;
  RtpHeader?: unknown;
  ProtectionProfileAes128CmHmacSha1_80?: unknown;
  ProtectionProfileAeadAes128Gcm?: unknown;
}

export type SrtpKeyCacheStatus =
  | { state: "installed" }
  | { state: "disabled" }
  | { state: "unsupported"; reason: string };

type Method = (...args: unknown[]) => unknown;
interface CipherProto {
  [method: string]: unknown;
  [INSTALLED]?: Map<string, Method>;
}
interface SessionKeys {
  localMasterKey: Buffer;
  localMasterSalt: Buffer;
  remoteMasterKey: Buffer;
  remoteMasterSalt: Buffer;
}
type SessionCtor = new (config: {
  profile: number;
  keys: SessionKeys;
}) => {
  localContext?: { cipher?: unknown };
  encrypt(...args: unknown[]): Buffer;
  decrypt(buf: Buffer): Buffer;
};
type HeaderCtor = new (props: Record<string, unknown>) => unknown;

/** The methods wrapped; every per-packet use of the keys is inside one of them. */
const METHODS = ["encryptRtp", "decryptRtp", "encryptRTCP", "decryptRTCP"] as const;
/** Key fields of a cipher: always the two encryption keys; the HMAC keys on AES-CM only. */
const CIPHER_KEYS = ["srtpSessionKey", "srtcpSessionKey"] as const;
const AUTH_KEYS = ["srtpSessionAuthTag", "srtcpSessionAuthTag"] as const;
const INSTALLED = Symbol.for("webrtcsignaling.srtpKeyCache.originals");
const IMPORTED = Symbol("webrtcsignaling.srtpKeyCache.imported");

/** The outcome per werift module object, so that each is probed and warned about once. */
const outcomes = new WeakMap<object, SrtpKeyCacheStatus>();

/**
 * Installs the key cache into werift's SRTP ciphers (once per process/worker; later calls return the
 * first outcome). Never throws: an unexpected werift leaves SRTP as it is, with one warning.
 */
export function installSrtpKeyCache(
  log: Pick<Logger, "warn" | "debug">,
  lib: WeriftSrtpApi = werift as unknown as WeriftSrtpApi,
): SrtpKeyCacheStatus {
  const known = outcomes.get(lib);
  if (known) return known;
  let status: SrtpKeyCacheStatus;
  try {
    status = install(lib);
  } catch (err) {
    status = { state: "unsupported", reason: `probe failed: ${(err as Error).message}` };
  }
  outcomes.set(lib, status);
  if (status.state === "unsupported") {
    log.warn(
      { srtpKeyCache: status.reason },
      "werift's SRTP internals are not the expected ones: SRTP keys stay Buffers (slower on Node 24, see docs/media.md)",
    );
  } else log.debug({ srtpKeyCache: status.state }, "SRTP session keys are imported once per session");
  return status;
}

/** Undoes installSrtpKeyCache (tests): the methods are restored; converted instances keep working. */
export function uninstallSrtpKeyCache(lib: WeriftSrtpApi = werift as unknown as WeriftSrtpApi): void {
  outcomes.delete(lib);
  const probe = probeCiphers(lib);
  if (typeof probe === "string") return;
  for (const proto of probe.protos) restore(proto);
}

/** Whether a session's ciphers hold KeyObjects (i.e. the cache is active for it); for tests. */
export function usesKeyObjects(session: unknown): boolean {
  const cipher = (session as { localContext?: { cipher?: Record<string, unknown> } }).localContext?.cipher;
  return !!cipher && CIPHER_KEYS.every((k) => isKeyObject(cipher[k]));
}

function install(lib: WeriftSrtpApi): SrtpKeyCacheStatus {
  const probe = probeCiphers(lib);
  if (typeof probe === "string") return { state: "unsupported", reason: probe };
  const { protos, selfTest } = probe;
  // The expected output, computed with werift's own (unwrapped) code.
  const alreadyWrapped = [...protos].some((p) => p[INSTALLED] !== undefined);
  const expected = alreadyWrapped ? undefined : selfTest();
  for (const proto of protos) wrap(proto);
  try {
    const actual = selfTest();
    if (expected !== undefined && !actual.equals(expected)) {
      for (const proto of protos) restore(proto);
      return { state: "unsupported", reason: "self-test output differs from werift's own" };
    }
  } catch (err) {
    for (const proto of protos) restore(proto);
    return { state: "unsupported", reason: `self-test failed: ${(err as Error).message}` };
  }
  return { state: "installed" };
}

/**
 * Finds the cipher prototypes through sessions of both profiles and checks their shape. Returns a
 * self-test (protect + unprotect of RTP and RTCP for both profiles, all outputs concatenated) or why not.
 */
function probeCiphers(lib: WeriftSrtpApi): { protos: Set<CipherProto>; selfTest: () => Buffer } | string {
  const { SrtpSession, SrtcpSession, RtpHeader } = lib;
  const cm = lib.ProtectionProfileAes128CmHmacSha1_80;
  const gcm = lib.ProtectionProfileAeadAes128Gcm;
  if (
    typeof SrtpSession !== "function" ||
    typeof SrtcpSession !== "function" ||
    typeof RtpHeader !== "function"
  )
    return "werift does not export SrtpSession, SrtcpSession and RtpHeader";
  if (typeof cm !== "number" || typeof gcm !== "number") return "werift does not export the SRTP profiles";
  const profiles = [
    { profile: cm, saltLength: 14, authKeys: true },
    { profile: gcm, saltLength: 12, authKeys: false },
  ];
  const protos = new Set<CipherProto>();
  const keys = (saltLength: number, n: number): SessionKeys => ({
    localMasterKey: Buffer.alloc(16, 0x11 * n),
    localMasterSalt: Buffer.alloc(saltLength, 0x22 * n),
    remoteMasterKey: Buffer.alloc(16, 0x11 * n),
    remoteMasterSalt: Buffer.alloc(saltLength, 0x22 * n),
  });
  for (const { profile, saltLength, authKeys } of profiles) {
    for (const Session of [SrtpSession, SrtcpSession] as SessionCtor[]) {
      const session = new Session({ profile, keys: keys(saltLength, 1) });
      const cipher = session.localContext?.cipher as Record<string, unknown> | undefined;
      if (!cipher || typeof cipher !== "object") return "a session has no localContext.cipher";
      const proto = Object.getPrototypeOf(cipher) as CipherProto;
      for (const m of METHODS) {
        if (typeof proto[m] !== "function") return `cipher ${proto.constructor?.name} has no method ${m}`;
      }
      for (const k of CIPHER_KEYS) {
        const v = cipher[k];
        if (!(Buffer.isBuffer(v) && v.length === 16) && !isKeyObject(v))
          return `cipher field ${k} is not a 16-byte key`;
      }
      if (authKeys) {
        for (const k of AUTH_KEYS) {
          const v = cipher[k];
          if (!(Buffer.isBuffer(v) && v.length === 20) && !isKeyObject(v))
            return `cipher field ${k} is not a 20-byte HMAC key`;
        }
      }
      protos.add(proto);
    }
  }
  if (protos.size !== 2) return `expected 2 cipher classes, found ${protos.size}`;
  const selfTest = (): Buffer => {
    const out: Buffer[] = [];
    for (const { profile, saltLength } of profiles) {
      const rtp = new (SrtpSession as SessionCtor)({ profile, keys: keys(saltLength, 3) });
      const rtcp = new (SrtcpSession as SessionCtor)({ profile, keys: keys(saltLength, 3) });
      for (let i = 0; i < 3; i++) {
        const header = new (RtpHeader as HeaderCtor)({
          payloadType: 96,
          sequenceNumber: (65534 + i) % 65536,
          timestamp: 1000 * i,
          ssrc: 0x01020304,
          marker: i === 2,
        });
        const protectedRtp = rtp.encrypt(Buffer.alloc(40 + i, i + 1), header);
        out.push(protectedRtp, rtp.decrypt(protectedRtp));
        const rr = Buffer.from([0x80, 201, 0, 1, 0x0a, 0x0b, 0x0c, 0x0d + i]);
        const protectedRtcp = rtcp.encrypt(rr);
        out.push(protectedRtcp, rtcp.decrypt(protectedRtcp));
      }
    }
    return Buffer.concat(out);
  };
  return { protos, selfTest };
}

function wrap(proto: CipherProto): void {
  if (proto[INSTALLED]) return;
  const originals = new Map<string, Method>();
  for (const m of METHODS) {
    const original = proto[m] as Method;
    originals.set(m, original);
    proto[m] = function (this: Record<string | symbol, unknown>, ...args: unknown[]) {
      if (this[IMPORTED] !== true) importKeys(this);
      return original.apply(this, args);
    };
  }
  proto[INSTALLED] = originals;
}

function restore(proto: CipherProto): void {
  const originals = proto[INSTALLED];
  if (!originals) return;
  for (const [m, original] of originals) proto[m] = original;
  delete proto[INSTALLED];
}

/** Replaces the instance's key Buffers with KeyObjects of the same bytes (the salts stay Buffers). */
function importKeys(cipher: Record<string | symbol, unknown>): void {
  for (const k of [...CIPHER_KEYS, ...AUTH_KEYS]) {
    const v = cipher[k];
    if (Buffer.isBuffer(v)) cipher[k] = createSecretKey(v);
  }
  cipher[IMPORTED] = true;
}

function isKeyObject(v: unknown): boolean {
  return typeof v === "object" && v !== null && (v as { type?: unknown }).type === "secret" && "export" in v;
}
