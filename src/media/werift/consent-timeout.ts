import type { RTCPeerConnection } from "werift";

/**
 * ICE consent freshness (RFC 7675) that survives a starved event loop, as browsers do.
 *
 * werift 0.25.2 sends a consent check every 4-6 s and gives each one max(500 ms, 2 x RTT + 200 ms)
 * for its response (RTT from the initial checks: ~1 ms on a LAN, so 500 ms), without retransmission;
 * a late response is dropped, and after 30 s without an accepted response the connection goes
 * "failed" ("Consent to send expired"). When either side is starved of CPU (load far above the core
 * count, a blocked event loop), responses come seconds late: every check fails, and the server
 * fails a connection whose peer is alive and still sending media (seen under load: "publisher
 * connection failed" every ~35 s). Chrome accepts a late response to any of its outstanding checks
 * within its 30 s consent window.
 *
 * This gives each consent check CONSENT_RESPONSE_TIMEOUT_MS to be answered, and keeps it waiting
 * when werift sends the next one (werift aborts the previous check then; a starved server is behind
 * by more than one check interval, so the answer to a check is still in the socket queue when the
 * next check starts: measured with the server stopped 3 s of every 3.15 s, every check was
 * aborted before its answer was read and consent expired 30 s after the call started). Any answer
 * up to 10 s late now refreshes consent (werift accepts it: it checks the session, pair,
 * generation and password, not that it answers the latest check). A peer that is really gone still
 * expires after 30 s; the check is abandoned at once when the connection closes or fails.
 *
 * It wraps `request` of the ICE connection's STUN protocol objects (werift internals, like
 * udp-guard.ts). Consent checks are the only requests werift makes with `retransmissions: 0` over
 * UDP (TCP checks use it too, but this server does not gather TCP candidates).
 */
export const CONSENT_RESPONSE_TIMEOUT_MS = 10_000;

interface RequestOptions {
  retransmissions?: number;
  responseTimeout?: number;
  signal?: AbortSignal;
  [key: string]: unknown;
}

type Request = (
  request: unknown,
  addr: unknown,
  integrityKey?: unknown,
  retransmissionsOrOptions?: number | RequestOptions,
  onRequestSent?: unknown,
) => Promise<unknown>;

interface StunProtocolLike {
  request?: Request;
}

interface IceConnectionLike {
  protocols?: StunProtocolLike[];
  state?: string;
}

const patched = new WeakSet<StunProtocolLike>();

/** Lets every consent check of `pc`'s ICE connections wait up to CONSENT_RESPONSE_TIMEOUT_MS. Idempotent. */
export function tolerateLateConsentResponses(pc: RTCPeerConnection): void {
  for (const ice of pc.iceTransports) {
    const connection = ice.connection as unknown as IceConnectionLike;
    for (const protocol of connection.protocols ?? []) {
      const original = protocol.request;
      if (typeof original !== "function" || patched.has(protocol)) continue;
      patched.add(protocol);
      protocol.request = function (this: unknown, request, addr, integrityKey, options, onRequestSent) {
        const consentCheck =
          typeof options === "object" &&
          options !== null &&
          options.retransmissions === 0 &&
          typeof options.responseTimeout === "number" &&
          options.responseTimeout < CONSENT_RESPONSE_TIMEOUT_MS;
        if (!consentCheck) return original.call(this, request, addr, integrityKey, options, onRequestSent);
        // werift aborts a check when it sends the next one: keep waiting then, unless the
        // connection is over.
        const own = new AbortController();
        options.signal?.addEventListener(
          "abort",
          () => {
            if (connection.state === "closed" || connection.state === "failed") own.abort();
          },
          { once: true },
        );
        const opts = { ...options, responseTimeout: CONSENT_RESPONSE_TIMEOUT_MS, signal: own.signal };
        return original.call(this, request, addr, integrityKey, opts, onRequestSent);
      };
    }
  }
}
