/**
 * The boundary between rooms and the media plane. Every call and event is plain,
 * serialisable data so that the media plane can live in a worker thread or process
 * (one per core) without changing the rooms side. Nothing here references a socket.
 */
export interface SessionDescription {
  type: "offer" | "answer" | "pranswer" | "rollback";
  sdp: string;
}

export interface IceCandidate {
  candidate: string;
  sdpMid?: string | null;
  sdpMLineIndex?: number | null;
  usernameFragment?: string | null;
}

/** "publisher" names a member's own publishing connection; a socketId names the listener connection for that publisher. */
export type MediaTarget = "publisher" | (string & {});

export const PUBLISHER_TARGET = "publisher";

export interface MediaMember {
  roomId: string;
  socketId: string;
  userId: string;
}

export type MediaEvent =
  /** A description the member must apply (answer to its publish offer, or an offer for a listener connection). */
  | { type: "sdp"; roomId: string; to: string; from: MediaTarget; sdp: SessionDescription }
  | { type: "candidate"; roomId: string; to: string; from: MediaTarget; candidate: IceCandidate }
  | { type: "webrtcUp"; roomId: string; to: string; from: MediaTarget }
  /** The server lost this connection (e.g. its media worker crashed): for "publisher", publish again. */
  | { type: "webrtcDown"; roomId: string; to: string; from: MediaTarget }
  | { type: "freeze"; roomId: string; publisher: string; frozen: boolean; durationMs: number };

export interface MediaPort {
  addMember(member: MediaMember): void;
  removeMember(roomId: string, socketId: string): void;
  /** Applies a member's description for `target`; events the answer before resolving. Rejects with ProtocolError 1320/1298/1330. */
  signal(roomId: string, socketId: string, target: MediaTarget, sdp: SessionDescription): Promise<void>;
  candidate(roomId: string, socketId: string, target: MediaTarget, candidate: IceCandidate): Promise<void>;
  onEvent(listener: (event: MediaEvent) => void): () => void;
  close(): Promise<void>;
}
