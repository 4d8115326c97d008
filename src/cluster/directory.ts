import type { ChainableCommander, Redis } from "ioredis";
import type { JoinData } from "../protocol/messages.ts";
import type { ClusterKeys } from "./keys.ts";

/**
 * The choice among the candidates ARGV[first..] (shared by PLACE and HANDOVER): the fewest members
 * as registered (ARGV[2] is the registry key prefix) plus the rooms placed since that report, under
 * the node's limit; the first wins ties; nodes without a registry entry (dead) are skipped. Sets
 * `best`, or leaves it nil.
 */
const CHOOSE = `
local best, bestLoad = nil, nil
for i = first, #ARGV do
  local id = ARGV[i]
  local raw = redis.call('GET', ARGV[2] .. id)
  if raw then
    local ok, info = pcall(cjson.decode, raw)
    if ok and type(info) == 'table' and type(info.load) == 'table' then
      local load = (tonumber(info.load.members) or 0) + tonumber(redis.call('HGET', KEYS[2], id) or '0')
      if load < (tonumber(info.maxMembers) or 0) and (best == nil or load < bestLoad) then
        best = id
        bestLoad = load
      end
    end
  end
end`;

/**
 * A stopping home (ARGV[3]) gives a room it holds to the best other node: the lease moves
 * atomically, or stays where it is if no candidate can take the room.
 */
const HANDOVER = `
if redis.call('GET', KEYS[1]) ~= ARGV[3] then return false end
local first = 4
${CHOOSE}
if not best then return false end
redis.call('SET', KEYS[1], best, 'PX', ARGV[1])
redis.call('HINCRBY', KEYS[2], best, 1)
return best`;

/**
 * Places a room unless it has a home: the candidate with the fewest members (as its registry entry
 * reports them, plus the rooms placed on it since that report) under its limit; the first wins ties.
 * Candidates without a registry entry (dead) are skipped. One script: reading the loads, choosing
 * and claiming are atomic.
 */
const PLACE = `
local cur = redis.call('GET', KEYS[1])
if cur then return cur end
local first = 3
${CHOOSE}
if not best then return false end
redis.call('SET', KEYS[1], best, 'PX', ARGV[1])
redis.call('HINCRBY', KEYS[2], best, 1)
return best`;

/**
 * The home renews its lease (kept, or taken back after a Redis restart, unless another node holds
 * it) and, only then, writes the room's member records: KEYS room, members hash, sockets hash, the
 * node's room set; ARGV self, lease, record TTL, first write ("1": replace the records), room id,
 * then socketId/record pairs. Returns the holder.
 */
const RENEW = `
local cur = redis.call('GET', KEYS[1])
if cur and cur ~= ARGV[1] then return cur end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('SADD', KEYS[4], ARGV[5])
if ARGV[4] == '1' then redis.call('DEL', KEYS[2]) end
for i = 6, #ARGV, 2 do
  redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
  redis.call('HSET', KEYS[3], ARGV[i], ARGV[5])
end
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return ARGV[1]`;

/** Releases a lease only if this node holds it. */
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

interface Scripts {
  wrsPlace(roomKey: string, claimsKey: string, ...args: string[]): Promise<string | null>;
  wrsRenew(...keysAndArgs: string[]): Promise<string>;
  wrsRelease(roomKey: string, self: string): Promise<number>;
  wrsHandOver(roomKey: string, claimsKey: string, ...args: string[]): Promise<string | null>;
}
type PipelineScripts = {
  wrsRenew(...keysAndArgs: string[]): ChainableCommander;
  wrsRelease(roomKey: string, self: string): ChainableCommander;
};

/**
 * What the home keeps in Redis about each member, so that another node can restore the room: the
 * member's join as its client sent it (the protocol's JoinData, so a new join field is recorded
 * too; without roomId, the record's key, the bearer, never stored, and maxAudioBitrate, which the
 * server ignores), and where and since when it is connected.
 */
export interface MemberRecord extends Omit<JoinData, "roomId" | "bearer" | "maxAudioBitrate"> {
  socketId: string;
  userId: string;
  /** Node holding the member's WebSocket ("" while it is in its reconnect grace). */
  edge: string;
  /** That WebSocket's own socketId (differs from socketId after a reconnect). */
  edgeSocketId: string;
  ip: string;
  joinedAt: number;
  /** The member's event number when this record was written (the restored numbering continues above it). */
  lastSeq: number;
}

export interface RoomSync {
  roomId: string;
  members: MemberRecord[];
  /** First write by this home: records left by an earlier home are dropped, not merged. */
  first?: boolean;
}

/**
 * The room directory: room -> home node under a lease the home renews, the members of each room
 * (written by the home, read by whoever restores the room), and socketId -> room for reconnects.
 */
export class RoomDirectory {
  readonly #redis: Redis;
  readonly #keys: ClusterKeys;
  readonly #leaseMs: number;
  /** How long member records outlive their last write (a dead home's rooms are restored within it). */
  readonly #recordTtlMs: number;

  constructor(redis: Redis, keys: ClusterKeys, o: { leaseMs: number; recordTtlMs: number }) {
    this.#redis = redis;
    this.#keys = keys;
    this.#leaseMs = o.leaseMs;
    this.#recordTtlMs = o.recordTtlMs;
    if (!("wrsPlace" in redis)) {
      redis.defineCommand("wrsPlace", { numberOfKeys: 2, lua: PLACE });
      redis.defineCommand("wrsRenew", { numberOfKeys: 4, lua: RENEW });
      redis.defineCommand("wrsRelease", { numberOfKeys: 1, lua: RELEASE });
      redis.defineCommand("wrsHandOver", { numberOfKeys: 2, lua: HANDOVER });
    }
  }

  get #scripts(): Scripts {
    return this.#redis as unknown as Scripts;
  }

  /** The room's home, or undefined when it has none (never placed, released, or lease expired). */
  async owner(roomId: string): Promise<string | undefined> {
    return (await this.#redis.get(this.#keys.room(roomId))) ?? undefined;
  }

  /**
   * The room's home; when it has none, claims it atomically for the least-loaded live candidate
   * whose load is under its limit (loads as registered). Candidates earlier in the list win ties.
   * Undefined: every candidate is full or dead.
   */
  async place(roomId: string, candidates: readonly string[]): Promise<string | undefined> {
    const home = await this.#scripts.wrsPlace(
      this.#keys.room(roomId),
      this.#keys.claims,
      String(this.#leaseMs),
      this.#keys.node(""),
      ...candidates,
    );
    return home ?? undefined;
  }

  /**
   * A stopping home hands a room it holds to the least-loaded of `candidates` (loads as registered,
   * as in place). Returns the new home, or undefined (not held by `self`, or no candidate can take it:
   * the lease stays).
   */
  async handOver(roomId: string, self: string, candidates: readonly string[]): Promise<string | undefined> {
    const home = await this.#scripts.wrsHandOver(
      this.#keys.room(roomId),
      this.#keys.claims,
      String(this.#leaseMs),
      this.#keys.node(""),
      self,
      ...candidates,
    );
    return home ?? undefined;
  }

  /**
   * The home's periodic write, in one round trip: renews the lease of each room (returns the rooms
   * another node holds), rewrites its member records, forgets the members and rooms that are gone.
   */
  async sync(
    self: string,
    rooms: readonly RoomSync[],
    gone: { rooms: readonly string[]; sockets: readonly { roomId: string; socketId: string }[] },
  ): Promise<Map<string, string>> {
    const p = this.#redis.pipeline();
    const s = p as unknown as PipelineScripts;
    // Records are written only with a renewed lease: a node whose room was taken over while it was
    // cut off never overwrites the new home's records.
    for (const r of rooms)
      s.wrsRenew(
        this.#keys.room(r.roomId),
        this.#keys.roomMembers(r.roomId),
        this.#keys.sockets,
        this.#keys.nodeRooms(self),
        self,
        String(this.#leaseMs),
        String(this.#recordTtlMs),
        r.first ? "1" : "0",
        r.roomId,
        ...r.members.flatMap((m) => [m.socketId, JSON.stringify(m)]),
      );
    for (const { roomId, socketId } of gone.sockets) {
      p.hdel(this.#keys.roomMembers(roomId), socketId);
      p.hdel(this.#keys.sockets, socketId);
    }
    for (const roomId of gone.rooms) {
      s.wrsRelease(this.#keys.room(roomId), self);
      p.del(this.#keys.roomMembers(roomId));
      p.srem(this.#keys.nodeRooms(self), roomId);
    }
    const results = (await p.exec()) ?? [];
    const conflicts = new Map<string, string>();
    rooms.forEach((r, i) => {
      const [err, owner] = results[i] ?? [];
      if (err) throw err;
      if (owner !== self) conflicts.set(r.roomId, String(owner));
    });
    for (const [err] of results) if (err) throw err;
    return conflicts;
  }

  /** The member records of a room, oldest join first. Unreadable records are skipped. */
  async members(roomId: string): Promise<MemberRecord[]> {
    const all = await this.#redis.hgetall(this.#keys.roomMembers(roomId));
    const out: MemberRecord[] = [];
    for (const text of Object.values(all)) {
      try {
        const m = JSON.parse(text) as MemberRecord;
        if (typeof m.socketId === "string" && typeof m.userId === "string") out.push(m);
      } catch {
        // A record this version cannot read: that member cannot be restored.
      }
    }
    return out.sort((a, b) => a.joinedAt - b.joinedAt);
  }

  /** Whether a room has member records (it had a home, which may be dead). */
  async hasMembers(roomId: string): Promise<boolean> {
    return (await this.#redis.exists(this.#keys.roomMembers(roomId))) === 1;
  }

  /** Which room a socketId is a member of (any node's), for `reconnect`. */
  async roomOfSocket(socketId: string): Promise<string | undefined> {
    return (await this.#redis.hget(this.#keys.sockets, socketId)) ?? undefined;
  }

  /** The rooms a node is (or, dead, was) home of. */
  async roomsOf(nodeId: string): Promise<string[]> {
    return this.#redis.smembers(this.#keys.nodeRooms(nodeId));
  }

  async isRoomOf(nodeId: string, roomId: string): Promise<boolean> {
    return (await this.#redis.sismember(this.#keys.nodeRooms(nodeId), roomId)) === 1;
  }

  /** A dead node's room that another node now holds. */
  async forgetRoomOf(nodeId: string, roomId: string): Promise<void> {
    await this.#redis.srem(this.#keys.nodeRooms(nodeId), roomId);
  }
}
