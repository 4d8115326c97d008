import { ErrorCode, ProtocolError } from "../../lib/errors.ts";
import type { Connection } from "../connection.ts";
import type { MessageOf } from "../protocol/messages.ts";
import { okReply } from "../protocol/replies.ts";
import type { HandlerDeps } from "./handler-context.ts";
import { verify } from "./join.ts";

/** Resumes a membership on a new socket: reconnectR first, then the queued messages in order. */
export async function handleReconnect(
  deps: HandlerDeps,
  conn: Connection,
  msg: MessageOf<"reconnect">,
): Promise<void> {
  if (conn.member) throw new ProtocolError(ErrorCode.alreadyJoined, "already joined");
  const identity = await verify(deps, msg.d.bearer);
  if (!conn.open) return;
  const member = deps.rooms.reconnect(msg.d.socketId, identity);
  conn.member = member;
  const room = deps.rooms.requireRoom(member);
  member.ctx.log.info({ newSocket: conn.socketId }, "member reconnected");
  conn.send(
    okReply("reconnect", {
      socketId: member.socketId,
      roomId: room.id,
      roomSize: room.size,
      lastSeq: member.lastSeq,
      sessions: room.sessions().filter((s) => s.socketId !== member.socketId),
    }),
  );
  deps.rooms.resume(member, conn, msg.d.lastSeq);
}
