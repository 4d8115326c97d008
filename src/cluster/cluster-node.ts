import { Counter, Gauge } from "prom-client";
import type { TokenVerifier } from "../auth/token-verifier.ts";
import type { ClusterConfig } from "../config/cluster-config.ts";
import { ErrorCode, ProtocolError } from "../lib/errors.ts";
import type { Logger } from "../lib/logger.ts";
import type { Metrics } from "../metrics/metrics.ts";
import type { ClientMessage, JoinData } from "../protocol/messages.ts";
import { errorReply } from "../protocol/replies.ts";
import type { Member } from "../rooms/member.ts";
import type { RoomManager } from "../rooms/room-manager.ts";
import type { CloseReason } from "../signaling/close-reason.ts";
import type { ChannelLink } from "../signaling/member-channel.ts";
import type { MemberChannels } from "../signaling/member-channels.ts";
import type { SignalingConnection, SignalingHandlers } from "../signaling/signaling-connection.ts";
import { type MemberRecord, RoomDirectory, type RoomSync } from "./directory.ts";
import { NodeInbox } from "./inbox.ts";
import { type ClusterKeys, clusterKeys } from "./keys.ts";
import { RedisConnection } from "./redis-connection.ts";
import { type NodeInfo, NodeRegistry, type RegistryView } from "./registry.ts";
import { RemoteConnection } from "./remote-connection.ts";
import { readFrame } from "./wire.ts";

/**
 * What the cluster needs of a signaling connection, local (WebSocket) or remote (stand-in): what
 * handlers use, and a server-side close (a handed-over room's sockets, an edge's `end`).
 */
export interface ClusterConnection extends SignalingConnection {
  close(reason: Exclude<CloseReason, "client-leave" | "dropped">): void;
}

/** The local WebSockets of this node, by socketId. */
export interface LocalConnections<C extends ClusterConnection> {
  get(socketId: string): C | undefined;
  readonly size: number;
}

export interface ClusterNodeDeps<C extends ClusterConnection> {
  config: ClusterConfig;
  log: Logger;
  metrics: Metrics;
  rooms: RoomManager;
  connections: LocalConnections<C>;
  /** The node's dispatcher (join, reconnect, member actions; close -> leave or grace): it runs every message of the rooms this node is home of. */
  handlers: SignalingHandlers<C | RemoteConnection>;
  /** Each member's numbered event stream (the home's: members of its rooms). */
  channels: MemberChannels;
  verifier: TokenVerifier;
  /** Address in this node's ICE candidates (PUBLIC_IPV4). */
  publicIpv4: string;
  mediaWorkers: number;
}

export interface ClusterState {
  nodeId: string;
  redis: "up" | "down";
  nodes: Array<{
    id: string;
    wsUrl: string;
    publicIpv4: string;
    maxMembers: number;
    rooms: number;
    members: number;
    connections: number;
    cpu: number;
    self: boolean;
  }>;
  deadNodes: string[];
  /** This node's WebSockets whose room is homed elsewhere. */
  bridgedOut: number;
  /** Members of this node's rooms whose WebSocket is on another node. */
  bridgedIn: number;
}

interface Bridge {
  home: string;
  joined: boolean;
  /** Messages sent to the home and not yet handled there, oldest first (with when they were sent). */
  pending: Array<{ resolve: () => void; at: number }>;
}

interface LinkInfo {
  edge: string;
  edgeSocketId: string;
  link: ChannelLink;
  /** Closes the socket with 1001, so that the client reconnects (to wherever the room is now). */
  end?: () => void;
  joinedAt: number;
}

/** A bridged message whose home has not answered by then is let go (the home is dead or cut off). */
const BRIDGE_DONE_TIMEOUT_MS = 15_000;

/**
 * How far a restored member's event numbering jumps above its last recorded `n` (records are
 * rewritten every CLUSTER_REFRESH_MS; more events than this in one refresh period would be numbered
 * twice). The client sees the gap: those events were lost with the dead node.
 */
const SEQ_GAP_AFTER_RESTORE = 1000;

const DETACHED: ChannelLink = { sendText() {}, replace() {}, supersede() {} };

/**
 * One node of a cluster on Redis (REDIS_URL). Rooms live on one node each, their home; a member's
 * WebSocket may be on any node, its edge. The edge authenticates, parses and rate-limits, then
 * forwards the member's messages to the home's inbox; the home runs the usual dispatcher with a
 * RemoteConnection and sends back the exact texts for the edge to write. The home renews its rooms'
 * leases and member records every refresh; a node whose registry entry lapses is dead, and the
 * first survivor to see a dead node's room without a lease places it and has it restored from the
 * member records. One owner (the server's composition), one close().
 */
export class ClusterNode<C extends ClusterConnection> {
  readonly id: string;
  readonly #d: ClusterNodeDeps<C>;
  readonly #c: ClusterConfig;
  readonly #log: Logger;
  readonly #keys: ClusterKeys;
  readonly #cmd: RedisConnection;
  readonly #sub: RedisConnection;
  readonly #registry: NodeRegistry;
  readonly #directory: RoomDirectory;
  readonly #inbox: NodeInbox;
  /** Edge side: local sockets bridged to another home, by socketId. */
  readonly #bridges = new Map<string, Bridge>();
  /** Home side: stand-ins for sockets on other nodes, by `${edge} ${socketId}`. */
  readonly #remotes = new Map<string, RemoteConnection>();
  /** Home side: where each member of this node's rooms is connected (for its record). */
  readonly #links = new Map<string, LinkInfo>();
  readonly #restoring = new Map<string, Promise<void>>();
  /** Rooms given to other nodes by a stopping node (handOver): their stand-ins stay open. */
  readonly #handedOver = new Set<string>();
  #handingOver = false;
  #synced = { rooms: new Set<string>(), sockets: new Map<string, string>() };
  #wsUrl = "";
  readonly #startedAt = Date.now();
  #timer: NodeJS.Timeout | undefined;
  #ticking: Promise<void> | undefined;
  #syncAgain = false;
  #closed = false;
  #cpu = { at: performance.now(), usage: process.cpuUsage(), share: 0 };
  #lastTickError = "";
  readonly #m: ReturnType<typeof clusterMetrics>;

  constructor(deps: ClusterNodeDeps<C>) {
    this.#d = deps;
    this.#c = deps.config;
    this.id = deps.config.nodeId;
    this.#log = deps.log.child({ component: "cluster", nodeId: this.id });
    this.#keys = clusterKeys(this.#c.keyPrefix);
    this.#m = clusterMetrics(deps.metrics);
    const redis = { url: this.#c.redisUrl, log: this.#log, connectTimeoutMs: this.#c.connectTimeoutMs };
    this.#cmd = new RedisConnection({
      ...redis,
      name: `${this.id}-cmd`,
      commandTimeoutMs: this.#c.commandTimeoutMs,
    });
    this.#sub = new RedisConnection({
      ...redis,
      name: `${this.id}-sub`,
      commandTimeoutMs: this.#c.commandTimeoutMs,
    });
    this.#registry = new NodeRegistry(this.#cmd.redis, this.#keys, this.#c.nodeTtlMs);
    this.#directory = new RoomDirectory(this.#cmd.redis, this.#keys, {
      leaseMs: this.#c.leaseMs,
      recordTtlMs: Math.max(60_000, 10 * this.#c.leaseMs),
    });
    this.#inbox = new NodeInbox({
      self: this.id,
      keys: this.#keys,
      pub: this.#cmd,
      sub: this.#sub,
      outboxMax: this.#c.outboxMax,
      undeliveredMaxMs: this.#c.leaseMs + this.#c.nodeTtlMs,
      log: this.#log,
      onFrame: (f) => this.#onFrame(f),
      onDrop: (n, why) => this.#m.dropped.inc({ why }, n),
    });
    this.#cmd.onReady(() => this.#tickSoon());
  }

  /** Starts the periodic work; waits (bounded) for Redis so the first joins can be placed. */
  async start(wsUrl: string): Promise<void> {
    this.#wsUrl = this.#c.publicUrl ?? wsUrl;
    this.#timer = setInterval(() => this.#tickSoon(), this.#c.refreshMs);
    this.#timer.unref();
    const deadline = performance.now() + this.#c.connectTimeoutMs;
    while (!(this.#cmd.ready && this.#inbox.listening) && performance.now() < deadline && !this.#closed)
      await new Promise((r) => setTimeout(r, 20));
    if (this.#cmd.ready) await this.#tick();
    else this.#log.warn("cluster: Redis unreachable at start; this node registers as soon as it answers");
    this.#log.info({ wsUrl: this.#wsUrl, redis: this.#cmd.ready ? "up" : "down" }, "cluster node started");
  }

  // ---------------------------------------------------------------- edge side

  /** Wraps the node's dispatcher for its own WebSockets: local rooms run here, others are bridged. */
  edgeHandlers(): SignalingHandlers<C> {
    return {
      message: (conn, msg) => this.#edgeMessage(conn, msg),
      closed: (conn, reason) => this.#edgeClosed(conn, reason),
    };
  }

  async #edgeMessage(conn: C, msg: ClientMessage): Promise<void> {
    const bridge = this.#bridges.get(conn.socketId);
    if (msg.a !== "join" && msg.a !== "reconnect") {
      if (bridge) await this.#forward(bridge, conn, msg);
      else await this.#d.handlers.message(conn, msg);
      return;
    }
    if (conn.member) return this.#local(conn, msg); // joined here: the dispatcher answers 1315
    if (bridge?.joined) return this.#forward(bridge, conn, msg); // joined there: 1315 from there
    try {
      await this.#d.verifier.verify(msg.d.bearer); // the edge authenticates; the home checks again
    } catch (err) {
      this.#d.metrics.authFailures.inc();
      return this.#refuse(conn, msg.a, err);
    }
    if (!conn.open) return;
    let home: string | undefined;
    try {
      home =
        msg.a === "join"
          ? await this.#homeForJoin(msg.d.roomId)
          : await this.#homeForReconnect(msg.d.socketId);
    } catch (err) {
      this.#log.warn({ err: (err as Error).message, action: msg.a }, "cluster: directory unavailable");
      return this.#refuse(
        conn,
        msg.a,
        new ProtocolError(ErrorCode.internal, "cluster directory unavailable"),
      );
    }
    if (home === undefined && msg.a === "join") {
      this.#m.full.inc();
      return this.#refuse(conn, msg.a, new ProtocolError(ErrorCode.roomFull, "every node is full"));
    }
    if (bridge && bridge.home !== home) {
      // A failed join there: that stand-in has no member; let it go.
      this.#inbox.send(bridge.home, { t: "closed", e: this.id, s: conn.socketId, r: "client-leave" });
      this.#unbridge(conn.socketId);
    }
    if (home === undefined || home === this.id) return this.#local(conn, msg);
    let next = this.#bridges.get(conn.socketId);
    if (!next) {
      next = { home, joined: false, pending: [] };
      this.#bridges.set(conn.socketId, next);
    }
    await this.#forward(next, conn, msg);
  }

  #unbridge(socketId: string): void {
    const bridge = this.#bridges.get(socketId);
    if (!bridge) return;
    this.#bridges.delete(socketId);
    for (const p of bridge.pending.splice(0)) p.resolve();
  }

  /** The dispatcher, then (join/reconnect) where the member is connected is noted for its record. */
  async #local(conn: C | RemoteConnection, msg: ClientMessage): Promise<void> {
    await this.#d.handlers.message(conn, msg);
    if ((msg.a === "join" || msg.a === "reconnect") && conn.member) {
      const edge = conn instanceof RemoteConnection ? conn.edge : this.id;
      const previous = this.#links.get(conn.member.socketId);
      this.#links.set(conn.member.socketId, {
        edge,
        edgeSocketId: conn.socketId,
        link: conn,
        end: () => conn.close("shutdown"),
        joinedAt: previous?.joinedAt ?? Date.now(),
      });
      this.#tickSoon();
    }
  }

  #edgeClosed(conn: C, reason: CloseReason): void {
    const bridge = this.#bridges.get(conn.socketId);
    if (!bridge) {
      this.#d.handlers.closed(conn, reason);
      return;
    }
    this.#unbridge(conn.socketId);
    this.#inbox.send(bridge.home, { t: "closed", e: this.id, s: conn.socketId, r: reason });
  }

  /**
   * Sends a client message to the home and resolves once the home has handled it (its `done`), so
   * that the edge's own replies (1282, 1296, 1322) keep their place in the socket's reply order, as
   * on one node. A home that never answers releases the socket after BRIDGE_DONE_TIMEOUT_MS.
   */
  #forward(bridge: Bridge, conn: C, msg: ClientMessage): Promise<void> {
    this.#m.frames.inc({ kind: "in" });
    this.#inbox.send(bridge.home, { t: "in", e: this.id, s: conn.socketId, ip: conn.ctx.ip, m: msg });
    return new Promise((resolve) => bridge.pending.push({ resolve, at: performance.now() }));
  }

  /** Pending bridged messages whose home did not answer in time are let go (the home died). */
  #expirePending(): void {
    const oldest = performance.now() - BRIDGE_DONE_TIMEOUT_MS;
    for (const bridge of this.#bridges.values())
      while (bridge.pending.length > 0 && (bridge.pending[0]?.at ?? 0) < oldest)
        bridge.pending.shift()?.resolve();
  }

  #refuse(conn: SignalingConnection, action: string, err: unknown): void {
    const code = err instanceof ProtocolError ? err.code : ErrorCode.internal;
    this.#d.metrics.errors.inc({ code: String(code) });
    conn.ctx.log.info({ action, code, why: (err as Error).message }, "request failed");
    conn.send(errorReply(action, code));
  }

  /** The room's home: this node if it has the room, its live owner, or a new placement by load. */
  async #homeForJoin(roomId: string): Promise<string | undefined> {
    if (this.#d.rooms.room(roomId)) return this.id;
    const owner = await this.#liveOwner(roomId);
    if (owner) return owner;
    // This node first: it wins ties (no bridge needed), then the others (the placement script reads
    // their loads; a node that registered since the last refresh is a candidate from the next one).
    const others = this.#registry.last.alive.map((n) => n.id).filter((id) => id !== this.id);
    return this.#directory.place(roomId, [this.id, ...others]);
  }

  async #homeForReconnect(socketId: string): Promise<string | undefined> {
    if (this.#d.rooms.member(socketId)) return this.id;
    const roomId = await this.#directory.roomOfSocket(socketId);
    if (!roomId) return undefined;
    return this.#liveOwner(roomId);
  }

  /**
   * The room's owner if it is alive. An owner that is dead, or no owner while the room still has
   * member records (its home died and it is being restored), is waited for, up to a lease and a
   * node TTL, so a reconnect during a failover lands on the new home.
   */
  async #liveOwner(roomId: string): Promise<string | undefined> {
    const deadline = performance.now() + this.#c.leaseMs + this.#c.nodeTtlMs + 2 * this.#c.refreshMs;
    for (;;) {
      const owner = await this.#directory.owner(roomId);
      if (owner === this.id) return owner;
      if (owner && this.#registry.last.alive.some((n) => n.id === owner)) return owner;
      // A node that registered since the last read is not in the cached view: read it again.
      if (owner && (await this.#registry.view()).alive.some((n) => n.id === owner)) return owner;
      if (!owner && !(await this.#directory.hasMembers(roomId))) return undefined;
      if (performance.now() > deadline || this.#closed) return owner;
      await new Promise((r) => setTimeout(r, 200));
      if (!owner) this.#tickSoon();
    }
  }

  // ---------------------------------------------------------------- inbox

  #onFrame(raw: unknown): void {
    const f = readFrame(raw);
    if (!f) {
      this.#m.dropped.inc({ why: "unreadable" });
      return;
    }
    switch (f.t) {
      case "in": {
        const rc = this.#remoteFor(f.e, f.s, f.ip);
        // Its room moved to another node (handOver): the edge is told by the new home; nothing
        // is answered from the old copy here.
        if (rc.member && this.#handedOver.has(rc.member.roomId)) return;
        void rc.enqueue(() => this.#homeMessage(rc, f.m));
        return;
      }
      case "closed": {
        const key = `${f.e} ${f.s}`;
        const rc = this.#remotes.get(key);
        if (!rc) return;
        this.#remotes.delete(key);
        // At once, as for a local socket: a request stuck behind a slow call must not keep a gone member.
        rc.edgeClosed();
        this.#d.handlers.closed(rc, f.r);
        return;
      }
      case "out": {
        if (this.#bridges.get(f.s)?.home !== f.n) return; // from a home this socket left
        this.#m.frames.inc({ kind: "out" });
        this.#d.connections.get(f.s)?.sendText(f.x);
        return;
      }
      case "end": {
        if (this.#bridges.get(f.s)?.home !== f.n) return;
        this.#d.connections.get(f.s)?.close(f.r);
        return;
      }
      case "done": {
        const bridge = this.#bridges.get(f.s);
        if (bridge?.home !== f.n) return;
        if (f.v !== undefined) bridge.joined = f.v;
        bridge.pending.shift()?.resolve();
        return;
      }
      case "home": {
        const bridge = this.#bridges.get(f.s);
        if (bridge) {
          bridge.home = f.h;
          bridge.joined = true;
          // What was waiting on the dead home will never be answered.
          for (const p of bridge.pending.splice(0)) p.resolve();
        }
        return;
      }
      case "redirect": {
        const bridge = this.#bridges.get(f.s);
        const conn = this.#d.connections.get(f.s);
        if (!bridge || bridge.home !== f.n || !conn) return;
        // The join's own pending entry stays: it is released by the new home's done (or here).
        if (f.h === this.id) {
          const waiting = bridge.pending.splice(0);
          this.#bridges.delete(f.s);
          void this.#local(conn, f.m)
            .catch((err: unknown) => this.#log.error({ err }, "redirected join threw"))
            .finally(() => {
              for (const p of waiting) p.resolve();
            });
        } else {
          bridge.home = f.h;
          this.#m.frames.inc({ kind: "in" });
          this.#inbox.send(f.h, { t: "in", e: this.id, s: conn.socketId, ip: conn.ctx.ip, m: f.m });
        }
        return;
      }
      case "restore":
        void this.#restore(f.room).catch((err: unknown) =>
          this.#log.error({ err, roomId: f.room }, "restore failed"),
        );
        return;
    }
  }

  #remoteFor(edge: string, socketId: string, ip: string): RemoteConnection {
    const key = `${edge} ${socketId}`;
    let rc = this.#remotes.get(key);
    if (!rc) {
      rc = new RemoteConnection({
        self: this.id,
        edge,
        ctx: { socketId, ip, log: this.#d.log.child({ socketId, edge }) },
        out: (to, frame) => this.#inbox.send(to, frame),
      });
      this.#remotes.set(key, rc);
    }
    return rc;
  }

  /** A bridged message on the home. A join for a room held by another node is sent there instead. */
  async #homeMessage(rc: RemoteConnection, msg: ClientMessage): Promise<void> {
    // A reconnect (or join) racing a room being restored here waits for it.
    if ((msg.a === "reconnect" || msg.a === "join") && this.#restoring.size > 0)
      await Promise.allSettled([...this.#restoring.values()]);
    if (msg.a === "join" && !rc.member && !this.#d.rooms.room(msg.d.roomId)) {
      try {
        const owner = await this.#directory.owner(msg.d.roomId);
        if (owner && owner !== this.id) {
          this.#inbox.send(rc.edge, { t: "redirect", n: this.id, s: rc.socketId, h: owner, m: msg });
          return;
        }
        if (!owner) await this.#directory.place(msg.d.roomId, [this.id]);
      } catch (err) {
        this.#log.warn({ err: (err as Error).message }, "cluster: directory unavailable for a bridged join");
      }
    }
    try {
      await this.#local(rc, msg);
    } finally {
      const joining = msg.a === "join" || msg.a === "reconnect";
      this.#inbox.send(rc.edge, {
        t: "done",
        n: this.id,
        s: rc.socketId,
        ...(joining ? { v: rc.member !== undefined } : {}),
      });
    }
  }

  // ---------------------------------------------------------------- home side: sync, failure, restore

  #tickSoon(): void {
    // Once handing over, the leases belong to the new homes: no more renewals (close() syncs last).
    if (this.#closed || this.#handingOver) return;
    if (this.#ticking) {
      this.#syncAgain = true;
      return;
    }
    this.#ticking = this.#tick().finally(() => {
      this.#ticking = undefined;
      if (this.#syncAgain) {
        this.#syncAgain = false;
        this.#tickSoon();
      }
    });
  }

  /** Registry refresh, lease renewal and member records, then dead-node handling. Never throws. */
  async #tick(): Promise<void> {
    this.#expirePending();
    if (!this.#cmd.ready || this.#closed) {
      this.#m.redisUp.set(0);
      return;
    }
    try {
      await this.#registry.refresh(this.#info());
      const view = await this.#registry.view();
      this.#m.nodes.set(view.alive.length);
      this.#m.redisUp.set(1);
      await this.#syncRooms();
      // After a (re)connection, give every home a lease period to renew before judging anyone dead.
      if (performance.now() - this.#cmd.readySince > this.#c.leaseMs + this.#c.nodeTtlMs)
        await this.#handleDead(view);
      this.#lastTickError = "";
    } catch (err) {
      const message = (err as Error).message;
      if (message !== this.#lastTickError) this.#log.warn({ err: message }, "cluster: refresh failed");
      this.#lastTickError = message;
    }
  }

  #info(): NodeInfo {
    const now = performance.now();
    const usage = process.cpuUsage();
    if (now - this.#cpu.at >= 500) {
      const used = usage.user - this.#cpu.usage.user + usage.system - this.#cpu.usage.system;
      this.#cpu = { at: now, usage, share: used / 1000 / (now - this.#cpu.at) };
    }
    const stats = this.#d.rooms.stats();
    return {
      id: this.id,
      wsUrl: this.#wsUrl,
      publicIpv4: this.#d.publicIpv4,
      maxMembers: this.#c.nodeMaxMembers,
      load: {
        members: stats.members,
        rooms: stats.rooms,
        connections: this.#d.connections.size,
        cpu: Math.round(this.#cpu.share * 100) / 100,
        mediaWorkers: this.#d.mediaWorkers,
      },
      startedAt: this.#startedAt,
      at: Date.now(),
    };
  }

  /** Renews this node's leases and rewrites its member records; forgets what left since. */
  async #syncRooms(): Promise<void> {
    const rooms: RoomSync[] = [];
    const sockets = new Map<string, string>();
    for (const r of this.#d.rooms.snapshot()) {
      const members: MemberRecord[] = [];
      for (const s of r.sessions) {
        const m = this.#d.rooms.member(s.socketId);
        if (!m) continue;
        members.push(this.#recordOf(m));
        sockets.set(m.socketId, r.roomId);
      }
      rooms.push({ roomId: r.roomId, members, first: !this.#synced.rooms.has(r.roomId) });
    }
    const current = new Set(rooms.map((r) => r.roomId));
    const goneRooms = [...this.#synced.rooms].filter((id) => !current.has(id));
    const goneSockets = [...this.#synced.sockets]
      .filter(([socketId]) => !sockets.has(socketId))
      .map(([socketId, roomId]) => ({ socketId, roomId }));
    const conflicts = await this.#directory.sync(this.id, rooms, { rooms: goneRooms, sockets: goneSockets });
    this.#synced = { rooms: current, sockets };
    // Members who joined and left between two syncs were never written: forget them too.
    for (const socketId of this.#links.keys())
      if (!this.#d.rooms.member(socketId)) this.#links.delete(socketId);
    for (const [roomId, owner] of conflicts) {
      this.#m.conflicts.inc();
      this.#log.error(
        { roomId, owner },
        "cluster: another node holds the lease of a room homed here (this node was taken for dead): dropping this copy",
      );
      await this.#dropStaleRoom(roomId);
    }
  }

  /**
   * This node's copy of a room another node now holds (it was restored there while this node was
   * cut off from Redis, or two nodes opened it at once). The members' sockets are closed with 1001
   * so that their clients reconnect to the room's home; members the holder has in its records leave
   * here without a trace (they go on there), the others as at a shutdown (room.leave published).
   * The holder's records and lease are left alone.
   */
  async #dropStaleRoom(roomId: string): Promise<void> {
    const room = this.#d.rooms.room(roomId);
    if (!room) return;
    const theirs = new Set((await this.#directory.members(roomId)).map((r) => r.socketId));
    for (const m of room.list()) {
      const l = this.#links.get(m.socketId);
      if (l && this.#d.channels.get(m.socketId)?.isLinkedTo(l.link)) l.end?.();
      this.#d.rooms.leave(m, theirs.has(m.socketId) ? "handed-over" : "shutdown");
    }
    this.#synced.rooms.delete(roomId);
    for (const [socketId, r] of this.#synced.sockets) if (r === roomId) this.#synced.sockets.delete(socketId);
  }

  #recordOf(m: Member): MemberRecord {
    const l = this.#links.get(m.socketId);
    // While handing over, this node's own sockets are closing: their members reconnect elsewhere.
    const linked =
      l !== undefined &&
      this.#d.channels.get(m.socketId)?.isLinkedTo(l.link) === true &&
      !(this.#handingOver && l.edge === this.id);
    return {
      socketId: m.socketId,
      userId: m.userId,
      edge: linked ? l.edge : "",
      edgeSocketId: linked ? l.edgeSocketId : "",
      ip: m.info.ip,
      joinedAt: l?.joinedAt ?? Date.now(),
      platform: m.info.platform,
      deviceName: m.info.deviceName,
      networkType: m.info.networkType,
      version: m.info.version,
      appVersion: m.info.appVersion,
      orientation: m.orientation,
      camera: m.camera,
      capabilities: [...m.capabilities],
      ...(m.info.bitrate ? { maxVideoBitrate: m.info.bitrate } : {}),
      lastSeq: this.#d.channels.get(m.socketId)?.lastSeq ?? 0,
    };
  }

  /**
   * Dead nodes: their sockets' stand-ins here drop (members keep their grace and may reconnect on
   * any node); their rooms, once the lease has lapsed, are placed on a live node and restored there.
   */
  async #handleDead(view: RegistryView): Promise<void> {
    const alive = new Set(view.alive.map((n) => n.id));
    for (const [key, rc] of this.#remotes) {
      if (alive.has(rc.edge)) continue;
      this.#remotes.delete(key);
      rc.edgeClosed();
      this.#d.handlers.closed(rc, "dropped");
    }
    for (const node of view.dead) {
      if (node === this.id) continue;
      this.#inbox.drop(node);
      const rooms = await this.#directory.roomsOf(node);
      for (const roomId of rooms) {
        const owner = await this.#directory.owner(roomId);
        if (owner === node) continue; // lease not expired yet
        if (owner) {
          if (await this.#directory.isRoomOf(owner, roomId)) await this.#directory.forgetRoomOf(node, roomId);
          continue;
        }
        const home = await this.#directory.place(
          roomId,
          view.alive.map((n) => n.id),
        );
        if (!home) {
          this.#log.error({ roomId, from: node }, "cluster: no node can take a dead node's room");
          continue;
        }
        this.#log.info({ roomId, from: node, to: home }, "cluster: re-homing a dead node's room");
        if (home === this.id) await this.#restore(roomId);
        else this.#inbox.send(home, { t: "restore", room: roomId });
      }
      if (rooms.length === 0) {
        this.#log.info({ node }, "cluster: dead node forgotten (no rooms left)");
        await this.#registry.forget(node);
      }
    }
  }

  /**
   * Recreates a room from its member records, on the node that now holds its lease. Members whose
   * edge is alive are linked to it; the others are in their reconnect grace. Every member is told
   * that its media connections are down (eventWebrtcDown): it publishes again, and the new home
   * offers it every publisher anew. No room.join: nobody joined.
   */
  async #restore(roomId: string): Promise<void> {
    if (this.#d.rooms.room(roomId) || this.#restoring.has(roomId) || this.#closed) return;
    const running = this.#restoreNow(roomId).finally(() => this.#restoring.delete(roomId));
    this.#restoring.set(roomId, running);
    await running;
  }

  async #restoreNow(roomId: string): Promise<void> {
    {
      if ((await this.#directory.owner(roomId)) !== this.id) return;
      const records = await this.#directory.members(roomId);
      const alive = new Set(this.#registry.last.alive.map((n) => n.id));
      const restored: Member[] = [];
      for (const rec of records) {
        if (this.#d.rooms.member(rec.socketId)) continue;
        let link: (C | RemoteConnection) | undefined;
        if (rec.edge === this.id) link = this.#d.connections.get(rec.edgeSocketId);
        else if (rec.edge && alive.has(rec.edge)) link = this.#remoteFor(rec.edge, rec.edgeSocketId, rec.ip);
        if (link && (!link.open || link.member)) link = undefined;
        const ctx = {
          socketId: rec.socketId,
          ip: rec.ip,
          roomId,
          userId: rec.userId,
          log: this.#d.log.child({ socketId: rec.socketId, roomId, userId: rec.userId }),
        };
        // Events sent after the record was last written died with the old home: the numbering
        // jumps past them, so a client's lastSeq never points above what the new home numbers.
        const channel = this.#d.channels.open(
          rec.socketId,
          link ?? DETACHED,
          (rec.lastSeq ?? 0) + SEQ_GAP_AFTER_RESTORE,
        );
        let member: Member;
        try {
          ({ member } = this.#d.rooms.join(joinDataOf(roomId, rec), { userId: rec.userId }, channel, ctx));
        } catch (err) {
          channel.close();
          this.#log.warn({ err, roomId, socketId: rec.socketId }, "cluster: a member could not be restored");
          continue;
        }
        if (link) {
          link.member = member;
          const conn = link;
          this.#links.set(member.socketId, {
            edge: rec.edge,
            edgeSocketId: rec.edgeSocketId,
            link,
            end: () => conn.close("shutdown"),
            joinedAt: rec.joinedAt,
          });
          if (link instanceof RemoteConnection)
            this.#inbox.send(rec.edge, { t: "home", n: this.id, s: rec.edgeSocketId, h: this.id });
          else this.#unbridge(rec.edgeSocketId);
        } else {
          this.#links.set(member.socketId, {
            edge: "",
            edgeSocketId: "",
            link: DETACHED,
            joinedAt: rec.joinedAt,
          });
          channel.detach();
          this.#d.rooms.disconnected(member);
        }
        restored.push(member);
      }
      for (const m of restored) this.#d.rooms.transport.joined(m);
      for (const m of restored) {
        m.send("eventWebrtcDown", { from: { socketId: "publisher", userId: "" } });
        for (const o of restored) if (o !== m) m.send("eventWebrtcDown", { from: o.ref });
      }
      this.#m.rehomed.inc();
      this.#log.info({ roomId, members: restored.length }, "cluster: room restored on this node");
      this.#tickSoon();
    }
  }

  // ---------------------------------------------------------------- state, close

  state(): ClusterState {
    const view = this.#registry.last;
    return {
      nodeId: this.id,
      redis: this.#cmd.ready ? "up" : "down",
      nodes: view.alive.map((n) => ({
        id: n.id,
        wsUrl: n.wsUrl,
        publicIpv4: n.publicIpv4,
        maxMembers: n.maxMembers,
        rooms: n.load.rooms,
        members: n.load.members,
        connections: n.load.connections,
        cpu: n.load.cpu,
        self: n.id === this.id,
      })),
      deadNodes: [...view.dead],
      bridgedOut: this.#bridges.size,
      bridgedIn: this.#remotes.size,
    };
  }

  /**
   * After the server closed its sockets and its rooms: members bridged here from other nodes are
   * told (their edge closes with 1001 and the client reconnects elsewhere), the leases of the now
   * empty rooms are released, the node leaves the registry, Redis connections close. Bounded.
   */
  /**
   * A stopping node gives each of its rooms to the best other live node (the lease moves atomically)
   * after a last write of the member records, and asks it to restore the room: members on other
   * nodes keep their sockets and the call (as after a node's death, without the lease wait), this
   * node's own members (their sockets were just closed with 1001) reconnect elsewhere. Returns the
   * rooms handed over; the others end here as on one node. Bounded (2 s); never throws.
   */
  async handOver(): Promise<ReadonlySet<string>> {
    const others = this.#registry.last.alive.map((n) => n.id).filter((id) => id !== this.id);
    if (!this.#cmd.ready || this.#closed || others.length === 0) return this.#handedOver;
    this.#handingOver = true;
    if (this.#timer) clearInterval(this.#timer);
    const work = (async () => {
      await this.#ticking;
      await this.#syncRooms();
      for (const { roomId } of this.#d.rooms.snapshot()) {
        const home = await this.#directory.handOver(roomId, this.id, others);
        if (!home) continue;
        this.#handedOver.add(roomId);
        this.#inbox.send(home, { t: "restore", room: roomId });
        this.#log.info({ roomId, to: home }, "cluster: room handed over");
      }
      await this.#inbox.flushNow();
    })();
    await Promise.race([
      work.catch((err: unknown) =>
        this.#log.warn({ err: (err as Error).message }, "cluster: hand-over failed"),
      ),
      new Promise((r) => setTimeout(r, 2000).unref()),
    ]);
    // The new homes own these records now: the last sync must not delete them.
    for (const roomId of this.#handedOver) this.#synced.rooms.delete(roomId);
    for (const [socketId, roomId] of this.#synced.sockets)
      if (this.#handedOver.has(roomId)) this.#synced.sockets.delete(socketId);
    return this.#handedOver;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    if (this.#timer) clearInterval(this.#timer);
    for (const rc of this.#remotes.values())
      if (!(rc.member && this.#handedOver.has(rc.member.roomId))) rc.close("shutdown");
    this.#remotes.clear();
    await this.#ticking;
    if (this.#cmd.ready) {
      await Promise.race([
        (async () => {
          await this.#inbox.flushNow();
          await this.#syncRooms().catch(() => undefined);
          await this.#registry.deregister(this.id).catch(() => undefined);
        })(),
        new Promise((r) => setTimeout(r, 2000).unref()),
      ]);
    }
    this.#closed = true;
    this.#inbox.close();
    await Promise.all([this.#sub.close(), this.#cmd.close()]);
  }
}

function joinDataOf(roomId: string, rec: MemberRecord): JoinData {
  return {
    roomId,
    bearer: "restored",
    platform: rec.platform,
    deviceName: rec.deviceName,
    networkType: rec.networkType,
    version: rec.version,
    appVersion: rec.appVersion,
    orientation: rec.orientation,
    camera: rec.camera,
    capabilities: rec.capabilities,
    ...(rec.maxVideoBitrate ? { maxVideoBitrate: rec.maxVideoBitrate } : {}),
  };
}

function clusterMetrics(metrics: Metrics) {
  const registers = [metrics.registry];
  return {
    frames: new Counter({
      name: "webrtcsignaling_cluster_bridged_frames_total",
      help: "Client messages forwarded to another node (in) and texts written for another node (out)",
      labelNames: ["kind"] as const,
      registers,
    }),
    dropped: new Counter({
      name: "webrtcsignaling_cluster_frames_dropped_total",
      help: "Bridge frames lost: outbox full while Redis was away, publish failed, or unreadable",
      labelNames: ["why"] as const,
      registers,
    }),
    rehomed: new Counter({
      name: "webrtcsignaling_cluster_rooms_restored_total",
      help: "Rooms of a dead node restored on this node",
      registers,
    }),
    conflicts: new Counter({
      name: "webrtcsignaling_cluster_lease_conflicts_total",
      help: "Renewals that found a room of this node held by another node",
      registers,
    }),
    full: new Counter({
      name: "webrtcsignaling_cluster_placement_refused_total",
      help: "New rooms refused because every node was at CLUSTER_NODE_MAX_MEMBERS (join got 1316)",
      registers,
    }),
    nodes: new Gauge({
      name: "webrtcsignaling_cluster_nodes",
      help: "Live nodes in the registry",
      registers,
    }),
    redisUp: new Gauge({ name: "webrtcsignaling_cluster_redis_up", help: "1 when Redis answers", registers }),
  };
}
