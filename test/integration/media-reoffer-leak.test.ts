/**
 * Regression test for a UDP socket leak found by the SDP fuzz test: re-offers from the same client
 * connection that move m-lines into and out of a BUNDLE group make werift 0.25.2 swap a
 * transceiver's DTLS/ICE transport without stopping the old one, whose ICE connection keeps its
 * UDP socket open, even after RTCPeerConnection.close(). PeerLink stops those transports (see
 * src/media/peer-link.ts). Here: many re-offers, valid and invalid, new client connections among
 * them; open UDP sockets stay bounded, and after close() they are back to the baseline.
 */
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { loadMediaConfig } from "../../src/config/media-config.ts";
import { newSilentLogger } from "../../src/lib/logger.ts";
import type { SessionDescription } from "../../src/media/media-port.ts";
import { newWeriftMediaPlane } from "../../src/media/werift/werift-media-plane.ts";
import { newMetrics } from "../../src/metrics/metrics.ts";
import { realOffer } from "../fuzz/sdp-arbitraries.ts";
import { waitFor } from "../helpers/werift-peers.ts";

const udpSockets = () => process.getActiveResourcesInfo().filter((r) => r === "UDPWrap").length;

/** The base offer with a third m-line (a second video, mid 2), inside the BUNDLE group or outside it. */
const withThirdSection = (base: string, bundled: boolean) => {
  const video = base.slice(base.indexOf("m=video"));
  return (
    base.replace(/^a=group:BUNDLE[^\r\n]*/m, bundled ? "a=group:BUNDLE 0 1 2" : "a=group:BUNDLE 0 1") +
    video.replace("a=mid:1", "a=mid:2")
  );
};
/** Another client connection: new ICE credentials and session id, same (process-wide) certificate. */
const otherClient = (sdp: string, n: number) =>
  sdp
    .replace(/^o=- \d+/m, `o=- ${900_000 + n}`)
    .replace(/ice-ufrag:\S+/g, `ice-ufrag:u${n}x`)
    .replace(/ufrag \S+/g, `ufrag u${n}x`);

// A leaked socket keeps this process alive (the reported symptom): fail instead of hanging the run.
after(() => {
  if (udpSockets() > 0) setTimeout(() => process.exit(1), 2000).unref();
});

test("re-offers to the publisher (BUNDLE on/off, invalid, new connections) leave no UDP socket behind", async () => {
  const base = await realOffer();
  // The sequence that made werift drop a transport without stopping it: mid 2 on its own transport
  // (outside BUNDLE), then moved into the BUNDLE group. Invalid offers and new client connections
  // (a replacement of the server connection) in between.
  const variants: ((n: number) => { sdp: string; valid: boolean })[] = [
    () => ({ sdp: base, valid: true }),
    () => ({ sdp: withThirdSection(base, false), valid: true }),
    () => ({ sdp: withThirdSection(base, true), valid: true }),
    // werift refuses to split the BUNDLE transport again: rolled back.
    () => ({ sdp: withThirdSection(base, false), valid: false }),
    // No supported codec: refused by us after werift applied it (or, on an established connection,
    // answered with the m-lines rejected); either way rolled back or renegotiated.
    () => ({
      sdp: base.replace(/OPUS\/48000\/2/g, "G722/8000").replace(/VP8\/90000/g, "H265/90000"),
      valid: false,
    }),
    () => ({ sdp: base, valid: true }),
    // Refused before werift (no DTLS fingerprint) and inside werift (cut in the middle).
    () => ({ sdp: base.replace(/^a=fingerprint:.*\r?\n/gm, ""), valid: false }),
    () => ({ sdp: base.slice(0, Math.floor(base.length * 0.6)), valid: false }),
    (n) => ({ sdp: otherClient(withThirdSection(base, false), n), valid: true }),
    (n) => ({ sdp: otherClient(withThirdSection(base, true), n - 1), valid: true }),
    (n) => ({ sdp: otherClient(base, n - 2), valid: true }),
  ];
  // realOffer's own connection closes its sockets asynchronously.
  await new Promise((r) => setTimeout(r, 300));
  const baseline = udpSockets();
  const plane = newWeriftMediaPlane(loadMediaConfig({ PUBLIC_IPV4: "127.0.0.1" }), {
    log: newSilentLogger(),
    metrics: newMetrics({ processMetrics: false }),
  });
  const room = "reoffer-leak";
  plane.addMember({ roomId: room, socketId: "pub", userId: "pub", reoffer: true });
  plane.addMember({ roomId: room, socketId: "viewer", userId: "viewer", reoffer: true });
  let accepted = 0;
  let refused = 0;
  let peak = 0;
  try {
    for (let n = 0; n < 60; n++) {
      const v = (variants[n % variants.length] as (n: number) => { sdp: string; valid: boolean })(n);
      const offer: SessionDescription = { type: "offer", sdp: v.sdp };
      const ok = await plane.signal(room, "pub", "publisher", offer).then(
        () => true,
        () => false,
      );
      if (v.valid) assert.ok(ok, `offer ${n} should have been accepted`);
      if (ok) accepted++;
      else refused++;
      // One event-loop turn first: a socket whose close() ran is released in the loop's close phase.
      await new Promise((r) => setImmediate(r));
      peak = Math.max(peak, udpSockets() - baseline);
    }
    // One publisher connection (at most one transport per m-line when unbundled) plus the viewer's
    // listener connection; before the fix this grew by one socket per BUNDLE regrouping.
    await waitFor("dropped transports closed", () => udpSockets() - baseline <= 3, 3000);
    assert.ok(peak <= 6, `UDP sockets peaked at ${peak} above the baseline`);
    assert.ok(accepted >= 30 && refused >= 15, `accepted ${accepted}, refused ${refused}`);
  } finally {
    await plane.close();
  }
  await waitFor("UDP sockets back to the baseline after close()", () => udpSockets() <= baseline, 3000);
});
