/**
 * A sentence a person can read for every error the client can meet: one per code of the server's
 * table (typed against it, so a new server code without a sentence does not compile), and one per
 * local failure (code 0) such as an unreachable server or a refused camera.
 */
import { ErrorCode, type ErrorCodeName } from "../../../src/lib/errors.ts";

const BY_NAME: Record<ErrorCodeName, string> = {
  internal: "The server hit an internal error. Try again; if it keeps happening, tell the operator.",
  invalidMessage: "The server did not understand a message from this page (invalid message).",
  authFailed:
    "The server did not accept your bearer token: it is invalid, expired, not yet valid, or not for this room.",
  eventBus: "The server cannot reach its event bus right now. Try again in a moment.",
  unknownAction: "The server does not know this request.",
  notJoined: "Join a room first.",
  noSuchTarget: "That member is not in your room (any more).",
  roomEmpty: "The room is empty.",
  alreadyJoined: "This connection is already in a room.",
  roomFull: "The room is full. Try again later or choose another room.",
  noSuchSocket: "The server no longer knows this session (it expired, or the server restarted).",
  noSuchRoom: "The room no longer exists.",
  invalidSdp: "The server cannot use this browser's media description (SDP or ICE candidate).",
  eventError: "The server could not process an event from this page.",
  rateLimited: "Too many requests from this page: the server is rate limiting it. Slow down and try again.",
  network: "The server could not open a media connection.",
  sdpAlreadyNegotiated: "This media description was already negotiated.",
};

const BY_CODE = new Map<number, string>(
  Object.entries(ErrorCode).map(([name, code]) => [code, BY_NAME[name as ErrorCodeName]]),
);

/** Why a local failure (code 0) happened, when the client knows. */
export type LocalFailure =
  | "unreachable"
  | "origin-refused"
  | "too-many-connections"
  | "server-shutting-down"
  | "refused"
  | "timeout"
  | "closed"
  | "rate-limit-closed"
  | "replaced"
  | "superseded"
  | "camera-denied"
  | "camera-missing"
  | "camera-busy";

export const LOCAL_MESSAGES: Record<LocalFailure, string> = {
  unreachable: "The server is unreachable: it may be stopped, or the network is down.",
  "origin-refused":
    "The server refused this page: its address (origin) is not in the server's ALLOWED_ORIGINS.",
  "too-many-connections": "The server refused the connection: too many connections from your address.",
  "server-shutting-down": "The server is shutting down. Try again in a moment.",
  refused: "The server refused the connection (origin not allowed, too many connections, or shutting down).",
  timeout: "The server did not answer in time.",
  closed: "The connection to the server closed.",
  "rate-limit-closed": "The server closed the connection: this page sent too many messages (rate limit).",
  replaced: "This membership was taken over by another connection (reconnected elsewhere).",
  superseded:
    "You joined this room again from another page or device, so this page left the call. Join again here to take the call back.",
  "camera-denied":
    "The browser did not allow the camera and microphone. Allow them for this page (the camera icon in the address bar) and join again.",
  "camera-missing": "No camera or microphone was found. Connect one and join again.",
  "camera-busy": "The camera or microphone is in use by another program, or cannot be started.",
};

/** The sentence for a server error code (1280...), or a generic one for a code the client does not know. */
export function errorMessage(code: number): string {
  return BY_CODE.get(code) ?? `The server answered with error ${code}.`;
}

/** Every server code with its sentence, for documentation and tests. */
export function errorMessages(): ReadonlyMap<number, string> {
  return BY_CODE;
}

/** The sentence for a getUserMedia failure (DOMException name), or undefined when it is not one. */
export function cameraFailure(err: unknown): LocalFailure | undefined {
  const name =
    err instanceof Error || (typeof err === "object" && err && "name" in err) ? (err as Error).name : "";
  if (name === "NotAllowedError" || name === "SecurityError") return "camera-denied";
  if (name === "NotFoundError" || name === "OverconstrainedError") return "camera-missing";
  if (name === "NotReadableError" || name === "AbortError") return "camera-busy";
  return undefined;
}
