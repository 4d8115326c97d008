import { Redis } from "ioredis";
import type { Logger } from "../lib/logger.ts";

export interface RedisConnectionOptions {
  url: string;
  /** Names the connection in logs and in Redis (CLIENT SETNAME). */
  name: string;
  log: Logger;
  connectTimeoutMs: number;
  commandTimeoutMs: number;
}

/**
 * One Redis connection with bounded waits: a command fails after `commandTimeoutMs` or at once
 * while disconnected (no unbounded offline queue), and the connection retries forever with a
 * capped backoff. `ready` says whether commands can go out now; `onReady` runs after every
 * (re)connection. One owner, one close().
 */
export class RedisConnection {
  readonly redis: Redis;
  readonly #log: Logger;
  readonly #readyListeners = new Set<() => void>();
  #wasReady = false;
  #closed = false;
  /** performance.now() of the last time the connection became ready (0 before). */
  readySince = 0;

  constructor(o: RedisConnectionOptions) {
    this.#log = o.log.child({ redis: o.name });
    this.redis = new Redis(o.url, {
      connectionName: o.name.replace(/[^A-Za-z0-9._-]/g, "_"),
      connectTimeout: o.connectTimeoutMs,
      commandTimeout: o.commandTimeoutMs,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      autoResubscribe: false,
      enableReadyCheck: true,
      retryStrategy: (times) => Math.min(2000, 50 * 2 ** Math.min(times, 6)),
    });
    this.redis.on("ready", () => {
      this.readySince = performance.now();
      this.#log.info(this.#wasReady ? "redis: reconnected" : "redis: connected");
      this.#wasReady = true;
      for (const fn of this.#readyListeners) {
        try {
          fn();
        } catch (err) {
          this.#log.error({ err }, "redis: ready listener threw");
        }
      }
    });
    let lastError = "";
    this.redis.on("error", (err: Error) => {
      // Logged once per distinct message: a Redis that is down for a minute does not flood the log.
      if (err.message !== lastError) this.#log.warn({ err: err.message }, "redis: connection error");
      lastError = err.message;
    });
    this.redis.on("close", () => {
      if (!this.#closed && this.#wasReady) this.#log.warn("redis: connection lost, reconnecting");
      lastError = "";
    });
  }

  get ready(): boolean {
    return this.redis.status === "ready";
  }

  onReady(fn: () => void): () => void {
    this.#readyListeners.add(fn);
    return () => this.#readyListeners.delete(fn);
  }

  /** QUIT when connected (bounded), then drop the socket; idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#readyListeners.clear();
    if (this.ready) {
      await Promise.race([
        this.redis.quit().catch(() => undefined),
        new Promise((r) => setTimeout(r, 1000).unref()),
      ]);
    }
    this.redis.disconnect();
  }
}
