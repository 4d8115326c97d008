import { isIPv4, isIPv6 } from "node:net";
import { availableParallelism } from "node:os";
import { z } from "zod";
import { ConfigError } from "../lib/errors.ts";
import { int, optionalString, parseEnv } from "./env-schema.ts";

/** Bitrate limits of one media kind, in bits per second. */
export interface BitrateLimits {
  readonly start: number;
  readonly min: number;
  readonly max: number;
  /** Largest increase per estimation round (the estimator never jumps by more). */
  readonly step: number;
}

/** Server-made lower video layers (src/media/transcode/, docs/media.md "Transcoding"). */
export interface TranscodeConfig {
  /** Transcoder processes at most at once per node (each media worker's pool gets ceil(max / workers)); 0: off. */
  readonly max: number;
  /** How long a transcoder keeps running after its last listener left (a listener coming back reuses it). */
  readonly lingerMs: number;
  /** VP8 bitrate of the layer made, bits per second. */
  readonly bitrateBps: number;
  /**
   * Longest time between two keyframes of the layer made (listeners joining it wait at most this), for
   * sources at 15 fps or more (the encoder counts frames: at 30 fps keyframes come twice as often).
   */
  readonly keyframeIntervalMs: number;
}

/** Default TRANSCODE_MAX: two transcoders per core (about 15 % of a core each, docs/media.md "Transcoding"). */
export function defaultTranscodeMax(cores = availableParallelism()): number {
  return Math.max(1, cores * 2);
}

/** Validated, frozen settings of the MCU media plane (see docs/media.md, "Configuration"). */
export interface MediaConfig {
  /** Address announced in the server's ICE candidates. */
  readonly publicIpv4: string;
  /** Address the UDP sockets bind to; candidates announce publicIpv4 instead when they differ. */
  readonly listenIpv4: string;
  readonly publicIpv6?: string;
  readonly listenIpv6?: string;
  /** Inclusive UDP port range for media sockets; undefined: ephemeral ports. */
  readonly portRange?: readonly [number, number];
  readonly bitrate: { readonly audio: BitrateLimits; readonly video: BitrateLimits };
  readonly freezeTimeoutMs: number;
  readonly nackHistoryMs: number;
  readonly keyframeMinIntervalMs: number;
  /** How often the bitrate cap is recomputed and sent to publishers (REMB). */
  readonly bitrateIntervalMs: number;
  /** Largest SDP accepted from a client, in bytes. */
  readonly maxSdpBytes: number;
  /** Media worker threads (rooms spread over them); 0: the media plane runs in the main thread. */
  readonly workers: number;
  /**
   * "h264": a publisher offering H.264 constrained baseline (packetization-mode=1) publishes H.264
   * when every other member that has published offered it too, as the original server did (phones
   * encode it in hardware); VP8 otherwise. "vp8": always VP8 when offered.
   */
  readonly videoCodecPreference: "h264" | "vp8";
  /** Deadline of one signaling call into the media plane (an SDP or a candidate); then 1328. */
  readonly callTimeoutMs: number;
  /**
   * "own": the per-packet path from publisher to listener is the project's (in-place header rewrite,
   * own SRTP protect per listener, one datagram send on the selected pair; docs/media.md). "werift":
   * through werift's RTCRtpSender, as before (for comparison).
   */
  readonly forwarding: "own" | "werift";
  /**
   * "own": publishers' SRTP is unprotected by the project's SrtpUnprotector (replay window, counted
   * rejections) and the RTP of every stream werift has routed once goes from the socket to the track
   * without werift's parsing, router and event chain (compat.RtpIngress); "own-srtp": our unprotect,
   * werift's routing (the previous default, to compare); "werift": werift's SrtpSession, as before
   * (MEDIA_RECEIVE).
   */
  readonly receive: "own" | "own-srtp" | "werift";
  readonly transcode: TranscodeConfig;
}

const ipv4 = optionalString.refine((v) => v === undefined || isIPv4(v), "must be an IPv4 address");
const ipv6 = optionalString.refine((v) => v === undefined || isIPv6(v), "must be an IPv6 address");
const portRange = optionalString
  .refine(
    (v) => v === undefined || /^\d{1,5}-\d{1,5}$/.test(v),
    'must look like "min-max", e.g. "40000-40999"',
  )
  .transform((v): [number, number] | undefined => {
    if (v === undefined) return undefined;
    const [min, max] = v.split("-").map(Number) as [number, number];
    return [min, max];
  })
  .refine(
    (r) => r === undefined || (r[0] >= 1024 && r[1] <= 65535 && r[0] < r[1]),
    "needs 1024 <= min < max <= 65535",
  );

const bps = (def: number) => int(def, 1000, 100_000_000);

const envSchema = z.object({
  PUBLIC_IPV4: ipv4.transform((v) => v ?? "127.0.0.1"),
  MEDIA_LISTEN_IPV4: ipv4,
  PUBLIC_IPV6: ipv6,
  MEDIA_LISTEN_IPV6: ipv6,
  STATIC_PORTS: portRange,
  BITRATE_AUDIO_START: bps(32_000),
  BITRATE_AUDIO_MIN: bps(16_000),
  BITRATE_AUDIO_MAX: bps(64_000),
  BITRATE_AUDIO_STEP: bps(8_000),
  BITRATE_VIDEO_START: bps(500_000),
  BITRATE_VIDEO_MIN: bps(100_000),
  BITRATE_VIDEO_MAX: bps(2_000_000),
  BITRATE_VIDEO_STEP: bps(100_000),
  FREEZE_TIMEOUT_MS: int(2000, 100, 600_000),
  NACK_HISTORY_MS: int(1500, 1000, 10_000),
  KEYFRAME_MIN_INTERVAL_MS: int(500, 0, 60_000),
  MEDIA_BITRATE_INTERVAL_MS: int(1000, 100, 60_000),
  MEDIA_MAX_SDP_BYTES: int(64 * 1024, 1024, 1024 * 1024),
  MEDIA_WORKERS: int(0, 0, 256),
  VIDEO_CODEC_PREFERENCE: z.enum(["h264", "vp8"]).default("h264"),
  MEDIA_CALL_TIMEOUT_MS: int(10_000, 100, 120_000),
  MEDIA_FORWARDING: z.enum(["own", "werift"]).default("own"),
  MEDIA_RECEIVE: z.enum(["own", "own-srtp", "werift"]).default("own"),
  TRANSCODE_MAX: int(defaultTranscodeMax(), 0, 1024),
  TRANSCODE_LINGER_MS: int(5000, 0, 600_000),
  TRANSCODE_BITRATE: int(150_000, 30_000, 2_000_000),
  TRANSCODE_KEYFRAME_INTERVAL_MS: int(1000, 100, 10_000),
});

function limits(kind: "AUDIO" | "VIDEO", e: z.output<typeof envSchema>): BitrateLimits {
  const start = e[`BITRATE_${kind}_START`];
  const min = e[`BITRATE_${kind}_MIN`];
  const max = e[`BITRATE_${kind}_MAX`];
  const step = e[`BITRATE_${kind}_STEP`];
  if (min > max)
    throw new ConfigError(`BITRATE_${kind}_MIN (${min}) must not exceed BITRATE_${kind}_MAX (${max})`);
  if (start < min || start > max) {
    throw new ConfigError(`BITRATE_${kind}_START (${start}) must lie between BITRATE_${kind}_MIN and _MAX`);
  }
  return { start, min, max, step };
}

/** Reads and validates the media plane's environment; throws ConfigError naming the bad variable. */
export function loadMediaConfig(env: Record<string, string | undefined> = process.env): MediaConfig {
  const e = parseEnv(envSchema, env, "media configuration");
  if (e.MEDIA_LISTEN_IPV6 !== undefined && e.PUBLIC_IPV6 === undefined) {
    throw new ConfigError("MEDIA_LISTEN_IPV6 needs PUBLIC_IPV6 (the address to announce)");
  }
  const listenIpv6 = e.MEDIA_LISTEN_IPV6 ?? e.PUBLIC_IPV6;
  return Object.freeze({
    publicIpv4: e.PUBLIC_IPV4,
    listenIpv4: e.MEDIA_LISTEN_IPV4 ?? e.PUBLIC_IPV4,
    ...(e.PUBLIC_IPV6 !== undefined ? { publicIpv6: e.PUBLIC_IPV6 } : {}),
    ...(listenIpv6 !== undefined ? { listenIpv6 } : {}),
    ...(e.STATIC_PORTS !== undefined ? { portRange: e.STATIC_PORTS } : {}),
    bitrate: { audio: limits("AUDIO", e), video: limits("VIDEO", e) },
    freezeTimeoutMs: e.FREEZE_TIMEOUT_MS,
    nackHistoryMs: e.NACK_HISTORY_MS,
    keyframeMinIntervalMs: e.KEYFRAME_MIN_INTERVAL_MS,
    bitrateIntervalMs: e.MEDIA_BITRATE_INTERVAL_MS,
    maxSdpBytes: e.MEDIA_MAX_SDP_BYTES,
    workers: e.MEDIA_WORKERS,
    videoCodecPreference: e.VIDEO_CODEC_PREFERENCE,
    callTimeoutMs: e.MEDIA_CALL_TIMEOUT_MS,
    forwarding: e.MEDIA_FORWARDING,
    receive: e.MEDIA_RECEIVE,
    transcode: Object.freeze({
      max: e.TRANSCODE_MAX,
      lingerMs: e.TRANSCODE_LINGER_MS,
      bitrateBps: e.TRANSCODE_BITRATE,
      keyframeIntervalMs: e.TRANSCODE_KEYFRAME_INTERVAL_MS,
    }),
  });
}
