import { ErrorCode, ProtocolError } from "../../lib/errors.ts";
import type { Member } from "../../rooms/member.ts";
import type { Connection } from "../connection.ts";
import type { ClientMessage } from "../protocol/messages.ts";
import { okReply, type ServerMessage } from "../protocol/replies.ts";
import type { HandlerDeps } from "./handler-context.ts";

type MemberMessage = Exclude<ClientMessage, { a: "join" } | { a: "reconnect" }>;

/** Everything a joined member may send. Returns the reply, or undefined for client events. */
export async function handleMemberAction(
  deps: HandlerDeps,
  conn: Connection,
  msg: MemberMessage,
): Promise<ServerMessage | undefined> {
  const member = conn.member;
  if (!member) throw new ProtocolError(ErrorCode.notJoined, "join first");
  switch (msg.a) {
    case "exchangeSdp":
      await deps.router.exchangeSdp(member, msg.d.to, msg.d.sdp);
      return okReply(msg.a);
    case "exchangeCandidate":
      await deps.router.exchangeCandidate(member, msg.d.to, msg.d.candidate);
      return okReply(msg.a);
    case "sendMessage":
      deps.router.sendMessage(member, msg.d.to, msg.d.message);
      return okReply(msg.a);
    case "orientationChange":
      deps.rooms.orientationChange(member, msg.d.orientation, msg.d.camera);
      return okReply(msg.a);
    case "eventFreeze":
      deps.metrics.freezes.inc({ source: "client" });
      deps.events.publish({ key: "client.freeze", payload: ref(member) });
      return undefined;
    case "eventCpu":
      deps.events.publish({ key: "client.cpu", payload: { ...ref(member), cpuUsed: msg.d.cpuUsed } });
      return undefined;
    case "eventNetworkChange":
      member.info.networkType = msg.d.networkType;
      deps.events.publish({
        key: "client.network",
        payload: { ...ref(member), networkType: msg.d.networkType },
      });
      return undefined;
  }
}

function ref(m: Member) {
  return { roomId: m.roomId, socketId: m.socketId, userId: m.userId };
}
