import type { MediaConstraintsFromServer } from "./media-constraints.ts";
import type { JoinReply, MemberRef, UserMediaConfiguration } from "./protocol.ts";
import type { RemoteMemberInfo } from "./remote-member.ts";

/**
 * The client's own lifecycle: "idle" (before join), "connecting", "joined",
 * "reconnecting" (socket dropped, trying `reconnect`), "closed" (left, or gave up).
 */
export type ClientState = "idle" | "connecting" | "joined" | "reconnecting" | "closed";

/** Everything a WebrtcSignalingClient emits, by event name. */
export interface ClientEvents {
  state: ClientState;
  /** joinR (also after an automatic re-join when the reconnect grace had expired). */
  joined: JoinReply;
  /** Another member is known (from joinR's sessions, or when it joins later). */
  memberJoined: RemoteMemberInfo;
  /** eventLeave: the member and its tile are gone. */
  memberLeft: { socketId: string; userId: string; roomSize: number };
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
  /** The socket came back: `rejoined` when the membership had expired and a fresh join was made. */
  reconnected: { socketId: string; attempts: number; rejoined: boolean };
  /** A failure nobody awaited (a candidate the browser refused, an offer that failed...). */
  error: Error;
}
