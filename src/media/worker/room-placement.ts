import type { MediaMember } from "../media-port.ts";

interface PlacedRoom {
  slot: number;
  members: Map<string, MediaMember>;
  /** Members whose publish offer was answered (told about a worker crash). */
  publishers: Set<string>;
}

/**
 * Which worker holds each room, and the one record of the rooms' media members on the parent's side
 * (what a restarted worker is given again). A room goes to the worker with the fewest members when
 * its first member arrives and stays there until its last member leaves.
 */
export class RoomPlacement {
  readonly #rooms = new Map<string, PlacedRoom>();
  readonly #load: number[];

  constructor(slots: number) {
    this.#load = Array.from({ length: slots }, () => 0);
  }

  /** Adds the member (idempotent) and returns the worker index of its room. */
  add(member: MediaMember): number {
    let room = this.#rooms.get(member.roomId);
    if (!room) {
      room = { slot: this.#leastLoaded(), members: new Map(), publishers: new Set() };
      this.#rooms.set(member.roomId, room);
    }
    if (!room.members.has(member.socketId)) this.#load[room.slot] = (this.#load[room.slot] ?? 0) + 1;
    room.members.set(member.socketId, { ...member });
    return room.slot;
  }

  /** Removes the member; returns the worker index its room was on, if it was placed. */
  remove(roomId: string, socketId: string): number | undefined {
    const room = this.#rooms.get(roomId);
    if (!room) return undefined;
    if (room.members.delete(socketId)) this.#load[room.slot] = (this.#load[room.slot] ?? 1) - 1;
    room.publishers.delete(socketId);
    if (room.members.size === 0) this.#rooms.delete(roomId);
    return room.slot;
  }

  slotOf(roomId: string): number | undefined {
    return this.#rooms.get(roomId)?.slot;
  }

  has(roomId: string, socketId: string): boolean {
    return this.#rooms.get(roomId)?.members.has(socketId) ?? false;
  }

  markPublisher(roomId: string, socketId: string): void {
    const room = this.#rooms.get(roomId);
    if (room?.members.has(socketId)) room.publishers.add(socketId);
  }

  /** The rooms on `slot`, with their members and publishers; `forget` clears the publishers (a restart). */
  *roomsOn(slot: number): Generator<{ roomId: string; members: MediaMember[]; publishers: string[] }> {
    for (const [roomId, room] of this.#rooms) {
      if (room.slot !== slot) continue;
      yield { roomId, members: [...room.members.values()], publishers: [...room.publishers] };
    }
  }

  clearPublishers(slot: number): void {
    for (const room of this.#rooms.values()) if (room.slot === slot) room.publishers.clear();
  }

  clear(): void {
    this.#rooms.clear();
    this.#load.fill(0);
  }

  #leastLoaded(): number {
    let best = 0;
    for (let i = 1; i < this.#load.length; i++) if ((this.#load[i] ?? 0) < (this.#load[best] ?? 0)) best = i;
    return best;
  }
}
