import assert from "node:assert/strict";
import dns from "node:dns";
import { test } from "node:test";
import { loadMediaConfig } from "../../src/config/media-config.ts";
import { publisherCodecs } from "../../src/media/werift/codec-policy.ts";
import { newPeerConnection } from "../../src/media/werift/peer-factory.ts";
import { weriftPeerConnection } from "../helpers/werift-config.ts";

/**
 * werift 0.25.2 asks stun.l.google.com for a server-reflexive candidate unless told otherwise; the
 * server's connections and the tests' werift peers must contact nothing but their own addresses.
 * Every name lookup made while they gather is recorded (dns.lookup is what werift's STUN client uses).
 */
test("neither the server's connections nor the test peers look up or contact a STUN server while gathering", async (t) => {
  const looked: string[] = [];
  const lookup = dns.lookup;
  const promisesLookup = dns.promises.lookup;
  t.after(() => {
    dns.lookup = lookup;
    dns.promises.lookup = promisesLookup;
  });
  dns.lookup = ((host: string, ...rest: unknown[]) => {
    looked.push(host);
    return (lookup as (...a: unknown[]) => unknown)(host, ...rest);
  }) as typeof dns.lookup;
  dns.promises.lookup = ((host: string, ...rest: unknown[]) => {
    looked.push(host);
    return (promisesLookup as (...a: unknown[]) => Promise<unknown>)(host, ...rest);
  }) as typeof dns.promises.lookup;

  const server = newPeerConnection(loadMediaConfig({ PUBLIC_IPV4: "127.0.0.1" }), publisherCodecs());
  const peer = weriftPeerConnection({ address: "127.0.0.1", rtx: true, bundlePolicy: "max-bundle" });
  t.after(() => Promise.all([server.close(), peer.close()]));
  server.addTransceiver("video", { direction: "sendonly" });
  await server.setLocalDescription(await server.createOffer());
  await peer.setRemoteDescription(server.localDescription!);
  await peer.setLocalDescription(await peer.createAnswer());
  // werift gathers in setLocalDescription; a STUN query would start right away.
  await new Promise((r) => setTimeout(r, 500));
  assert.deepEqual(looked, []);
  assert.ok(server.localDescription?.sdp.includes("typ host"), "host candidates were gathered");
  assert.ok(!/typ srflx/.test(`${server.localDescription?.sdp}${peer.localDescription?.sdp}`));
});
