import type { Identity } from "../auth/token-verifier.ts";
import type { EventSink } from "../events/event-sink.ts";
import type { RoomLivePayload, SessionRef } from "../events/event-types.ts";
import type { ConnectionContext } from "../lib/context.ts";
import { ErrorCode, ProtocolError } from "../lib/errors.ts";
import type { MediaPort } from "../media/media-port.ts";
import type { Metrics } from "../metrics/metrics.ts";
import type { JoinData } from "../signaling/protocol/messages.ts";
import { event } from "../signaling/protocol/replies.ts";
import { Member, type MemberLink } from "./member.ts";
import { ReplayBuffer } from "./replay-buffer.ts";
import { Room, type RoomMode } from "./room.ts";
import { type UserMediaConfiguration, userMediaConfiguration } from "./user-media-configuration.ts";

export interface RoomManagerOptions {
  mode: RoomMode;
  maxMembers: number;
  reconnectGraceMs: number;
  reconnectQueueMax: number;
  reconnectBufferBytes: number;
  /** How long a connected member's events stay replayable (heartbeat timeout + interval). */
  replayMaxAgeMs: number;
  events: EventSink;
  metrics: Metrics;
  /** The media plane, for rooms in MCU mode. */
  media?: MediaPort;
}

export interface JoinResult {
  member: Member;
  reply: {
    socketId: string;
    userId: string;
    roomId: string;
    roomSize: number;
    userMediaConfiguration: UserMediaConfiguration;
    sessions: SessionRef[];
  };
}

export type LeaveReason = "closed" | "grace-expired" | "shutdown";

/** Owns every room and member; the only place where membership changes. */
export class RoomManager {
  private readonly rooms = new Map<string, Room>();
  private readonly members = new Map<string, Member>();
  private readonly o: RoomManagerOptions;
  private readonly pruner: NodeJS.Timeout;

  constructor(options: RoomManagerOptions) {
    this.o = options;
    // Keeps idle members' replay buffers empty; one sweep for all members.
    this.pruner = setInterval(() => this.pruneReplay(), Math.max(50, Math.floor(options.replayMaxAgeMs / 2)));
    this.pruner.unref();
  }

  get media(): MediaPort | undefined {
    return this.o.media;
  }

  room(roomId: string): Room | undefined {
    return this.rooms.get(roomId);
  }

  member(socketId: string): Member | undefined {
    return this.members.get(socketId);
  }

  join(data: JoinData, identity: Identity, link: MemberLink, ctx: ConnectionContext): JoinResult {
    if (identity.roomId !== undefined && identity.roomId !== data.roomId) {
      throw new ProtocolError(ErrorCode.authFailed, "bearer is not valid for this room");
    }
    const room = this.rooms.get(data.roomId) ?? new Room(data.roomId, this.o.mode);
    if (room.size >= this.o.maxMembers) throw new ProtocolError(ErrorCode.roomFull, "room is full");
    if (room.size === 0) this.rooms.set(room.id, room);
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
      link,
      ctx,
      replay: new ReplayBuffer(this.o.reconnectQueueMax, this.o.reconnectBufferBytes),
    });
    room.add(member);
    this.members.set(member.socketId, member);
    this.updateGauges();
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

  /** After joinR went out: tell everyone, publish room.join, bring the media plane in. */
  announceJoin(member: Member): void {
    const room = this.requireRoom(member);
    for (const other of room.others(member.socketId)) {
      other.send(event("eventUserMediaConfiguration", userMediaConfiguration(room.size - 1)));
      member.send(event("eventOrientationChange", orientationOf(other)));
      other.send(event("eventOrientationChange", orientationOf(member)));
    }
    this.o.events.publish({
      key: "room.join",
      payload: {
        roomId: room.id,
        roomSize: room.size,
        socketId: member.socketId,
        userId: member.userId,
        ...member.info,
      },
    });
    if (room.mode === "mcu")
      this.o.media?.addMember({ roomId: room.id, socketId: member.socketId, userId: member.userId });
  }

  /** The member's socket dropped without a clean close: keep it for the grace period. */
  disconnected(member: Member): void {
    if (!this.members.has(member.socketId)) return;
    if (this.o.reconnectGraceMs <= 0) {
      this.leave(member, "closed");
      return;
    }
    member.detach(this.o.reconnectGraceMs, () => {
      this.o.metrics.graceExpired.inc();
      member.ctx.log.info("reconnect grace expired");
      this.leave(member, "grace-expired");
    });
  }

  /** Finds the member a reconnect names; another user's socketId gets the same answer as an unknown one. */
  reconnect(socketId: string, identity: Identity): Member {
    const member = this.members.get(socketId);
    if (!member || member.userId !== identity.userId) {
      this.o.metrics.reconnects.inc({ result: "refused" });
      throw new ProtocolError(ErrorCode.noSuchSocket, "no such socketId to reconnect");
    }
    this.o.metrics.reconnects.inc({ result: "resumed" });
    return member;
  }

  /** Moves the member onto its new link and replays what it has not seen (after `lastSeq` when given). */
  resume(member: Member, link: MemberLink, lastSeq?: number): void {
    const missed = member.attach(link, lastSeq);
    if (missed > 0) {
      this.o.metrics.queuedDropped.inc(missed);
      member.ctx.log.warn({ missed }, "reconnect: events no longer kept could not be replayed");
    }
  }

  leave(member: Member, reason: LeaveReason): void {
    if (this.members.get(member.socketId) !== member) return;
    const room = this.requireRoom(member);
    this.members.delete(member.socketId);
    room.remove(member.socketId);
    member.close();
    if (room.mode === "mcu") this.o.media?.removeMember(room.id, member.socketId);
    const payload = {
      roomId: room.id,
      roomSize: room.size,
      socketId: member.socketId,
      userId: member.userId,
    };
    if (reason !== "shutdown") {
      room.broadcast(event("eventLeave", payload));
      room.broadcast(event("eventUserMediaConfiguration", userMediaConfiguration(room.size - 1)));
    }
    this.o.events.publish({ key: "room.leave", payload });
    if (room.size === 0) this.rooms.delete(room.id);
    this.updateGauges();
    member.ctx.log.info({ reason, roomSize: room.size }, "member left");
  }

  orientationChange(member: Member, orientation: number, camera: string): void {
    member.orientation = orientation;
    member.camera = camera;
    this.requireRoom(member).broadcast(
      event("eventOrientationChange", orientationOf(member)),
      member.socketId,
    );
  }

  /** One entry per room, for room.live and /state. */
  snapshot(): RoomLivePayload[] {
    return [...this.rooms.values()].map((r) => ({ roomId: r.id, roomSize: r.size, sessions: r.sessions() }));
  }

  stats(): { rooms: number; members: number } {
    return { rooms: this.rooms.size, members: this.members.size };
  }

  /** Server shutdown: every member leaves (room.leave is still published), media closed by its owner. */
  close(): void {
    clearInterval(this.pruner);
    for (const member of [...this.members.values()]) this.leave(member, "shutdown");
  }

  requireRoom(member: Member): Room {
    const room = this.rooms.get(member.roomId);
    if (!room) throw new ProtocolError(ErrorCode.noSuchRoom, "member's room does not exist");
    return room;
  }

  private pruneReplay(): void {
    const now = performance.now();
    for (const member of this.members.values()) member.prune(now, this.o.replayMaxAgeMs);
  }

  private updateGauges(): void {
    this.o.metrics.rooms.set(this.rooms.size);
    this.o.metrics.members.set(this.members.size);
  }
}

function orientationOf(m: Member) {
  return {
    from: { socketId: m.socketId, userId: m.userId },
    platform: m.info.platform,
    orientation: m.orientation,
    camera: m.camera,
  };
}
