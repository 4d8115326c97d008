/**
 * The wire protocol's data, shared by the server and the browser client (web/src/client re-exports
 * it): what replies carry and every event the server sends, by name. Types only, plus the name of a
 * member's own publishing connection. Renaming an event or a field here breaks the build on both sides.
 */

/** Names a member's own publishing connection in `to` and `from`. */
export const PUBLISHER = "publisher";

export interface MemberRef {
  socketId: string;
  userId: string;
}

/** getUserMedia constraints for the room size; the server writes the numbers as strings, as the original did. */
export interface UserMediaConfiguration {
  audio: boolean;
  video: {
    width: { min: string | number; max: string | number };
    height: { min: string | number; max: string | number };
    frameRate: { min: string | number; max: string | number };
  };
}

/** A TURN or STUN server with its credential, as RTCPeerConnection takes it. */
export interface IceServerInit {
  urls: string | string[];
  username?: string;
  credential?: string;
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

/** `setVideoQuality`'s wish for one publisher's video (docs/protocol.md). */
export interface VideoQualityInit {
  maxHeight?: number;
  maxLayer?: number;
  paused?: boolean;
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
  /** TURN servers with credentials for this member (servers with TURN_URLS only). */
  iceServers?: IceServerInit[];
}

export interface ReconnectReply {
  socketId: string;
  roomId: string;
  roomSize: number;
  sessions: MemberRef[];
  /** The server's newest event number for this member. */
  lastSeq: number;
  /** Fresh TURN credentials (servers with TURN_URLS only). */
  iceServers?: IceServerInit[];
}

/** Every event the server may send, by name. */
export interface ServerEvents {
  eventExchangeSdp: { from: MemberRef; sdp: SdpInit };
  eventExchangeCandidate: { from: MemberRef; candidate: CandidateInit };
  eventWebrtcUp: { from: MemberRef };
  /** The server lost that connection: for `from.socketId` "publisher", publish again. */
  eventWebrtcDown: { from: MemberRef };
  eventLeave: { roomId: string; roomSize: number; socketId: string; userId: string };
  eventUserMediaConfiguration: UserMediaConfiguration;
  eventOrientationChange: { from: MemberRef; platform: string; orientation: number; camera: string };
  eventMessage: { from: MemberRef; message: unknown };
  eventFreeze: { from: MemberRef; durationMs?: number };
  eventUnfreeze: { from: MemberRef; durationMs?: number };
}

export type ServerEventName = keyof ServerEvents;

/** `n` numbers the events sent to a member; `reconnect {lastSeq}` resumes after it. */
export type ServerEvent = {
  [K in ServerEventName]: { a: K; d: ServerEvents[K]; n?: number };
}[ServerEventName];
