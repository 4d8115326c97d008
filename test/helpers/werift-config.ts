/**
 * The werift RTCPeerConnection of the test and benchmark peers: the codecs and header extensions the
 * server negotiates (src/media/codec-policy.ts) — Opus 111, VP8 96 with NACK/PLI/REMB, MID only —
 * gathering one IPv4 host address and nothing else. Each caller states what it adds or leaves out.
 */
import {
  type PeerConfig,
  RTCPeerConnection,
  type RTCRtcpFeedback,
  RTCRtpCodecParameters,
  useNACK,
  usePLI,
  useREMB,
  useSdesMid,
  useSdesRTPStreamId,
} from "werift";
import { withoutDefaultStun } from "../../src/media/werift/compat.ts";

export interface WeriftPeerOptions {
  /** The one local address ICE gathers and advertises (udp4 interface and additional host address). */
  address: string;
  /** VP8 retransmission: video/rtx payload type 97, apt=96. */
  rtx: boolean;
  /** FIR ("ccm fir") in VP8's RTCP feedback, between PLI and REMB. Default false. */
  fir?: boolean;
  /** Opus fmtp parameters, e.g. "minptime=10;useinbandfec=1". Default none. */
  opusFmtp?: string;
  /** Absent: werift's default. */
  bundlePolicy?: PeerConfig["bundlePolicy"];
  /** Video also negotiates the RID header extension (a simulcast publisher). Default false. */
  rid?: boolean;
}

export function weriftPeerConnection(o: WeriftPeerOptions): RTCPeerConnection {
  const vp8Feedback: RTCRtcpFeedback[] = [useNACK(), usePLI()];
  if (o.fir) vp8Feedback.push({ type: "ccm", parameter: "fir" });
  vp8Feedback.push(useREMB());
  const video = [
    new RTCRtpCodecParameters({
      mimeType: "video/VP8",
      clockRate: 90000,
      payloadType: 96,
      rtcpFeedback: vp8Feedback,
    }),
  ];
  if (o.rtx) {
    video.push(
      new RTCRtpCodecParameters({
        mimeType: "video/rtx",
        clockRate: 90000,
        payloadType: 97,
        parameters: "apt=96",
      }),
    );
  }
  // Like the server's: no query to werift's default public STUN server (tests talk to loopback only).
  return withoutDefaultStun(
    new RTCPeerConnection({
      codecs: {
        audio: [
          new RTCRtpCodecParameters({
            mimeType: "audio/opus",
            clockRate: 48000,
            channels: 2,
            payloadType: 111,
            ...(o.opusFmtp !== undefined ? { parameters: o.opusFmtp } : {}),
          }),
        ],
        video,
      },
      headerExtensions: {
        audio: [useSdesMid()],
        video: o.rid ? [useSdesMid(), useSdesRTPStreamId()] : [useSdesMid()],
      },
      iceServers: [],
      iceUseIpv4: false,
      iceUseIpv6: false,
      iceAdditionalHostAddresses: [o.address],
      iceInterfaceAddresses: { udp4: o.address },
      ...(o.bundlePolicy !== undefined ? { bundlePolicy: o.bundlePolicy } : {}),
    }),
  );
}
