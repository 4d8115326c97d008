/**
 * A userspace TCP impairment relay on 127.0.0.1, for kernels without sch_netem: adds a fixed delay
 * plus random jitter to every chunk in each direction (order preserved, as TCP would), or
 * black-holes the link (bytes silently discarded, sockets left open: a dead network, not a reset).
 */
import { createServer, type Server, Socket } from "node:net";

export interface LagProxy {
  readonly port: number;
  /** One-way delay and jitter (uniform 0..jitterMs) applied from now on, both directions. */
  setDelay(delayMs: number, jitterMs?: number): void;
  /** Discards every byte both ways until `restore()`. */
  blackhole(): void;
  restore(): void;
  close(): Promise<void>;
}

export async function startLagProxy(targetPort: number, targetHost = "127.0.0.1"): Promise<LagProxy> {
  let delayMs = 0;
  let jitterMs = 0;
  let dead = false;
  const sockets = new Set<Socket>();

  const relay = (from: Socket, to: Socket): void => {
    let last = 0;
    from.on("data", (chunk: Buffer) => {
      if (dead) return;
      const due = Math.max(Date.now() + delayMs + Math.random() * jitterMs, last);
      last = due;
      setTimeout(() => {
        if (!dead && !to.destroyed) to.write(chunk);
      }, due - Date.now());
    });
  };

  const server: Server = createServer((client) => {
    const upstream = new Socket();
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.setNoDelay(true);
      s.on("error", () => {});
      s.on("close", () => {
        sockets.delete(s);
        // A close is only passed on while the link is alive (a dead network carries no FIN).
        if (!dead) (s === client ? upstream : client).destroy();
      });
    }
    client.pause();
    upstream.connect(targetPort, targetHost, () => {
      relay(client, upstream);
      relay(upstream, client);
      client.resume();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("no TCP address");
  return {
    port: address.port,
    setDelay(d, j = 0) {
      delayMs = d;
      jitterMs = j;
    },
    blackhole() {
      dead = true;
    },
    restore() {
      dead = false;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}
