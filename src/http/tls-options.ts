import type { SecureContextOptions, TlsOptions } from "node:tls";

/**
 * TLS 1.3 suites, then Mozilla's "intermediate" TLS 1.2 list: forward-secret AEAD suites only
 * (Node's default also accepts RSA key exchange and CBC suites). test/integration/security-tls.
 */
const MODERN_CIPHERS = [
  "TLS_AES_128_GCM_SHA256",
  "TLS_AES_256_GCM_SHA384",
  "TLS_CHACHA20_POLY1305_SHA256",
  "ECDHE-ECDSA-AES128-GCM-SHA256",
  "ECDHE-RSA-AES128-GCM-SHA256",
  "ECDHE-ECDSA-AES256-GCM-SHA384",
  "ECDHE-RSA-AES256-GCM-SHA384",
  "ECDHE-ECDSA-CHACHA20-POLY1305",
  "ECDHE-RSA-CHACHA20-POLY1305",
].join(":");

export function modernTlsOptions(tls: { cert: Buffer; key: Buffer }): TlsOptions & SecureContextOptions {
  return { cert: tls.cert, key: tls.key, minVersion: "TLSv1.2", ciphers: MODERN_CIPHERS };
}
