import type { IceServerErrorInfo, MediaUnreachableInfo } from "./ice-config.ts";
import type { MediaConstraintsFromServer } from "./media-constraints.ts";
import type { JoinReply, MemberRef, SignalingError, UserMediaConfiguration } from "./protocol.ts";
import type { RemoteMemberInfo } from "./remote-member.ts";

/**
 * The client's own lifecycle: "idle" (before join), "connecting", "joined",
 * "reconnecting" (socket dropped, trying `reconnect`), "closed" (left, or gave up).
 */
/** Why a member left this client's view (see ClientEvents.memberLeft). */
export type MemberGone = "left" | "rejoin" | "closed";

export type ClientState = "idle" | "connecting" | "joined" | "reconnecting" | "closed";

/** Everything a WebrtcSignalingClient emits, by event name. */
export interface ClientEvents {
  state: ClientState;
  /** joinR (also after an automatic re-join when the reconnect grace had expired). */
  joined: JoinReply;
  /** Another member is known (from joinR's sessions, or when it joins later). */
  memberJoined: RemoteMemberInfo;
  /**
   * The member is gone from this client: `reason` "left" (eventLeave, or gone after a reconnect),
   * "rejoin" (this client's membership expired and it joins again: the others did not leave, they
   * come back with new socketIds), "closed" (this client left or was closed).
   */
  memberLeft: { socketId: string; userId: string; roomSize: number; reason: MemberGone };
  /** A remote publisher's stream got a track, or was replaced by a new connection. */
  remoteStream: RemoteMemberInfo & { stream: MediaStream };
  /** A remote member's connection state or `up` changed. */
  remoteState: RemoteMemberInfo;
  /** This client's publishing connection changed state; `up` after the server's eventWebrtcUp. */
  publishState: { state: RTCPeerConnectionState; up: boolean };
  /** The server asks for these capture constraints (joinR and eventUserMediaConfiguration). */
  userMediaConfiguration: { configuration: UserMediaConfiguration; constraints: MediaConstraintsFromServer };
  /** eventFreeze / eventUnfreeze about a remote publisher. */
  freeze: { from: MemberRef; frozen: boolean; durationMs?: number };
  /** eventMessage from another member. */
  message: { from: MemberRef; message: unknown };
  /**
   * The socket dropped (or the server stopped) and reconnect attempt `attempt` (1, 2, ...) starts
   * after `delayMs`; `error` says why the previous attempt failed (error.reason "unreachable", ...).
   */
  reconnecting: { attempt: number; delayMs: number; error?: SignalingError };
  /** The socket came back: `rejoined` when the membership had expired and a fresh join was made. */
  reconnected: { socketId: string; attempts: number; rejoined: boolean };
  /** A TURN server refused (401: bad or expired credentials) or did not answer, for one connection. */
  iceServerError: IceServerErrorInfo;
  /** A media connection did not connect within mediaConnectTimeoutMs, or failed: no network path. */
  mediaUnreachable: MediaUnreachableInfo;
  /** A failure nobody awaited (a candidate the browser refused, an offer that failed...). */
  error: Error;
}
