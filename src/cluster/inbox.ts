import type { Logger } from "../lib/logger.ts";
import type { ClusterKeys } from "./keys.ts";
import type { RedisConnection } from "./redis-connection.ts";

export interface InboxOptions {
  self: string;
  keys: ClusterKeys;
  /** Publishing connection (shared with other commands). */
  pub: RedisConnection;
  /** Subscribing connection (a connection in subscriber mode can do nothing else). */
  sub: RedisConnection;
  /** Frames kept, per destination, while Redis is unreachable; past it the oldest are dropped. */
  outboxMax: number;
  log: Logger;
  onFrame: (frame: unknown) => void;
  /**
   * How long frames for a node that nobody listens to (PUBLISH reached no subscriber: it is
   * re-subscribing after a Redis restart, or dead) are retried before they are dropped.
   */
  undeliveredMaxMs: number;
  /** Frames dropped (outbox full, publish failed, nobody listening) and frames received that could not be read. */
  onDrop?: (count: number, why: DropReason) => void;
}

export type DropReason = "outbox-full" | "publish-failed" | "no-subscriber" | "unreadable";

const RETRY_MS = 100;

/**
 * One inbox per node: a Redis pub/sub channel. Frames to one node are batched per event-loop turn
 * into one PUBLISH, in the order they were sent; Redis delivers one connection's publishes in order,
 * so per-member order holds end to end. One publish per destination is in flight at a time (what
 * is sent meanwhile makes the next batch), so a batch that reached no subscriber (the node is
 * re-subscribing after a Redis restart) is put back in front and retried, still in order, for up to
 * `undeliveredMaxMs`. While Redis is unreachable frames wait in a bounded outbox.
 */
export class NodeInbox {
  readonly #o: InboxOptions;
  readonly #pending = new Map<string, unknown[]>();
  #scheduled = false;
  #closed = false;
  readonly #unReady: () => void;
  #subscribed = false;
  readonly #inFlight = new Map<string, Promise<void>>();
  /** Destination -> performance.now() of its first undelivered batch (cleared by a delivery). */
  readonly #unheardSince = new Map<string, number>();
  /** Destinations waiting RETRY_MS after an undelivered batch. */
  readonly #cooling = new Set<string>();

  constructor(o: InboxOptions) {
    this.#o = o;
    const channel = o.keys.inbox(o.self);
    o.sub.redis.on("message", (ch: string, text: string) => {
      if (ch === channel) this.#receive(text);
    });
    const subscribe = () => {
      o.sub.redis.subscribe(channel).then(
        () => {
          this.#subscribed = true;
        },
        (err: unknown) => o.log.warn({ err: (err as Error).message }, "inbox: subscribe failed"),
      );
    };
    const unSub = o.sub.onReady(subscribe);
    if (o.sub.ready) subscribe();
    const unPub = o.pub.onReady(() => this.#schedule());
    this.#unReady = () => {
      unSub();
      unPub();
    };
  }

  /** Whether this node's channel is subscribed (frames sent to it now are received). */
  get listening(): boolean {
    return this.#subscribed && this.#o.sub.ready;
  }

  send(node: string, frame: unknown): void {
    if (this.#closed) return;
    let queue = this.#pending.get(node);
    if (!queue) {
      queue = [];
      this.#pending.set(node, queue);
    }
    queue.push(frame);
    if (queue.length > this.#o.outboxMax) {
      const dropped = queue.length - this.#o.outboxMax;
      queue.splice(0, dropped);
      this.#o.onDrop?.(dropped, "outbox-full");
    }
    this.#schedule();
  }

  /** Frames waiting to be published (all destinations). */
  get backlog(): number {
    let n = 0;
    for (const q of this.#pending.values()) n += q.length;
    return n;
  }

  /** Forgets the frames waiting for a node (it is dead). */
  drop(node: string): void {
    this.#pending.delete(node);
    this.#unheardSince.delete(node);
  }

  #schedule(): void {
    if (this.#scheduled || this.#closed) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      this.#flush();
    });
  }

  #flush(): void {
    if (!this.#o.pub.ready || this.#closed) return;
    for (const [node, frames] of this.#pending) {
      if (frames.length === 0 || this.#inFlight.has(node) || this.#cooling.has(node)) continue;
      this.#pending.set(node, []);
      const sent = this.#o.pub.redis
        .publish(this.#o.keys.inbox(node), JSON.stringify(frames))
        .then(
          (receivers) => {
            if (receivers > 0) {
              this.#unheardSince.delete(node);
              return;
            }
            const since = this.#unheardSince.get(node) ?? performance.now();
            if (performance.now() - since > this.#o.undeliveredMaxMs) {
              this.#unheardSince.delete(node);
              this.#o.onDrop?.(frames.length, "no-subscriber");
              return;
            }
            this.#unheardSince.set(node, since);
            this.#pending.set(node, [...frames, ...(this.#pending.get(node) ?? [])]);
            this.#cooling.add(node);
            setTimeout(() => {
              this.#cooling.delete(node);
              this.#schedule();
            }, RETRY_MS).unref();
          },
          (err: unknown) => {
            this.#o.onDrop?.(frames.length, "publish-failed");
            this.#o.log.warn(
              { err: (err as Error).message, node, frames: frames.length },
              "inbox: publish failed",
            );
          },
        )
        .finally(() => {
          this.#inFlight.delete(node);
          if ((this.#pending.get(node)?.length ?? 0) > 0) this.#schedule();
        });
      this.#inFlight.set(node, sent);
    }
  }

  #receive(text: string): void {
    let frames: unknown;
    try {
      frames = JSON.parse(text);
    } catch {
      this.#o.onDrop?.(1, "unreadable");
      return;
    }
    if (!Array.isArray(frames)) {
      this.#o.onDrop?.(1, "unreadable");
      return;
    }
    for (const f of frames) {
      try {
        this.#o.onFrame(f);
      } catch (err) {
        this.#o.log.error({ err }, "inbox: frame handler threw");
      }
    }
  }

  /** Publishes what is waiting now and resolves when Redis has taken it (or refused it). */
  async flushNow(): Promise<void> {
    this.#flush();
    await Promise.all([...this.#inFlight.values()]);
  }

  close(): void {
    this.#closed = true;
    this.#unReady();
    this.#pending.clear();
  }
}
