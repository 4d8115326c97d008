import type { ConnectionContext } from "../lib/context.ts";
import type { ClientMessage } from "../protocol/messages.ts";
import type { ServerMessage } from "../protocol/replies.ts";
import type { Member } from "../rooms/member.ts";
import type { CloseReason } from "./close-reason.ts";
import type { ChannelLink } from "./member-channel.ts";

/**
 * What the dispatcher and its handlers use of a connection. Two classes implement it: Connection
 * (a WebSocket on this node) and the cluster's RemoteConnection (the home's stand-in for a socket
 * held by another node), so handlers never depend on either.
 */
export interface SignalingConnection extends ChannelLink {
  readonly socketId: string;
  readonly ctx: ConnectionContext;
  /** The membership this connection carries, set by join and reconnect. */
  member: Member | undefined;
  /** False once the connection ended: a handler that awaited checks it before it joins. */
  readonly open: boolean;
  send(message: ServerMessage): void;
}

/**
 * Receives a connection's parsed messages, one at a time in order, and its close (at once, not
 * behind the messages). Properties, not methods, so that the compiler checks the connection type
 * contravariantly: handlers of SignalingConnection serve any connection, not the reverse.
 */
export interface SignalingHandlers<C extends SignalingConnection = SignalingConnection> {
  readonly message: (conn: C, message: ClientMessage) => Promise<void>;
  readonly closed: (conn: C, reason: CloseReason) => void;
}
