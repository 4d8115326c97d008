import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { z } from "zod";
import { ConfigError } from "../lib/errors.ts";
import { type EnvSource, int, optionalString, parseEnv } from "./env-schema.ts";

/** The cluster's variables (docs/operations.md, "Running several nodes"). Without REDIS_URL: one node, no Redis. */
const schema = z.object({
  REDIS_URL: optionalString,
  CLUSTER_KEY_PREFIX: z.string().min(1).max(64).default("webrtcsignaling:"),
  NODE_ID: optionalString,
  INSTANCE_ID: optionalString,
  CLUSTER_PUBLIC_URL: optionalString,
  CLUSTER_NODE_MAX_MEMBERS: int(1000, 0, 1_000_000),
  CLUSTER_LEASE_MS: int(5000, 500, 600_000),
  CLUSTER_REFRESH_MS: int(1000, 100, 60_000),
  CLUSTER_OUTBOX_MAX: int(10_000, 1),
  REDIS_CONNECT_TIMEOUT_MS: int(5000, 100),
  REDIS_COMMAND_TIMEOUT_MS: int(2000, 50),
});

export interface ClusterConfig {
  readonly redisUrl: string;
  readonly keyPrefix: string;
  /** Unique per process (a random suffix is always added, so a restarted node is a new node). */
  readonly nodeId: string;
  /** The WebSocket URL this node advertises; when unset, the listening address. */
  readonly publicUrl?: string;
  /** New rooms go only to nodes with fewer members than this (all full: join answers 1316). */
  readonly nodeMaxMembers: number;
  /** A room's claim lasts this long unless its home renews it; a dead home's rooms move after it. */
  readonly leaseMs: number;
  /** Registry refresh, lease renewal and failure detection period. */
  readonly refreshMs: number;
  /** A node that has not refreshed for this long is dead (3 refresh periods). */
  readonly nodeTtlMs: number;
  /** Bridged frames kept per node while Redis is unreachable (oldest dropped past it). */
  readonly outboxMax: number;
  readonly connectTimeoutMs: number;
  readonly commandTimeoutMs: number;
}

export function loadClusterConfig(env: EnvSource = process.env): ClusterConfig | undefined {
  const e = parseEnv(schema, env, "cluster configuration");
  if (!e.REDIS_URL) return undefined;
  let url: URL;
  try {
    url = new URL(e.REDIS_URL);
  } catch {
    throw new ConfigError("REDIS_URL: not a URL (redis://[:password@]host:port[/db] or rediss://)");
  }
  if (url.protocol !== "redis:" && url.protocol !== "rediss:") {
    throw new ConfigError("REDIS_URL: the scheme must be redis:// or rediss://");
  }
  if (e.CLUSTER_LEASE_MS < 2 * e.CLUSTER_REFRESH_MS) {
    throw new ConfigError("CLUSTER_LEASE_MS must be at least twice CLUSTER_REFRESH_MS");
  }
  const base = e.NODE_ID ?? e.INSTANCE_ID ?? `${hostname()}-${process.pid}`;
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(base)) {
    throw new ConfigError("NODE_ID: 1 to 64 characters among A-Z a-z 0-9 . _ -");
  }
  return Object.freeze({
    redisUrl: e.REDIS_URL,
    keyPrefix: e.CLUSTER_KEY_PREFIX,
    nodeId: `${base}-${randomBytes(3).toString("hex")}`,
    ...(e.CLUSTER_PUBLIC_URL ? { publicUrl: e.CLUSTER_PUBLIC_URL } : {}),
    nodeMaxMembers: e.CLUSTER_NODE_MAX_MEMBERS,
    leaseMs: e.CLUSTER_LEASE_MS,
    refreshMs: e.CLUSTER_REFRESH_MS,
    nodeTtlMs: 3 * e.CLUSTER_REFRESH_MS,
    outboxMax: e.CLUSTER_OUTBOX_MAX,
    connectTimeoutMs: e.REDIS_CONNECT_TIMEOUT_MS,
    commandTimeoutMs: e.REDIS_COMMAND_TIMEOUT_MS,
  });
}
