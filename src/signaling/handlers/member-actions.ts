import { ErrorCode, ProtocolError } from "../../lib/errors.ts";
import type { ClientMessage } from "../../protocol/messages.ts";
import { okReply, type ServerMessage } from "../../protocol/replies.ts";
import type { Member } from "../../rooms/member.ts";
import type { SignalingConnection } from "../signaling-connection.ts";
import type { HandlerDeps } from "./handler-context.ts";

type MemberMessage = Exclude<ClientMessage, { a: "join" } | { a: "reconnect" }>;

/** Everything a joined member may send. Returns the reply, or undefined for client events. */
export async function handleMemberAction(
  deps: HandlerDeps,
  conn: SignalingConnection,
  msg: MemberMessage,
): Promise<ServerMessage | undefined> {
  const member = conn.member;
  if (!member) throw new ProtocolError(ErrorCode.notJoined, "join first");
  switch (msg.a) {
    case "exchangeSdp":
      if (!(await deps.router.exchangeSdp(member, msg.d.to, msg.d.sdp)))
        peerLeft(deps, conn, msg.a, msg.d.to);
      return okReply(msg.a);
    case "exchangeCandidate":
      if ("endOfCandidates" in msg.d.candidate) {
        // Nothing to do: the server's ICE agents do not wait for the client's end of gathering.
        deps.metrics.signalsIgnored.inc({ reason: "end-of-candidates" });
        return okReply(msg.a);
      }
      if (!(await deps.router.exchangeCandidate(member, msg.d.to, msg.d.candidate)))
        peerLeft(deps, conn, msg.a, msg.d.to);
      return okReply(msg.a);
    case "sendMessage":
      deps.router.sendMessage(member, msg.d.to, msg.d.message);
      return okReply(msg.a);
    case "setVideoQuality": {
      const { to, ...quality } = msg.d;
      await deps.router.videoQuality(member, to, quality);
      return okReply(msg.a);
    }
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

function peerLeft(deps: HandlerDeps, conn: SignalingConnection, action: string, to: string): void {
  deps.metrics.signalsIgnored.inc({ reason: "peer-left" });
  conn.ctx.log.debug({ action, to }, "dropped: the peer left the room");
}

function ref(m: Member) {
  return { roomId: m.roomId, socketId: m.socketId, userId: m.userId };
}
