import type { SessionRef } from "../events/event-types.ts";
import type { ServerEventName, ServerEvents } from "../protocol/wire.ts";
import type { Member } from "./member.ts";

/** How long, and how many, departed socketIds a room remembers, so that messages racing a departure can be dropped quietly. */
const DEPARTED_KEEP_MS = 30_000;
const DEPARTED_MAX = 256;

/** A conversation: its members, in join order. */
export class Room {
  readonly id: string;
  readonly #members = new Map<string, Member>();
  /** socketId -> when it left; oldest first. */
  readonly #departed = new Map<string, number>();

  constructor(id: string) {
    this.id = id;
  }

  get size(): number {
    return this.#members.size;
  }

  has(socketId: string): boolean {
    return this.#members.has(socketId);
  }

  get(socketId: string): Member | undefined {
    return this.#members.get(socketId);
  }

  add(member: Member): void {
    this.#members.set(member.socketId, member);
  }

  remove(socketId: string): boolean {
    if (!this.#members.delete(socketId)) return false;
    this.#departed.set(socketId, performance.now());
    if (this.#departed.size > DEPARTED_MAX) {
      const oldest = this.#departed.keys().next();
      if (!oldest.done) this.#departed.delete(oldest.value);
    }
    return true;
  }

  /** Whether `socketId` was a member that left within the last DEPARTED_KEEP_MS. */
  leftRecently(socketId: string): boolean {
    const at = this.#departed.get(socketId);
    if (at === undefined) return false;
    if (performance.now() - at <= DEPARTED_KEEP_MS) return true;
    this.#departed.delete(socketId);
    return false;
  }

  list(): Member[] {
    return [...this.#members.values()];
  }

  others(socketId: string): Member[] {
    return this.list().filter((m) => m.socketId !== socketId);
  }

  sessions(): SessionRef[] {
    return this.list().map((m) => ({ socketId: m.socketId, userId: m.userId }));
  }

  broadcast<K extends ServerEventName>(name: K, data: ServerEvents[K], exceptSocketId?: string): void {
    for (const m of this.#members.values()) if (m.socketId !== exceptSocketId) m.send(name, data);
  }
}
