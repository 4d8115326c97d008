import type { SessionRef } from "../events/event-types.ts";
import type { ServerMessage } from "../signaling/protocol/replies.ts";
import type { Member } from "./member.ts";

export type RoomMode = "mcu" | "p2p";

/** A conversation: its members, in join order. */
export class Room {
  readonly id: string;
  readonly mode: RoomMode;
  private readonly members = new Map<string, Member>();

  constructor(id: string, mode: RoomMode) {
    this.id = id;
    this.mode = mode;
  }

  get size(): number {
    return this.members.size;
  }

  has(socketId: string): boolean {
    return this.members.has(socketId);
  }

  get(socketId: string): Member | undefined {
    return this.members.get(socketId);
  }

  add(member: Member): void {
    this.members.set(member.socketId, member);
  }

  remove(socketId: string): boolean {
    return this.members.delete(socketId);
  }

  list(): Member[] {
    return [...this.members.values()];
  }

  others(socketId: string): Member[] {
    return this.list().filter((m) => m.socketId !== socketId);
  }

  sessions(): SessionRef[] {
    return this.list().map((m) => ({ socketId: m.socketId, userId: m.userId }));
  }

  broadcast(message: ServerMessage, exceptSocketId?: string): void {
    for (const m of this.members.values()) if (m.socketId !== exceptSocketId) m.send(message);
  }
}
