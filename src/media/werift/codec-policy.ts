import {
  RTCRtpCodecParameters,
  type RTCRtpHeaderExtensionParameters,
  useNACK,
  usePLI,
  useREMB,
  useRepairedRtpStreamId,
  useSdesMid,
  useSdesRTPStreamId,
} from "werift";

/**
 * What the server negotiates: Opus (pt 111), VP8 (pt 96, RTX 97) preferred, H.264 constrained
 * baseline 42e01f packetization-mode=1 (pt 102, RTX 103) accepted when offered. Only the MID header
 * extension (BUNDLE demultiplexing); no transport-cc or abs-send-time, which cost ~40 % more CPU per
 * packet in werift (docs/media.md). Bandwidth feedback is REMB + receiver reports.
 */
const OPUS_PT = 111;
const VP8_PT = 96;
const VP8_RTX_PT = 97;
const H264_PT = 102;
const H264_RTX_PT = 103;

const videoFeedback = () => [useNACK(), usePLI(), { type: "ccm", parameter: "fir" }, useREMB()];

export function opus(): RTCRtpCodecParameters {
  return new RTCRtpCodecParameters({
    mimeType: "audio/opus",
    clockRate: 48000,
    channels: 2,
    payloadType: OPUS_PT,
    parameters: "minptime=10;useinbandfec=1",
    rtcpFeedback: [],
  });
}

export function vp8(): RTCRtpCodecParameters {
  return new RTCRtpCodecParameters({
    mimeType: "video/VP8",
    clockRate: 90000,
    payloadType: VP8_PT,
    rtcpFeedback: videoFeedback(),
  });
}

export function h264(): RTCRtpCodecParameters {
  return new RTCRtpCodecParameters({
    mimeType: "video/H264",
    clockRate: 90000,
    payloadType: H264_PT,
    parameters: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
    rtcpFeedback: videoFeedback(),
  });
}

function rtxFor(primary: RTCRtpCodecParameters, payloadType: number): RTCRtpCodecParameters {
  return new RTCRtpCodecParameters({
    mimeType: "video/rtx",
    clockRate: 90000,
    payloadType,
    parameters: `apt=${primary.payloadType}`,
    rtcpFeedback: [],
  });
}

export interface CodecSet {
  audio: RTCRtpCodecParameters[];
  video: RTCRtpCodecParameters[];
}

/** Codecs a publisher connection accepts. */
export function publisherCodecs(): CodecSet {
  const v = vp8();
  const h = h264();
  return { audio: [opus()], video: [v, rtxFor(v, VP8_RTX_PT), h, rtxFor(h, H264_RTX_PT)] };
}

/** Plain description of the codec a publisher's stream negotiated; crosses the boundary as data. */
export interface NegotiatedCodec {
  mimeType: string;
  clockRate: number;
  channels?: number;
  parameters?: string;
}

/** Codecs offered to a listener: exactly the publisher's negotiated codec (+ RTX for video), with our payload types. */
export function listenerCodecs(
  audio: NegotiatedCodec | undefined,
  video: NegotiatedCodec | undefined,
): CodecSet {
  const set: CodecSet = { audio: [], video: [] };
  if (audio) set.audio.push(opus());
  if (video) {
    const primary = video.mimeType.toLowerCase() === "video/h264" ? h264() : vp8();
    set.video.push(primary, rtxFor(primary, primary.payloadType === H264_PT ? H264_RTX_PT : VP8_RTX_PT));
  }
  return set;
}

export function isSupportedMime(mimeType: string): boolean {
  return ["audio/opus", "video/vp8", "video/h264"].includes(mimeType.toLowerCase());
}

/**
 * MID everywhere; publisher connections also take the RID and repaired-RID extensions (RFC 8852),
 * which simulcast publishers tag their layers with (werift routes the layers by RID).
 */
export function headerExtensions(publisher = false): {
  audio: RTCRtpHeaderExtensionParameters[];
  video: RTCRtpHeaderExtensionParameters[];
} {
  return {
    audio: [useSdesMid()],
    video: publisher ? [useSdesMid(), useSdesRTPStreamId(), useRepairedRtpStreamId()] : [useSdesMid()],
  };
}
