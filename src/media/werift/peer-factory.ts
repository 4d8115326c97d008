import { RTCPeerConnection } from "werift";
import type { MediaConfig } from "../../config/media-config.ts";
import { type CodecSet, headerExtensions } from "./codec-policy.ts";
import { withoutDefaultStun } from "./compat.ts";

/**
 * Creates every server-side werift RTCPeerConnection, so that addresses, ports and codecs are decided
 * in one place. Candidates are gathered only on the configured listen addresses (werift ignores
 * loopback unless it is passed as an additional host address, see docs/media.md), no STUN/TURN
 * server is contacted (not even werift's default one: withoutDefaultStun), and the UDP ports come from STATIC_PORTS when set.
 * Publisher connections (`publisher: true`) also negotiate the RID extensions of simulcast.
 */
export function newPeerConnection(
  config: MediaConfig,
  codecs: CodecSet,
  options: { publisher?: boolean } = {},
): RTCPeerConnection {
  const hosts = [config.listenIpv4, ...(config.listenIpv6 ? [config.listenIpv6] : [])];
  const pc = new RTCPeerConnection({
    codecs,
    headerExtensions: headerExtensions(options.publisher === true),
    iceServers: [],
    iceUseIpv4: false,
    iceUseIpv6: false,
    iceUseTcp: false,
    iceAdditionalHostAddresses: hosts,
    iceInterfaceAddresses: {
      udp4: config.listenIpv4,
      ...(config.listenIpv6 ? { udp6: config.listenIpv6 } : {}),
    },
    icePortRange: config.portRange ? [config.portRange[0], config.portRange[1]] : undefined,
    bundlePolicy: "max-bundle",
  });
  return withoutDefaultStun(pc);
}

/**
 * Rewrites the listen addresses in candidate lines to the announced ones (1:1 NAT, e.g. a cloud VM
 * whose public address is not on an interface). A no-op when they are equal.
 */
export function announceAddresses(config: MediaConfig, text: string): string {
  let out = text;
  if (config.listenIpv4 !== config.publicIpv4)
    out = replaceCandidateAddress(out, config.listenIpv4, config.publicIpv4);
  if (config.listenIpv6 && config.publicIpv6 && config.listenIpv6 !== config.publicIpv6) {
    out = replaceCandidateAddress(out, config.listenIpv6, config.publicIpv6);
  }
  return out;
}

function replaceCandidateAddress(text: string, from: string, to: string): string {
  // candidate:<foundation> <component> <transport> <priority> <address> <port> typ ...
  return text.replace(
    /(candidate:\S+ \d+ \S+ \d+ )(\S+)( \d+ typ)/g,
    (whole, head: string, address: string, tail: string) =>
      address === from ? `${head}${to}${tail}` : whole,
  );
}
