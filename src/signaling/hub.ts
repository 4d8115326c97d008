import type { Connection } from "./connection.ts";

/** Heartbeat ticks per interval: each tick pings one slice, so 10k sockets never ping in one burst. */
const SLICES = 10;

/** Index of open connections by socketId and by client IP, and the heartbeat that sweeps them. */
export class Hub {
  private readonly connections = new Map<string, Connection>();
  private readonly slots = new Map<Connection, number>();
  private readonly perIp = new Map<string, number>();
  private readonly timer: NodeJS.Timeout;
  private added = 0;
  private tick = 0;

  constructor(heartbeatIntervalMs: number) {
    this.timer = setInterval(() => this.sweep(), Math.max(1, Math.floor(heartbeatIntervalMs / SLICES)));
    this.timer.unref();
  }

  get size(): number {
    return this.connections.size;
  }

  connectionsFrom(ip: string): number {
    return this.perIp.get(ip) ?? 0;
  }

  add(conn: Connection): void {
    this.connections.set(conn.socketId, conn);
    this.slots.set(conn, this.added++ % SLICES);
    this.perIp.set(conn.ctx.ip, this.connectionsFrom(conn.ctx.ip) + 1);
  }

  remove(conn: Connection): void {
    if (!this.connections.delete(conn.socketId)) return;
    this.slots.delete(conn);
    const left = this.connectionsFrom(conn.ctx.ip) - 1;
    if (left > 0) this.perIp.set(conn.ctx.ip, left);
    else this.perIp.delete(conn.ctx.ip);
  }

  get(socketId: string): Connection | undefined {
    return this.connections.get(socketId);
  }

  all(): Connection[] {
    return [...this.connections.values()];
  }

  close(): void {
    clearInterval(this.timer);
  }

  /** Pings the connections of this tick's slice; each one is visited once per heartbeat interval. */
  private sweep(): void {
    const slice = this.tick++ % SLICES;
    const now = performance.now();
    for (const [conn, slot] of this.slots) if (slot === slice) conn.heartbeat(now);
  }
}
