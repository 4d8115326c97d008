import type { Connection } from "./connection.ts";

/** Index of open connections by socketId and by client IP, and the heartbeat that sweeps them. */
export class Hub {
  private readonly connections = new Map<string, Connection>();
  private readonly perIp = new Map<string, number>();
  private readonly timer: NodeJS.Timeout;

  constructor(heartbeatIntervalMs: number) {
    this.timer = setInterval(() => this.sweep(), heartbeatIntervalMs);
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
    this.perIp.set(conn.ctx.ip, this.connectionsFrom(conn.ctx.ip) + 1);
  }

  remove(conn: Connection): void {
    if (!this.connections.delete(conn.socketId)) return;
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

  private sweep(): void {
    const now = performance.now();
    for (const conn of this.connections.values()) conn.heartbeat(now);
  }
}
