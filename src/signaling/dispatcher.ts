import { ErrorCode, ProgrammerError, ProtocolError } from "../lib/errors.ts";
import type { ClientMessage } from "../protocol/messages.ts";
import { errorReply } from "../protocol/replies.ts";
import type { CloseReason } from "./close-reason.ts";
import { leavesRoom } from "./close-reason.ts";
import type { HandlerDeps } from "./handlers/handler-context.ts";
import { handleJoin } from "./handlers/join.ts";
import { handleMemberAction } from "./handlers/member-actions.ts";
import { handleReconnect } from "./handlers/reconnect.ts";
import type { SignalingConnection, SignalingHandlers } from "./signaling-connection.ts";

/** Sends each typed message to its handler and turns every failure into the protocol's error reply. */
export function newDispatcher(deps: HandlerDeps): SignalingHandlers {
  return {
    async message(conn: SignalingConnection, msg: ClientMessage): Promise<void> {
      try {
        if (msg.a === "join") await handleJoin(deps, conn, msg);
        else if (msg.a === "reconnect") await handleReconnect(deps, conn, msg);
        else {
          const reply = await handleMemberAction(deps, conn, msg);
          if (reply) conn.send(reply);
        }
      } catch (err) {
        const code = err instanceof ProtocolError ? err.code : ErrorCode.internal;
        deps.metrics.errors.inc({ code: String(code) });
        if (err instanceof ProtocolError)
          conn.ctx.log.info({ action: msg.a, code, why: err.message }, "request failed");
        else {
          deps.metrics.programmerErrors.inc();
          conn.ctx.log.error({ action: msg.a, err, bug: err instanceof ProgrammerError }, "request crashed");
        }
        conn.send(errorReply(msg.a, code));
      }
    },
    closed(conn: SignalingConnection, reason: CloseReason): void {
      const member = conn.member;
      if (!member) return;
      const channel = deps.channels.get(member.socketId);
      if (!channel?.isLinkedTo(conn)) return;
      if (leavesRoom(reason)) deps.rooms.leave(member, "closed");
      else {
        channel.detach();
        deps.rooms.disconnected(member);
      }
    },
  };
}
