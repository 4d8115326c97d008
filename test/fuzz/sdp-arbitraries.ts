/**
 * fast-check generators of hostile SDPs (mutations of a real werift offer: lines deleted,
 * duplicated, swapped, truncated, numbers pushed out of range, junk and unicode inserted, many
 * m-sections) and of hostile ICE candidates.
 */
import fc from "fast-check";
import { RTCPeerConnection } from "werift";

/** A real offer with one audio and one video section, to mutate. */
export async function realOffer(): Promise<string> {
  const pc = new RTCPeerConnection({
    iceUseIpv4: false,
    iceUseIpv6: false,
    iceAdditionalHostAddresses: ["127.0.0.1"],
  });
  try {
    pc.addTransceiver("audio", { direction: "sendonly" });
    pc.addTransceiver("video", { direction: "sendonly" });
    await pc.setLocalDescription(await pc.createOffer());
    return pc.localDescription?.sdp ?? "";
  } finally {
    await pc.close();
  }
}

const junkLine = fc.oneof(
  fc.string({ unit: "binary", maxLength: 80 }),
  fc.constantFrom(
    "m=video 9 UDP/TLS/RTP/SAVPF 96",
    "m=application 9 UDP/DTLS/SCTP webrtc-datachannel",
    "a=rtpmap:96 VP8/90000",
    "a=rtpmap:200 H264/90000",
    "a=rtpmap:96",
    "a=fmtp:96 apt=",
    "a=ssrc:4294967296 cname:x",
    "a=ssrc-group:FID 1",
    "a=fingerprint:sha-256 ZZ",
    "a=fingerprint:md5 00",
    "a=setup:holdconn",
    "a=mid:",
    "a=group:BUNDLE 0 1 2 3 4 5 6 7 8 9",
    "a=extmap:99999 urn:ietf:params:rtp-hdrext:sdes:mid",
    "a=ice-ufrag:",
    "a=candidate:1 1 udp 1 256.256.256.256 70000 typ host",
    "a=rtcp-fb:* nack",
    "c=IN IP6 ::1",
    "b=AS:-1",
    "a=msid:\u0000 \ud800",
  ),
);

type Mutation = (lines: string[]) => string[];

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.nat().map(
    (i): Mutation =>
      (l) =>
        l.filter((_, j) => j !== i % l.length),
  ),
  fc.nat().map(
    (i): Mutation =>
      (l) =>
        l.flatMap((x, j) => (j === i % l.length ? [x, x] : [x])),
  ),
  fc.tuple(fc.nat(), fc.nat()).map(
    ([i, k]): Mutation =>
      (l) => {
        const out = [...l];
        const a = i % out.length;
        const b = k % out.length;
        [out[a], out[b]] = [out[b] ?? "", out[a] ?? ""];
        return out;
      },
  ),
  fc.tuple(fc.nat(), junkLine).map(
    ([i, junk]): Mutation =>
      (l) =>
        l.map((x, j) => (j === i % l.length ? junk : x)),
  ),
  fc.tuple(fc.nat(), junkLine).map(
    ([i, junk]): Mutation =>
      (l) => [...l.slice(0, i % l.length), junk, ...l.slice(i % l.length)],
  ),
  fc
    .tuple(fc.nat(), fc.constantFrom("0", "-1", "65536", "4294967296", "99999999999999999999", "NaN", "1e9"))
    .map(
      ([i, n]): Mutation =>
        (l) =>
          l.map((x, j) => (j === i % l.length ? x.replace(/\d+/g, n) : x)),
    ),
  fc.nat().map(
    (i): Mutation =>
      (l) =>
        l.slice(0, i % l.length),
  ),
  fc.integer({ min: 2, max: 60 }).map(
    (n): Mutation =>
      (l) => {
        const m = l.findIndex((x) => x.startsWith("m=video"));
        // Not compounded: at most ~100 KB, over the 60 KiB SDP limit but not 100 times over.
        if (m < 0 || l.join("\r\n").length * n > 100_000) return l;
        return [...l, ...Array.from({ length: n }, () => l.slice(m)).flat()];
      },
  ),
);

/** A mutated offer (or, sometimes, something that is not an SDP at all), with CRLF or LF endings. */
export function sdpArb(base: string): fc.Arbitrary<string> {
  const lines = base.split("\r\n").filter((l) => l.length > 0);
  const mutated = fc
    .tuple(fc.array(mutation, { minLength: 1, maxLength: 4 }), fc.boolean())
    .map(([ms, lf]) => ms.reduce((l, m) => m(l), lines).join(lf ? "\n" : "\r\n"));
  return fc.oneof(
    { weight: 8, arbitrary: mutated },
    { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 500 }) },
    { weight: 1, arbitrary: fc.constant(base) },
  );
}

const candidateToken = fc.oneof(
  fc.constantFrom(
    "udp",
    "tcp",
    "UDP",
    "typ",
    "host",
    "srflx",
    "relay",
    "prflx",
    "raddr",
    "rport",
    "generation",
  ),
  fc.constantFrom("127.0.0.1", "::1", "0.0.0.0", "255.255.255.255", "abc.local", "[::1]", "999.1.1.1"),
  fc.constantFrom("0", "-1", "65536", "4294967296", "1e99", ""),
  fc.string({ unit: "binary", maxLength: 20 }),
);

export const candidateArb = fc.record({
  candidate: fc.oneof(
    fc.constant("candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host generation 0"),
    fc.array(candidateToken, { maxLength: 14 }).map((t) => `candidate:${t.join(" ")}`),
    fc.array(candidateToken, { maxLength: 14 }).map((t) => t.join(" ")),
    fc.constant(""),
  ),
  sdpMid: fc.oneof(fc.constantFrom("0", "1", "7", null), fc.string({ maxLength: 8 })),
  sdpMLineIndex: fc.oneof(fc.integer({ min: 0, max: 1024 }), fc.constant(null)),
});
