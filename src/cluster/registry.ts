import type { Redis } from "ioredis";
import type { ClusterKeys } from "./keys.ts";

export interface NodeLoad {
  /** Members of the rooms this node is home of. */
  members: number;
  rooms: number;
  /** WebSockets open on this node (its own members and bridged ones). */
  connections: number;
  /** Share of one core used by this process since the last refresh (0..N). */
  cpu: number;
  mediaWorkers: number;
}

export interface NodeInfo {
  id: string;
  /** WebSocket URL clients may use. */
  wsUrl: string;
  /** Address announced in this node's ICE candidates. */
  publicIpv4: string;
  /** Members at or above which the node takes no new rooms. */
  maxMembers: number;
  load: NodeLoad;
  startedAt: number;
  /** Date.now() of the refresh that wrote this. */
  at: number;
}

export interface RegistryView {
  alive: NodeInfo[];
  /** Registered ids whose refresh has lapsed (crashed or cut off). */
  dead: string[];
}

/**
 * The node registry: each node writes its NodeInfo under a key that expires after `ttlMs`,
 * refreshed every `refreshMs`; a node whose key expired is dead. Refreshing also zeroes the
 * node's count of rooms placed on it since its last report (they are now in `load`).
 */
export class NodeRegistry {
  readonly #redis: Redis;
  readonly #keys: ClusterKeys;
  readonly #ttlMs: number;
  /** The last view read successfully (used while Redis is unreachable). */
  last: RegistryView = { alive: [], dead: [] };
  /** performance.now() when `last` was read (0: never). */
  lastAt = 0;

  constructor(redis: Redis, keys: ClusterKeys, ttlMs: number) {
    this.#redis = redis;
    this.#keys = keys;
    this.#ttlMs = ttlMs;
  }

  async refresh(self: NodeInfo): Promise<void> {
    await this.#redis
      .multi()
      .set(this.#keys.node(self.id), JSON.stringify(self), "PX", this.#ttlMs)
      .sadd(this.#keys.nodes, self.id)
      .hset(this.#keys.claims, self.id, "0")
      .exec();
  }

  /** Reads every registered node: alive ones with their info, dead ones by id. */
  async view(): Promise<RegistryView> {
    const ids = (await this.#redis.smembers(this.#keys.nodes)).sort();
    if (ids.length === 0) {
      this.last = { alive: [], dead: [] };
      return this.last;
    }
    const values = await this.#redis.mget(ids.map((id) => this.#keys.node(id)));
    const alive: NodeInfo[] = [];
    const dead: string[] = [];
    ids.forEach((id, i) => {
      const info = parseNodeInfo(values[i]);
      if (info && info.id === id) alive.push(info);
      else dead.push(id);
    });
    this.last = { alive, dead };
    this.lastAt = performance.now();
    return this.last;
  }

  /** A dead node whose rooms have all moved: no longer listed. */
  async forget(id: string): Promise<void> {
    await this.#redis
      .multi()
      .srem(this.#keys.nodes, id)
      .del(this.#keys.nodeRooms(id))
      .hdel(this.#keys.claims, id)
      .exec();
  }

  /** Clean stop: the node leaves the registry at once instead of after its TTL. */
  async deregister(id: string): Promise<void> {
    await this.#redis
      .multi()
      .del(this.#keys.node(id))
      .srem(this.#keys.nodes, id)
      .hdel(this.#keys.claims, id)
      .exec();
  }
}

function parseNodeInfo(text: string | null | undefined): NodeInfo | undefined {
  if (!text) return undefined;
  try {
    const v = JSON.parse(text) as Partial<NodeInfo>;
    if (typeof v.id !== "string" || typeof v.wsUrl !== "string" || typeof v.load !== "object" || !v.load)
      return undefined;
    return v as NodeInfo;
  } catch {
    return undefined;
  }
}
