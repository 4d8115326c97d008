import type { Connection } from "./connection.ts";

/** Heartbeat ticks per interval: each tick pings one slice, so 10k sockets never ping in one burst. */
const SLICES = 10;

/** Index of open connections by socketId and by client IP, and the heartbeat that sweeps them. */
export class Hub {
  readonly #connections = new Map<string, Connection>();
  readonly #slots = new Map<Connection, number>();
  readonly #perIp = new Map<string, number>();
  readonly #timer: NodeJS.Timeout;
  #added = 0;
  #tick = 0;

  constructor(heartbeatIntervalMs: number) {
    this.#timer = setInterval(() => this.#sweep(), Math.max(1, Math.floor(heartbeatIntervalMs / SLICES)));
    this.#timer.unref();
  }

  get size(): number {
    return this.#connections.size;
  }

  connectionsFrom(ip: string): number {
    return this.#perIp.get(ip) ?? 0;
  }

  add(conn: Connection): void {
    this.#connections.set(conn.socketId, conn);
    this.#slots.set(conn, this.#added++ % SLICES);
    this.#perIp.set(conn.ctx.ip, this.connectionsFrom(conn.ctx.ip) + 1);
  }

  remove(conn: Connection): void {
    if (!this.#connections.delete(conn.socketId)) return;
    this.#slots.delete(conn);
    const left = this.connectionsFrom(conn.ctx.ip) - 1;
    if (left > 0) this.#perIp.set(conn.ctx.ip, left);
    else this.#perIp.delete(conn.ctx.ip);
  }

  get(socketId: string): Connection | undefined {
    return this.#connections.get(socketId);
  }

  all(): Connection[] {
    return [...this.#connections.values()];
  }

  close(): void {
    clearInterval(this.#timer);
  }

  /**
   * Visits this tick's slice (each connection once per heartbeat interval) after the event loop's
   * I/O phase: when the process was starved, timers run before the socket reads of the same loop
   * turn, and a pong that has been waiting in the socket would not have been seen yet.
   */
  #sweep(): void {
    const slice = this.#tick++ % SLICES;
    setImmediate(() => {
      const now = performance.now();
      for (const [conn, slot] of this.#slots) if (slot === slice) conn.heartbeat(now);
    });
  }
}
