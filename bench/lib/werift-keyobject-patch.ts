import { createSecretKey, type KeyObject } from "node:crypto";

/**
 * Experiment behind `npm run bench -- --srtp-keyobject` (env BENCH_SRTP_KEYOBJECT=1): makes
 * werift 0.25.2's SRTP ciphers pass KeyObjects instead of Buffers to createCipheriv/createHmac.
 * On Node 24 every call with a Buffer key imports the key again (~10 us per cipher or HMAC object,
 * `getKeyObjectSlots`/`getSlots` at the top of the media profile); a KeyObject made once per
 * session avoids that. This measures what an upstream werift change would buy; it is never
 * applied outside the benchmark.
 */
export async function patchWeriftSrtpKeys(): Promise<void> {
  // Imported here so that processes without the experiment (e.g. the bare ws forwarder) never load werift.
  const { ProtectionProfileAeadAes128Gcm, ProtectionProfileAes128CmHmacSha1_80, SrtpSession } = await import(
    "werift"
  );
  const KEYS = ["srtpSessionKey", "srtcpSessionKey", "srtpSessionAuthTag", "srtcpSessionAuthTag"] as const;
  const METHODS = ["encryptRtp", "decryptRtp", "encryptRTCP", "decryptRTCP"] as const;
  const protos = new Set<Record<string, unknown>>();
  for (const profile of [ProtectionProfileAeadAes128Gcm, ProtectionProfileAes128CmHmacSha1_80]) {
    const key = Buffer.alloc(16, 1);
    const salt = Buffer.alloc(profile === ProtectionProfileAeadAes128Gcm ? 12 : 14, 2);
    const session = new SrtpSession({
      profile,
      keys: { localMasterKey: key, localMasterSalt: salt, remoteMasterKey: key, remoteMasterSalt: salt },
    });
    const cipher = (session.localContext as unknown as { cipher: object }).cipher;
    protos.add(Object.getPrototypeOf(cipher) as Record<string, unknown>);
  }
  for (const proto of protos) {
    for (const m of METHODS) {
      const original = proto[m] as (...args: unknown[]) => unknown;
      if (typeof original !== "function") continue;
      proto[m] = function (this: Record<string, Buffer | KeyObject | undefined>, ...args: unknown[]) {
        for (const k of KEYS) {
          const v = this[k];
          if (Buffer.isBuffer(v)) this[k] = createSecretKey(v);
        }
        return original.apply(this, args);
      };
    }
  }
}

if (process.env.BENCH_SRTP_KEYOBJECT === "1") await patchWeriftSrtpKeys();
