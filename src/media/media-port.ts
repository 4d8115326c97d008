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
  /**
   * The member's client accepts a new offer for a listener connection it already has. Without it
   * (the 2018 Tribe app re-sends its old answer and the connection stays stuck) the server never
   * re-offers: a failed listener connection stays down (eventWebrtcDown), and a publisher's codec
   * change ends that listener connection (eventWebrtcDown) until the member joins again.
   */
  reoffer: boolean;
}

export type MediaEvent =
  /** An offer for a listener connection the member must answer (publish answers are `signal`'s result). */
  | { type: "sdp"; roomId: string; to: string; from: MediaTarget; sdp: SessionDescription }
  | { type: "candidate"; roomId: string; to: string; from: MediaTarget; candidate: IceCandidate }
  | { type: "webrtcUp"; roomId: string; to: string; from: MediaTarget }
  /** The server lost this connection (e.g. its media worker crashed): for "publisher", publish again. */
  | { type: "webrtcDown"; roomId: string; to: string; from: MediaTarget }
  | { type: "freeze"; roomId: string; publisher: string; frozen: boolean; durationMs: number };

/**
 * A listener's wish for one publisher's video (protocol `setVideoQuality`). Simulcast publishers:
 * `maxLayer` (0 = lowest) and `maxHeight` (the height the video is shown at: the lowest layer at
 * least that tall is enough) cap the layer, `paused` stops the video. Single-encoding publishers:
 * no effect.
 */
export interface VideoQuality {
  maxHeight?: number;
  maxLayer?: number;
  paused?: boolean;
}

/** Per call: `signal` aborts it (a deadline, e.g. `AbortSignal.timeout`), rejecting with MediaError "unavailable". */
export interface MediaCallOptions {
  signal?: AbortSignal;
}

export interface MediaPort {
  addMember(member: MediaMember): void;
  removeMember(roomId: string, socketId: string): void;
  /**
   * Applies a member's description for `target`. Resolves with the answer to a publish offer (the
   * caller delivers it; no event carries it), undefined for a listener's answer. Rejects with a
   * MediaError (src/media/media-error.ts).
   */
  signal(
    roomId: string,
    socketId: string,
    target: MediaTarget,
    sdp: SessionDescription,
    options?: MediaCallOptions,
  ): Promise<SessionDescription | undefined>;
  candidate(
    roomId: string,
    socketId: string,
    target: MediaTarget,
    candidate: IceCandidate,
    options?: MediaCallOptions,
  ): Promise<void>;
  /**
   * The member's wish for `publisher`'s video on its listener connection (kept for that pair's later
   * connections). Rejects with MediaError "no-such-connection" when that publisher is not a member.
   */
  setVideoQuality(
    roomId: string,
    socketId: string,
    publisher: string,
    quality: VideoQuality,
    options?: MediaCallOptions,
  ): Promise<void>;
  onEvent(listener: (event: MediaEvent) => void): () => void;
  close(): Promise<void>;
}
