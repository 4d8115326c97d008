import { ErrorCode, type ErrorCodeValue, ProtocolError } from "../lib/errors.ts";
import { MediaError, type MediaErrorKind } from "../media/media-error.ts";

/** The wire code of each media failure (docs/protocol.md, "Error codes"). */
const WIRE_CODES: Record<MediaErrorKind, ErrorCodeValue> = {
  "invalid-sdp": ErrorCode.invalidSdp,
  "no-such-connection": ErrorCode.noSuchTarget,
  "already-negotiated": ErrorCode.sdpAlreadyNegotiated,
  "not-member": ErrorCode.notJoined,
  unavailable: ErrorCode.network,
};

/** A MediaError as the ProtocolError the client is answered with; anything else (a bug) as it is. */
export function toProtocolError(err: unknown): unknown {
  return err instanceof MediaError
    ? new ProtocolError(WIRE_CODES[err.kind], err.message, { cause: err })
    : err;
}

/** The code a media failure is answered with; undefined for what is not a MediaError. */
export function wireCodeOf(err: unknown): ErrorCodeValue | undefined {
  return err instanceof MediaError ? WIRE_CODES[err.kind] : undefined;
}
