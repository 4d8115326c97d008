/**
 * The JSON protocol spoken on `ws://host/api`: requests `{a, d}`, replies `{a: a+"R", s, d | e}`,
 * and server events `{a: "event…", d}`. Types only, plus the numeric error codes.
 */

/** Error codes carried in `e` of a failed reply: the server's own table, bundled in. */
export { ErrorCode } from "../../../src/lib/errors.ts";

/** Names the server's publishing connection of this client in `to` / `from`. */
export const PUBLISHER = "publisher";

export interface MemberRef {
  socketId: string;
  userId: string;
}

/** What a client tells about itself when joining (all optional but roomId and bearer). */
export interface JoinInfo {
  platform: string;
  deviceName: string;
  networkType: string;
  version: string;
  appVersion: string;
  /** Degrees, 0..359. */
  orientation: number;
  camera: string;
  maxVideoBitrate?: number;
  maxAudioBitrate?: number;
}

export interface JoinRequest extends JoinInfo {
  roomId: string;
  bearer: string;
}

/** getUserMedia constraints as the server sends them: numbers written as strings. */
export interface UserMediaConfiguration {
  audio: boolean;
  video: {
    width: { min: string | number; max: string | number };
    height: { min: string | number; max: string | number };
    frameRate: { min: string | number; max: string | number };
  };
}

export interface JoinReply {
  socketId: string;
  userId: string;
  roomId: string;
  /** Members in the room, the joiner included. */
  roomSize: number;
  userMediaConfiguration: UserMediaConfiguration;
  /** The other members. */
  sessions: MemberRef[];
}

export interface ReconnectReply {
  socketId: string;
  roomId: string;
  roomSize: number;
  sessions: MemberRef[];
}

export interface SdpInit {
  type: "offer" | "answer" | "pranswer" | "rollback";
  sdp: string;
}

export interface CandidateInit {
  candidate: string;
  sdpMid?: string | null;
  sdpMLineIndex?: number | null;
  usernameFragment?: string | null;
}

/** Every event the server may send, by name. */
export interface ServerEvents {
  eventExchangeSdp: { from: MemberRef; sdp: SdpInit };
  eventExchangeCandidate: { from: MemberRef; candidate: CandidateInit };
  eventWebrtcUp: { from: MemberRef };
  /** The server lost that connection (its media worker restarted): the publisher publishes again. */
  eventWebrtcDown: { from: MemberRef };
  eventLeave: { roomId: string; roomSize: number; socketId: string; userId: string };
  eventUserMediaConfiguration: UserMediaConfiguration;
  eventOrientationChange: { from: MemberRef; platform: string; orientation: number; camera: string };
  eventMessage: { from: MemberRef; message: unknown };
  eventFreeze: { from: MemberRef; durationMs?: number };
  eventUnfreeze: { from: MemberRef; durationMs?: number };
}

export type ServerEventName = keyof ServerEvents;

/** `n` numbers the events sent to this member; `reconnect {lastSeq}` resumes after it. */
export type ServerEvent = {
  [K in ServerEventName]: { a: K; d: ServerEvents[K]; n?: number };
}[ServerEventName];

/** A reply to a request: `a` is the request's action plus "R". */
export type Reply = { a: string; s: true; d?: unknown } | { a: string; s: false; e: number };

/** A failed request: the server's error code (or 0 for a local failure such as a timeout). */
export class SignalingError extends Error {
  readonly code: number;
  readonly action: string;

  constructor(action: string, code: number, message?: string) {
    super(message ?? `${action} failed with ${code}`);
    this.name = "SignalingError";
    this.action = action;
    this.code = code;
  }
}
