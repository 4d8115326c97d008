import { ErrorCode, ProtocolError } from "../lib/errors.ts";
import type { SessionDescription } from "./media-port.ts";

/**
 * First, cheap validation of a client's SDP before werift parses it: the expected type, a size
 * limit, the basic shape (v=0, at least one m= line, a DTLS fingerprint). werift's own parse and
 * negotiation errors are turned into 1320 by the sessions.
 */
export function checkSdp(sdp: SessionDescription, expected: "offer" | "answer", maxBytes: number): string {
  if (sdp.type !== expected) {
    throw new ProtocolError(ErrorCode.invalidSdp, `expected an SDP ${expected}, got "${String(sdp.type)}"`);
  }
  if (typeof sdp.sdp !== "string" || sdp.sdp.length === 0) {
    throw new ProtocolError(ErrorCode.invalidSdp, "empty SDP");
  }
  if (Buffer.byteLength(sdp.sdp) > maxBytes) {
    throw new ProtocolError(ErrorCode.invalidSdp, `SDP larger than ${maxBytes} bytes`);
  }
  const text = sdp.sdp.replace(/\r?\n/g, "\r\n");
  if (!text.startsWith("v=0\r\n")) throw new ProtocolError(ErrorCode.invalidSdp, "SDP must start with v=0");
  if (!/^m=(audio|video) /m.test(text))
    throw new ProtocolError(ErrorCode.invalidSdp, "SDP has no audio or video section");
  if (!/^a=fingerprint:/m.test(text))
    throw new ProtocolError(ErrorCode.invalidSdp, "SDP has no DTLS fingerprint");
  return text.endsWith("\r\n") ? text : `${text}\r\n`;
}

/** The first DTLS fingerprint of an SDP: a different one means a new client connection, not a renegotiation. */
export function fingerprintOf(sdp: string): string | undefined {
  return /^a=fingerprint:(.+)$/m.exec(sdp)?.[1]?.trim();
}

export function invalidSdp(message: string, cause?: unknown): ProtocolError {
  const detail = cause instanceof Error ? `: ${cause.message}` : "";
  return new ProtocolError(ErrorCode.invalidSdp, `${message}${detail}`, { cause });
}
