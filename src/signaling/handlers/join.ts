import { withMember } from "../../lib/context.ts";
import { ErrorCode, ProtocolError } from "../../lib/errors.ts";
import type { MessageOf } from "../../protocol/messages.ts";
import { okReply } from "../../protocol/replies.ts";
import type { SignalingConnection } from "../signaling-connection.ts";
import type { HandlerDeps } from "./handler-context.ts";
import { iceServersOf } from "./ice-servers.ts";

export async function handleJoin(
  deps: HandlerDeps,
  conn: SignalingConnection,
  msg: MessageOf<"join">,
): Promise<void> {
  if (conn.member) throw new ProtocolError(ErrorCode.alreadyJoined, "already joined");
  const started = performance.now();
  const identity = await verify(deps, msg.d.bearer);
  if (!conn.open) return;
  const ctx = withMember(conn.ctx, msg.d.roomId, identity.userId);
  const channel = deps.channels.open(conn.socketId, conn);
  let joined: ReturnType<HandlerDeps["rooms"]["join"]>;
  try {
    joined = deps.rooms.join(msg.d, identity, channel, ctx);
  } catch (err) {
    channel.close();
    throw err;
  }
  const { member, reply } = joined;
  conn.member = member;
  conn.send(okReply("join", { ...reply, ...iceServersOf(deps, identity.userId) }));
  deps.rooms.announceJoin(member);
  deps.metrics.joinSeconds.observe((performance.now() - started) / 1000);
  ctx.log.info({ roomSize: reply.roomSize }, "member joined");
}

export async function verify(deps: HandlerDeps, bearer: string) {
  try {
    return await deps.verifier.verify(bearer);
  } catch (err) {
    deps.metrics.authFailures.inc();
    throw err;
  }
}
