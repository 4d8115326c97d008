import type { Identity } from "../auth/token-verifier.ts";
import type { EventSink } from "../events/event-sink.ts";
import type { RoomLivePayload } from "../events/event-types.ts";
import type { ConnectionContext } from "../lib/context.ts";
import { ErrorCode, ProtocolError } from "../lib/errors.ts";
import type { Metrics } from "../metrics/metrics.ts";
import type { JoinData } from "../protocol/messages.ts";
import type { JoinReply } from "../protocol/wire.ts";
import { Member, type MemberSink } from "./member.ts";
import { Room } from "./room.ts";
import type { RoomDirectory, RoomTransport } from "./room-transport.ts";
import { userMediaConfiguration } from "./user-media-configuration.ts";

export interface RoomManagerOptions {
  maxMembers: number;
  reconnectGraceMs: number;
  events: EventSink;
  metrics: Metrics;
  /** The room transport (P2P relay or the MCU), made once for this manager. */
  transport: (rooms: RoomDirectory) => RoomTransport;
}

/** "handed-over": the server stops and another cluster node goes on with the room (src/cluster/). */
export type LeaveReason = "closed" | "grace-expired" | "replaced" | "shutdown" | "handed-over";

/** Owns every room and member; the only place where membership changes. */
export class RoomManager implements RoomDirectory {
  readonly transport: RoomTransport;
  readonly #rooms = new Map<string, Room>();
  readonly #members = new Map<string, Member>();
  readonly #o: RoomManagerOptions;

  constructor(options: RoomManagerOptions) {
    this.#o = options;
    this.transport = options.transport(this);
  }

  room(roomId: string): Room | undefined {
    return this.#rooms.get(roomId);
  }

  member(socketId: string): Member | undefined {
    return this.#members.get(socketId);
  }

  /** Adds a member (after replacing the same user's member, if any); returns it with its joinR data. */
  join(
    data: JoinData,
    identity: Identity,
    sink: MemberSink,
    ctx: ConnectionContext,
  ): { member: Member; reply: JoinReply } {
    if (identity.roomId !== undefined && identity.roomId !== data.roomId) {
      throw new ProtocolError(ErrorCode.authFailed, "bearer is not valid for this room");
    }
    const room = this.#rooms.get(data.roomId) ?? new Room(data.roomId);
    this.#replaceSameUser(room, identity.userId);
    if (room.size >= this.#o.maxMembers) throw new ProtocolError(ErrorCode.roomFull, "room is full");
    if (room.size === 0) this.#rooms.set(room.id, room);
    const member = new Member({
      roomId: room.id,
      socketId: ctx.socketId,
      userId: identity.userId,
      info: {
        platform: data.platform,
        deviceName: data.deviceName,
        networkType: data.networkType,
        version: data.version,
        appVersion: data.appVersion,
        ip: ctx.ip,
        bitrate: data.maxVideoBitrate ?? 0,
      },
      orientation: data.orientation,
      camera: data.camera,
      capabilities: new Set(data.capabilities),
      sink,
      ctx,
    });
    room.add(member);
    this.#members.set(member.socketId, member);
    this.#updateGauges();
    return {
      member,
      reply: {
        socketId: member.socketId,
        userId: member.userId,
        roomId: room.id,
        roomSize: room.size,
        userMediaConfiguration: userMediaConfiguration(room.size - 1),
        sessions: room.sessions().filter((s) => s.socketId !== member.socketId),
      },
    };
  }

  /** After joinR went out: tell everyone, publish room.join, bring the transport in. */
  announceJoin(member: Member): void {
    const room = this.requireRoom(member);
    for (const other of room.others(member.socketId)) {
      other.send("eventUserMediaConfiguration", userMediaConfiguration(room.size - 1));
      member.send("eventOrientationChange", orientationOf(other));
      other.send("eventOrientationChange", orientationOf(member));
    }
    this.#o.events.publish({
      key: "room.join",
      payload: { roomId: room.id, roomSize: room.size, ...member.ref, ...member.info },
    });
    this.transport.joined(member);
  }

  /** The member's socket dropped without a clean close: keep it for the grace period. */
  disconnected(member: Member): void {
    if (!this.#members.has(member.socketId)) return;
    if (this.#o.reconnectGraceMs <= 0) {
      this.leave(member, "closed");
      return;
    }
    member.startGrace(this.#o.reconnectGraceMs, () => {
      this.#o.metrics.graceExpired.inc();
      member.ctx.log.info("reconnect grace expired");
      this.leave(member, "grace-expired");
    });
  }

  /** Finds the member a reconnect names and ends its grace; another user's socketId gets the same answer as an unknown one. */
  reconnect(socketId: string, identity: Identity): Member {
    const member = this.#members.get(socketId);
    if (!member || member.userId !== identity.userId) {
      this.#o.metrics.reconnects.inc({ result: "refused" });
      throw new ProtocolError(ErrorCode.noSuchSocket, "no such socketId to reconnect");
    }
    this.#o.metrics.reconnects.inc({ result: "resumed" });
    member.clearGrace();
    return member;
  }

  leave(member: Member, reason: LeaveReason): void {
    if (this.#members.get(member.socketId) !== member) return;
    const room = this.requireRoom(member);
    this.#members.delete(member.socketId);
    room.remove(member.socketId);
    member.close();
    this.transport.left(member);
    const payload = { roomId: room.id, roomSize: room.size, ...member.ref };
    if (reason !== "shutdown" && reason !== "handed-over") {
      room.broadcast("eventLeave", payload);
      room.broadcast("eventUserMediaConfiguration", userMediaConfiguration(room.size - 1));
    }
    // A handed-over member has not left: it goes on in the same room on another node.
    if (reason !== "handed-over") this.#o.events.publish({ key: "room.leave", payload });
    if (room.size === 0) this.#rooms.delete(room.id);
    this.#updateGauges();
    member.ctx.log.info({ reason, roomSize: room.size }, "member left");
  }

  orientationChange(member: Member, orientation: number, camera: string): void {
    member.orientation = orientation;
    member.camera = camera;
    this.requireRoom(member).broadcast("eventOrientationChange", orientationOf(member), member.socketId);
  }

  /** One entry per room, for room.live and /state. */
  snapshot(): RoomLivePayload[] {
    return [...this.#rooms.values()].map((r) => ({ roomId: r.id, roomSize: r.size, sessions: r.sessions() }));
  }

  stats(): { rooms: number; members: number } {
    return { rooms: this.#rooms.size, members: this.#members.size };
  }

  /**
   * Server shutdown: every member leaves (room.leave is still published, except in the rooms
   * `handedOver` names: another cluster node goes on with them), then the transport closes.
   */
  async close(handedOver: (roomId: string) => boolean = () => false): Promise<void> {
    for (const member of [...this.#members.values()])
      this.leave(member, handedOver(member.roomId) ? "handed-over" : "shutdown");
    await this.transport.close();
  }

  requireRoom(member: Member): Room {
    const room = this.#rooms.get(member.roomId);
    if (!room) throw new ProtocolError(ErrorCode.noSuchRoom, "member's room does not exist");
    return room;
  }

  /**
   * One member per user and room; the newest join wins (as LiveKit does with a duplicate identity).
   * A client that re-joins instead of reconnecting (the Tribe app after a network drop) would
   * otherwise meet its own ghost until the grace ends; a user moving to another device takes
   * the call along. The old member leaves first (eventLeave, room.leave), its socket, if still
   * open, closes with 4001.
   */
  #replaceSameUser(room: Room, userId: string): void {
    for (const old of room.list()) {
      if (old.userId !== userId) continue;
      this.#o.metrics.replacedMembers.inc({ state: old.connected ? "connected" : "in-grace" });
      old.ctx.log.info({ connected: old.connected }, "same user joined again: replacing this member");
      old.sink.supersede();
      this.leave(old, "replaced");
    }
  }

  #updateGauges(): void {
    this.#o.metrics.rooms.set(this.#rooms.size);
    this.#o.metrics.members.set(this.#members.size);
  }
}

function orientationOf(m: Member) {
  return { from: m.ref, platform: m.info.platform, orientation: m.orientation, camera: m.camera };
}
