import { createServer, type Server, Socket } from "node:net";

export interface TcpProxyOptions {
  readonly targetHost: string;
  readonly targetPort: number;
  /** Start refusing connections (as if the target were down). */
  readonly refusing?: boolean;
  /**
   * Forward the target's bytes to the client in whole AMQP 0-9-1 frames, so that
   * `injectToClients` can slip a frame in between (e.g. connection.blocked).
   */
  readonly amqpFrames?: boolean;
}

export interface TcpProxy {
  readonly port: number;
  readonly host: string;
  /** Connections currently relayed. */
  readonly connections: number;
  /** Connections accepted and relayed since start. */
  readonly accepted: number;
  /** Resets every relayed connection (both sides) and refuses new ones until `restore`. */
  cut(): void;
  /** Accepts and relays connections again (after `cut`). */
  restore(): void;
  /** Stops relaying bytes on every open connection without closing it (a hung broker). */
  stall(): void;
  /** Writes `bytes` to every client, between two whole frames (needs `amqpFrames`). */
  injectToClients(bytes: Buffer): void;
  close(): Promise<void>;
}

interface Pair {
  readonly client: Socket;
  readonly upstream: Socket;
}

/**
 * A TCP relay on 127.0.0.1:<random port> for outage tests: `cut()` resets every connection
 * (clients see ECONNRESET) and resets new ones on accept until `restore()`.
 */
export async function startTcpProxy(options: TcpProxyOptions): Promise<TcpProxy> {
  const pairs = new Set<Pair>();
  let refusing = options.refusing ?? false;
  let accepted = 0;

  const server: Server = createServer((client) => {
    if (refusing) {
      client.resetAndDestroy();
      return;
    }
    accepted++;
    client.setNoDelay(true);
    client.pause();
    const upstream = new Socket();
    const pair: Pair = { client, upstream };
    pairs.add(pair);
    const drop = (): void => {
      if (!pairs.delete(pair)) return;
      client.destroy();
      upstream.destroy();
    };
    client.on("error", drop);
    client.on("close", drop);
    upstream.on("error", drop);
    upstream.on("close", drop);
    upstream.connect(options.targetPort, options.targetHost, () => {
      upstream.setNoDelay(true);
      client.pipe(upstream);
      if (options.amqpFrames) relayFrames(upstream, client);
      else upstream.pipe(client);
      client.resume();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("proxy has no TCP address");

  return {
    port: address.port,
    host: "127.0.0.1",
    get connections() {
      return pairs.size;
    },
    get accepted() {
      return accepted;
    },
    cut(): void {
      refusing = true;
      for (const pair of [...pairs]) {
        pairs.delete(pair);
        pair.client.resetAndDestroy();
        pair.upstream.resetAndDestroy();
      }
    },
    restore(): void {
      refusing = false;
    },
    stall(): void {
      for (const pair of pairs) {
        // Swallow what the client sends (so its close is still seen), forward nothing either way.
        pair.client.unpipe();
        pair.client.on("data", () => {});
        pair.client.resume();
        pair.upstream.unpipe();
        pair.upstream.removeAllListeners("data");
        pair.upstream.pause();
      }
    },
    injectToClients(bytes: Buffer): void {
      if (!options.amqpFrames) throw new Error("injectToClients needs amqpFrames: true");
      for (const pair of pairs) pair.client.write(bytes);
    },
    close(): Promise<void> {
      refusing = true;
      for (const pair of [...pairs]) {
        pairs.delete(pair);
        pair.client.destroy();
        pair.upstream.destroy();
      }
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const FRAME_HEADER = 7;
const FRAME_END = 1;

/** Copies `from` to `to` one whole AMQP frame at a time (header: type, channel, size). */
function relayFrames(from: Socket, to: Socket): void {
  let pending: Buffer = Buffer.alloc(0);
  from.on("data", (chunk: Buffer) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    let end = 0;
    while (pending.length - end >= FRAME_HEADER) {
      const size = pending.readUInt32BE(end + 3);
      const frameLength = FRAME_HEADER + size + FRAME_END;
      if (pending.length - end < frameLength) break;
      end += frameLength;
    }
    if (end > 0) {
      to.write(pending.subarray(0, end));
      pending = pending.subarray(end);
    }
  });
  from.on("end", () => to.end());
}

/** An AMQP 0-9-1 connection.blocked (reason) or connection.unblocked method frame on channel 0. */
export function amqpBlockedFrame(reason?: string): Buffer {
  const method = reason === undefined ? 61 : 60;
  const args =
    reason === undefined
      ? Buffer.alloc(0)
      : Buffer.concat([Buffer.from([Buffer.byteLength(reason)]), Buffer.from(reason)]);
  const payload = Buffer.alloc(4 + args.length);
  payload.writeUInt16BE(10, 0); // class connection
  payload.writeUInt16BE(method, 2);
  args.copy(payload, 4);
  const frame = Buffer.alloc(FRAME_HEADER + payload.length + FRAME_END);
  frame.writeUInt8(1, 0); // method frame
  frame.writeUInt16BE(0, 1);
  frame.writeUInt32BE(payload.length, 3);
  payload.copy(frame, FRAME_HEADER);
  frame.writeUInt8(0xce, FRAME_HEADER + payload.length);
  return frame;
}
