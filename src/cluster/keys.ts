/**
 * Every Redis key and channel of the cluster, under one prefix (CLUSTER_KEY_PREFIX), so that
 * several clusters (or tests) share one Redis without meeting. One Redis, not Redis Cluster:
 * the Lua scripts touch keys of several rooms and nodes.
 */
export interface ClusterKeys {
  /** Set of node ids ever registered and not yet forgotten. */
  readonly nodes: string;
  /** String (JSON NodeInfo) with the node TTL: the node is alive while it exists. */
  node(id: string): string;
  /** Set of the room ids a node is home of (kept after its death until its rooms are re-homed). */
  nodeRooms(id: string): string;
  /** String: the home node id of a room, with the lease as TTL. */
  room(roomId: string): string;
  /** Hash socketId -> member record (JSON) of a room, written by its home. */
  roomMembers(roomId: string): string;
  /** Hash socketId -> roomId of every member, for `reconnect` on any node. */
  readonly sockets: string;
  /** Hash node id -> rooms placed on it since its last load report. */
  readonly claims: string;
  /** Pub/sub channel of a node's inbox. */
  inbox(id: string): string;
}

export function clusterKeys(prefix: string): ClusterKeys {
  return {
    nodes: `${prefix}nodes`,
    node: (id) => `${prefix}node:${id}`,
    nodeRooms: (id) => `${prefix}node-rooms:${id}`,
    room: (roomId) => `${prefix}room:${roomId}`,
    roomMembers: (roomId) => `${prefix}room-members:${roomId}`,
    sockets: `${prefix}sockets`,
    claims: `${prefix}claims`,
    inbox: (id) => `${prefix}inbox:${id}`,
  };
}
