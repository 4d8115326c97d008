import type { ListenerConnection } from "./listener-connection.ts";
import type { MemberRef } from "./protocol.ts";

/**
 * Where a remote member's media stands, as seen by this client:
 * "waiting" (no offer yet: not publishing), then the listener connection's RTCPeerConnectionState.
 */
export type RemoteMediaState = "waiting" | RTCPeerConnectionState;

/** A public snapshot of another member of the room. */
export interface RemoteMemberInfo {
  socketId: string;
  userId: string;
  state: RemoteMediaState;
  /**
   * The server said the connection carries media (eventWebrtcUp); kept while the connection is only
   * "disconnected" (it usually comes back without a new eventWebrtcUp). Media flows when `up` and
   * `state === "connected"`.
   */
  up: boolean;
  /** The server reported the publisher's video frozen (eventFreeze) and not yet recovered. */
  frozen: boolean;
  stream: MediaStream | undefined;
}

/** Internal record of one other member and its listener connection. */
export class RemoteMember {
  readonly socketId: string;
  userId: string;
  state: RemoteMediaState = "waiting";
  up = false;
  frozen = false;
  listener: ListenerConnection | undefined;
  /** Offers for this publisher are handled one after the other. */
  chain: Promise<void> = Promise.resolve();

  constructor(ref: MemberRef) {
    this.socketId = ref.socketId;
    this.userId = ref.userId;
  }

  info(): RemoteMemberInfo {
    return {
      socketId: this.socketId,
      userId: this.userId,
      state: this.state,
      up: this.up,
      frozen: this.frozen,
      stream: this.listener?.stream,
    };
  }

  close(): void {
    this.listener?.close();
    this.listener = undefined;
    this.state = "closed";
    this.up = false;
  }
}
