import { ErrorCode, ProgrammerError, ProtocolError } from "../lib/errors.ts";
import { type IceCandidate, PUBLISHER_TARGET, type SessionDescription } from "../media/media-port.ts";
import { event } from "../signaling/protocol/replies.ts";
import type { Member } from "./member.ts";
import type { RoomManager } from "./room-manager.ts";

/**
 * Routes exchangeSdp / exchangeCandidate / sendMessage. In a P2P room they are relayed to the
 * named member; in an MCU room they go to the media plane ("publisher" = my publishing
 * connection, a socketId = my listener connection for that publisher). Never across rooms.
 */
export class SignalRouter {
  private readonly rooms: RoomManager;

  constructor(rooms: RoomManager) {
    this.rooms = rooms;
  }

  async exchangeSdp(from: Member, to: string, sdp: SessionDescription): Promise<void> {
    const room = this.rooms.requireRoom(from);
    if (room.mode === "p2p") {
      this.peer(from, to).send(event("eventExchangeSdp", { from: ref(from), sdp }));
      return;
    }
    this.mediaTarget(from, to);
    await this.media().signal(room.id, from.socketId, to, sdp);
  }

  async exchangeCandidate(from: Member, to: string, candidate: IceCandidate): Promise<void> {
    const room = this.rooms.requireRoom(from);
    if (room.mode === "p2p") {
      this.peer(from, to).send(event("eventExchangeCandidate", { from: ref(from), candidate }));
      return;
    }
    this.mediaTarget(from, to);
    await this.media().candidate(room.id, from.socketId, to, candidate);
  }

  sendMessage(from: Member, to: string, message: unknown): void {
    this.peer(from, to).send(event("eventMessage", { from: ref(from), message }));
  }

  /** Another member of the sender's room, or 1298. */
  private peer(from: Member, to: string): Member {
    const target = this.rooms.requireRoom(from).get(to);
    if (!target || target.socketId === from.socketId) {
      throw new ProtocolError(ErrorCode.noSuchTarget, "no such member in this room");
    }
    return target;
  }

  private mediaTarget(from: Member, to: string): void {
    if (to !== PUBLISHER_TARGET) this.peer(from, to);
  }

  private media() {
    const media = this.rooms.media;
    if (!media) throw new ProgrammerError("MCU room without a media plane");
    return media;
  }
}

function ref(m: Member) {
  return { socketId: m.socketId, userId: m.userId };
}
