import type { ConnectionContext } from "../lib/context.ts";
import type { ServerEventName, ServerEvents } from "../protocol/wire.ts";

/**
 * Where a member's events go. Rooms only name an event and its data; the signaling side numbers
 * it, keeps it for a reconnect's replay, serialises it and writes it to the member's current
 * socket (or keeps it while there is none).
 */
export interface MemberSink {
  send<K extends ServerEventName>(name: K, data: ServerEvents[K]): void;
  /** A socket is attached right now (false during the reconnect grace). */
  readonly connected: boolean;
  /** A newer join of the same user took this member's place: its socket, if any, closes (4001). */
  supersede(): void;
  /** The member left: everything kept for it is released. */
  close(): void;
}

export interface MemberInfo {
  platform: string;
  deviceName: string;
  networkType: string;
  version: string;
  appVersion: string;
  ip: string;
  bitrate: number;
}

export interface MemberOptions {
  roomId: string;
  socketId: string;
  userId: string;
  info: MemberInfo;
  orientation: number;
  camera: string;
  /** What the client declared in `join.capabilities` (e.g. "reoffer"). */
  capabilities: ReadonlySet<string>;
  sink: MemberSink;
  ctx: ConnectionContext;
}

/** A room member. It outlives its connection during the reconnect grace (the grace timer is here). */
export class Member {
  readonly roomId: string;
  readonly socketId: string;
  readonly userId: string;
  readonly info: MemberInfo;
  orientation: number;
  camera: string;
  readonly capabilities: ReadonlySet<string>;
  readonly ctx: ConnectionContext;
  readonly sink: MemberSink;
  #graceTimer: NodeJS.Timeout | undefined;

  constructor(o: MemberOptions) {
    this.roomId = o.roomId;
    this.socketId = o.socketId;
    this.userId = o.userId;
    this.info = { ...o.info };
    this.orientation = o.orientation;
    this.camera = o.camera;
    this.capabilities = o.capabilities;
    this.sink = o.sink;
    this.ctx = o.ctx;
  }

  get connected(): boolean {
    return this.sink.connected;
  }

  get ref(): { socketId: string; userId: string } {
    return { socketId: this.socketId, userId: this.userId };
  }

  send<K extends ServerEventName>(name: K, data: ServerEvents[K]): void {
    this.sink.send(name, data);
  }

  /** The connection dropped: `expire` runs unless a reconnect comes within `graceMs`. */
  startGrace(graceMs: number, expire: () => void): void {
    this.clearGrace();
    this.#graceTimer = setTimeout(expire, graceMs);
  }

  clearGrace(): void {
    if (this.#graceTimer) clearTimeout(this.#graceTimer);
    this.#graceTimer = undefined;
  }

  close(): void {
    this.clearGrace();
    this.sink.close();
  }
}
