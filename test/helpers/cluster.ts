import { type ChildServer, spawnServer } from "./child-server.ts";
import { deletePrefix, REDIS_TEST_URL, testPrefix } from "./redis.ts";
import { waitFor } from "./wait-for.ts";
import { TestListener, TestPublisher } from "./werift-peers.ts";
import { TestClient, type WireMessage } from "./ws-client.ts";

export interface ClusterState {
  nodeId: string;
  redis: "up" | "down";
  nodes: Array<{ id: string; rooms: number; members: number; self: boolean; wsUrl: string }>;
  deadNodes: string[];
  bridgedOut: number;
  bridgedIn: number;
}

export interface TestNode extends ChildServer {
  /** NODE_ID with the random suffix every node adds (read from its /state). */
  nodeId: string;
  state(): Promise<{ rooms: Array<{ roomId: string; roomSize: number }>; cluster: ClusterState }>;
}

/** A cluster of real server processes on 127.0.0.1 sharing one Redis under a fresh key prefix. */
export interface TestCluster {
  readonly prefix: string;
  readonly nodes: TestNode[];
  /** The node (index) that is home of `roomId`, from the nodes' /state. */
  homeOf(roomId: string): Promise<number>;
  /** Starts one more node of this cluster (same settings); it is pushed onto `nodes`. */
  addNode(name: string): Promise<TestNode>;
  /** Every node sees `count` live nodes. */
  settled(count: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export async function startCluster(
  names: readonly string[],
  env: Record<string, string> = {},
  options: { redisUrl?: string; prefix?: string } = {},
): Promise<TestCluster> {
  const prefix = options.prefix ?? testPrefix("cluster");
  const nodes: TestNode[] = [];
  const cluster: TestCluster = {
    prefix,
    nodes,
    addNode: () => Promise.reject(new Error("not started")),
    async homeOf(roomId) {
      for (;;) {
        for (const [i, n] of nodes.entries()) {
          if (n.child.exitCode !== null || n.child.signalCode !== null) continue;
          const s = await n.state().catch(() => undefined);
          if (s?.rooms.some((r) => r.roomId === roomId)) return i;
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async settled(count, timeoutMs = 10_000) {
      await waitFor(
        `every live node sees ${count} nodes`,
        async () => {
          for (const n of nodes) {
            if (n.child.exitCode !== null || n.child.signalCode !== null) continue;
            const s = await n.state().catch(() => undefined);
            if (s?.cluster.nodes.length !== count) return false;
          }
          return true;
        },
        timeoutMs,
      );
    },
    async close() {
      await Promise.all(nodes.map((n) => n.kill()));
      await deletePrefix(prefix, options.redisUrl ?? REDIS_TEST_URL);
    },
  };
  async function spawnNode(name: string): Promise<TestNode> {
    const server = await spawnServer({
      REDIS_URL: options.redisUrl ?? REDIS_TEST_URL,
      CLUSTER_KEY_PREFIX: prefix,
      NODE_ID: name,
      CLUSTER_LEASE_MS: "2000",
      CLUSTER_REFRESH_MS: "500",
      REDIS_COMMAND_TIMEOUT_MS: "500",
      ROOM_MODE: "mcu",
      PUBLIC_IPV4: "127.0.0.1",
      ...env,
    });
    const node: TestNode = Object.assign(server, {
      nodeId: name,
      async state() {
        const res = await fetch(`${server.httpUrl}/state`);
        return (await res.json()) as Awaited<ReturnType<TestNode["state"]>>;
      },
    });
    nodes.push(node);
    return node;
  }
  cluster.addNode = async (name) => {
    const node = await spawnNode(name);
    node.nodeId = (await node.state()).cluster.nodeId;
    return node;
  };
  try {
    for (const name of names) await spawnNode(name);
    await cluster.settled(names.length);
    for (const n of nodes) n.nodeId = (await n.state()).cluster.nodeId;
  } catch (err) {
    await cluster.close();
    throw err;
  }
  return cluster;
}

export function fromOf(m: WireMessage): { socketId: string; userId: string } {
  return m.d?.from as { socketId: string; userId: string };
}

/**
 * A protocol client that also plays the media side with werift: publishes on demand, answers
 * every listener offer the server makes (a newer offer for the same publisher replaces the old
 * connection), and applies the server's candidates.
 */
export class MediaClient {
  readonly c: TestClient;
  socketId = "";
  publisher: TestPublisher | undefined;
  readonly listeners = new Map<string, TestListener>();
  readonly closers: Array<() => unknown> = [];

  private constructor(c: TestClient) {
    this.c = c;
    c.ws.on("message", (data) => {
      const m = JSON.parse(data.toString()) as WireMessage;
      if (m.a === "eventExchangeCandidate") {
        const from = fromOf(m).socketId;
        const pc = from === "publisher" ? this.publisher?.pc : this.listeners.get(from)?.pc;
        void pc?.addIceCandidate(m.d?.candidate as { candidate: string }).catch(() => {});
      }
      if (m.a === "eventExchangeSdp" && fromOf(m).socketId !== "publisher") void this.answer(m);
    });
  }

  static async connect(url: string): Promise<MediaClient> {
    return new MediaClient(await TestClient.connect(url));
  }

  async join(roomId: string, userId: string): Promise<WireMessage> {
    const r = await this.c.join(roomId, userId);
    this.socketId = String(r.d?.socketId);
    return r;
  }

  /** Publishes (again) on a new connection; resolves once the server answered. */
  async publish(): Promise<TestPublisher> {
    const old = this.publisher;
    const publisher = new TestPublisher();
    this.publisher = publisher;
    const offer = await publisher.offer();
    // The answer (eventExchangeSdp from "publisher") is what counts: listener answers sent by
    // answer() at the same time have exchangeSdpR replies of their own.
    const from = this.c.received.length;
    this.c.send("exchangeSdp", { to: "publisher", sdp: offer });
    const answer = await waitFor(
      "the publish answer",
      () =>
        this.c.received
          .slice(from)
          .find(
            (m) => (m.a === "eventExchangeSdp" && fromOf(m).socketId === "publisher") || m.e !== undefined,
          ),
      15_000,
    );
    if (answer.e !== undefined) throw new Error(`publish refused: ${JSON.stringify(answer)}`);
    await publisher.pc.setRemoteDescription(answer.d?.sdp as { type: "answer"; sdp: string });
    publisher.start();
    await old?.close();
    return publisher;
  }

  /** Video packets received from `publisherSocketId` on the current listener connection. */
  videoFrom(publisherSocketId: string): number {
    return this.listeners.get(publisherSocketId)?.video.length ?? 0;
  }

  private async answer(m: WireMessage): Promise<void> {
    const from = fromOf(m).socketId;
    const listener = new TestListener();
    const old = this.listeners.get(from);
    this.listeners.set(from, listener);
    void old?.pc.close();
    const answer = await listener.answer(m.d?.sdp as { type: "offer"; sdp: string });
    this.c.send("exchangeSdp", { to: from, sdp: answer });
  }

  async close(): Promise<void> {
    this.c.close();
    await this.publisher?.close();
    await Promise.all([...this.listeners.values()].map((l) => l.pc.close()));
  }
}
