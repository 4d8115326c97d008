import { ErrorCode, ProgrammerError, ProtocolError } from "../../lib/errors.ts";
import type { MessageOf } from "../../protocol/messages.ts";
import { okReply } from "../../protocol/replies.ts";
import type { SignalingConnection } from "../signaling-connection.ts";
import type { HandlerDeps } from "./handler-context.ts";
import { iceServersOf } from "./ice-servers.ts";
import { verify } from "./join.ts";

/** Resumes a membership on a new socket: reconnectR first, then the queued messages in order. */
export async function handleReconnect(
  deps: HandlerDeps,
  conn: SignalingConnection,
  msg: MessageOf<"reconnect">,
): Promise<void> {
  if (conn.member) throw new ProtocolError(ErrorCode.alreadyJoined, "already joined");
  const identity = await verify(deps, msg.d.bearer);
  if (!conn.open) return;
  const member = deps.rooms.reconnect(msg.d.socketId, identity);
  const channel = deps.channels.get(member.socketId);
  if (!channel) throw new ProgrammerError("a member without its channel");
  conn.member = member;
  const room = deps.rooms.requireRoom(member);
  member.ctx.log.info({ newSocket: conn.socketId }, "member reconnected");
  conn.send(
    okReply("reconnect", {
      socketId: member.socketId,
      roomId: room.id,
      roomSize: room.size,
      lastSeq: channel.lastSeq,
      sessions: room.sessions().filter((s) => s.socketId !== member.socketId),
      ...iceServersOf(deps, member.userId),
    }),
  );
  const missed = channel.attach(conn, msg.d.lastSeq);
  if (missed > 0) {
    deps.metrics.queuedDropped.inc(missed);
    member.ctx.log.warn({ missed }, "reconnect: events no longer kept could not be replayed");
  }
}
