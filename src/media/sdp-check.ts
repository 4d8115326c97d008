import { MediaError } from "./media-error.ts";
import type { SessionDescription } from "./media-port.ts";

/**
 * First, cheap validation of a client's SDP before werift parses it: the expected type, a size
 * limit, the basic shape (v=0, at least one m= line, a DTLS fingerprint). werift's own parse and
 * negotiation errors are turned into 1320 by the sessions.
 */
export function checkSdp(sdp: SessionDescription, expected: "offer" | "answer", maxBytes: number): string {
  if (sdp.type !== expected) {
    throw new MediaError("invalid-sdp", `expected an SDP ${expected}, got "${String(sdp.type)}"`);
  }
  if (typeof sdp.sdp !== "string" || sdp.sdp.length === 0) {
    throw new MediaError("invalid-sdp", "empty SDP");
  }
  if (Buffer.byteLength(sdp.sdp) > maxBytes) {
    throw new MediaError("invalid-sdp", `SDP larger than ${maxBytes} bytes`);
  }
  const text = sdp.sdp.replace(/\r?\n/g, "\r\n");
  if (!text.startsWith("v=0\r\n")) throw new MediaError("invalid-sdp", "SDP must start with v=0");
  if (!/^m=(audio|video) /m.test(text))
    throw new MediaError("invalid-sdp", "SDP has no audio or video section");
  if (!/^a=fingerprint:/m.test(text)) throw new MediaError("invalid-sdp", "SDP has no DTLS fingerprint");
  return text.endsWith("\r\n") ? text : `${text}\r\n`;
}

/**
 * Whether an offer names at least one codec the server forwards (Opus, VP8, H.264 with
 * packetization-mode=1). Checked on the text, because on a renegotiated connection werift keeps
 * the previously negotiated codecs and would answer an offer that has none of them.
 */
export function offersSupportedCodec(text: string): boolean {
  const names = new Map<string, string>();
  for (const m of text.matchAll(/^a=rtpmap:(\d+) ([^/\s]+)\//gm))
    names.set(m[1] ?? "", (m[2] ?? "").toLowerCase());
  for (const [pt, name] of names) {
    if (name === "opus" || name === "vp8") return true;
    if (name === "h264" && new RegExp(`^a=fmtp:${pt} .*packetization-mode=1`, "m").test(text)) return true;
  }
  return false;
}

/**
 * Whether an SDP offers H.264 constrained baseline (profile-level-id 42e0xx or 42c0xx) with
 * packetization-mode=1: what the server can forward to every H.264 decoder.
 */
export function offersH264ConstrainedBaseline(text: string): boolean {
  for (const m of text.matchAll(/^a=rtpmap:(\d+) H264\//gim)) {
    const fmtp = new RegExp(`^a=fmtp:${m[1]} (.*)$`, "m").exec(text)?.[1] ?? "";
    if (/packetization-mode=1/.test(fmtp) && /profile-level-id=42[ec]0/i.test(fmtp)) return true;
  }
  return false;
}

/** The first DTLS fingerprint of an SDP. */
export function fingerprintOf(sdp: string): string | undefined {
  return /^a=fingerprint:(.+)$/m.exec(sdp)?.[1]?.trim();
}

/**
 * Whether two offers come from the same client RTCPeerConnection (a renegotiation or ICE restart)
 * rather than a new one. Same DTLS fingerprint, and either the same o= session id (constant for a
 * connection's lifetime per RFC 8829, as Chromium does; an ICE restart changes the ufrag) or the
 * same ICE ufrag (werift draws a new session id per offer but keeps the ufrag). werift reuses one
 * certificate per process, so the fingerprint alone does not tell.
 */
export function sameClientConnection(previous: string, next: string): boolean {
  if (fingerprintOf(previous) !== fingerprintOf(next)) return false;
  const origin = (sdp: string) => /^o=\S+ (\S+) /m.exec(sdp)?.[1];
  const ufrag = (sdp: string) => /^a=ice-ufrag:(\S+)/m.exec(sdp)?.[1];
  const o = origin(previous);
  const u = ufrag(previous);
  return (o !== undefined && o === origin(next)) || (u !== undefined && u === ufrag(next));
}

export function invalidSdp(message: string, cause?: unknown): MediaError {
  const detail = cause instanceof Error ? `: ${cause.message}` : "";
  return new MediaError("invalid-sdp", `${message}${detail}`, { cause });
}
