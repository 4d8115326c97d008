/**
 * A userspace UDP impairment relay for the media path, for machines without tc netem: it sits
 * between a client peer connection and the server like a symmetric NAT, on loopback only.
 *
 * Every real UDP endpoint R that appears in a candidate gets a mirror socket M(R) that the other
 * side sees instead: `forClient(text)` rewrites the server's candidates (in an SDP or a trickled
 * candidate) to their mirrors, `forServer(text)` the client's. A datagram from endpoint P to
 * mirror M(Q) leaves from M(P) to Q, so both ICE agents see consistent addresses and every packet
 * (STUN, DTLS, SRTP, SRTCP) crosses the relay. An endpoint that shows up only as a source
 * (peer-reflexive) gets its mirror on first use.
 *
 * Each direction ("toServer": client -> server, "toClient": server -> client) has its own
 * impairment: added delay, jitter (uniform +-jitterMs around the delay, reordering or not), random
 * loss drawn from a seeded PRNG (repeatable runs), and a total cut switched on and off. Counts
 * passed/dropped datagrams per direction, per class (STUN, DTLS, RTP, RTCP) and per RTP payload
 * type (the RTP header is not encrypted by SRTP, so retransmissions (RTX) can be told apart).
 * A direction may also be a bandwidth bottleneck (`rateBps`, with a bounded queue: `queueMs`).
 */
import { createSocket, type Socket } from "node:dgram";
import { isIPv4 } from "node:net";

export type Direction = "toServer" | "toClient";
export type PacketClass = "stun" | "dtls" | "rtp" | "rtcp" | "other";

export interface Impairment {
  /** Added one-way delay. */
  readonly delayMs: number;
  /** Each datagram's delay is delayMs + uniform(-jitterMs, +jitterMs), at least 0. */
  readonly jitterMs: number;
  /** With jitter: let datagrams overtake each other (netem's behaviour); else keep their order. */
  readonly reorder: boolean;
  /** Probability (0..1) that a datagram is dropped. */
  readonly loss: number;
  /** Drops everything while true. */
  readonly cut: boolean;
  /** Impair only these classes (others pass untouched); undefined: all. */
  readonly only?: readonly PacketClass[] | undefined;
  /**
   * Bandwidth cap in bit/s (0: none): datagrams leave one after the other at this rate (a FIFO
   * bottleneck); one that would wait longer than `queueMs` is dropped (tail drop).
   */
  readonly rateBps?: number;
  /** The bottleneck's queue, as the longest wait before a datagram is dropped; default 200 ms. */
  readonly queueMs?: number;
}

export interface Counts {
  passed: number;
  dropped: number;
}

export interface DirectionStats extends Counts {
  readonly byClass: Record<PacketClass, Counts>;
  /** RTP datagrams by payload type. */
  readonly byPayloadType: Map<number, Counts>;
}

export interface Endpoint {
  readonly address: string;
  readonly port: number;
}

const NONE: Impairment = { delayMs: 0, jitterMs: 0, reorder: false, loss: 0, cut: false };

/** mulberry32: a small seeded PRNG, uniform in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** RFC 7983 demultiplexing by first byte; RTCP by its packet type (RFC 5761). */
export function classify(data: Buffer): PacketClass {
  const first = data[0];
  if (first === undefined) return "other";
  if (first <= 3) return "stun";
  if (first >= 20 && first <= 63) return "dtls";
  if (first >= 128 && first <= 191) {
    const second = data[1] ?? 0;
    return second >= 192 && second <= 223 ? "rtcp" : "rtp";
  }
  return "other";
}

function isLoopback(address: string): boolean {
  return isIPv4(address) && address.startsWith("127.");
}

function newStats(): DirectionStats {
  const counts = (): Counts => ({ passed: 0, dropped: 0 });
  return {
    passed: 0,
    dropped: 0,
    byClass: { stun: counts(), dtls: counts(), rtp: counts(), rtcp: counts(), other: counts() },
    byPayloadType: new Map(),
  };
}

type Side = "client" | "server";

interface Mirror {
  readonly socket: Socket;
  readonly port: number;
  /** The real endpoint this mirror stands for. */
  readonly real: Endpoint;
  /** The side the real endpoint is on. */
  readonly side: Side;
}

interface Queued {
  due: number;
  send: () => void;
}

/** One direction's delay line: a queue ordered by due time, served by one timer. */
class DelayLine {
  readonly #queue: Queued[] = [];
  #timer: NodeJS.Timeout | undefined;
  #lastDue = 0;

  get size(): number {
    return this.#queue.length;
  }

  push(delayMs: number, keepOrder: boolean, send: () => void): void {
    let due = performance.now() + delayMs;
    if (keepOrder) due = Math.max(due, this.#lastDue);
    this.#lastDue = Math.max(this.#lastDue, due);
    let i = this.#queue.length;
    while (i > 0 && (this.#queue[i - 1]?.due ?? 0) > due) i--;
    this.#queue.splice(i, 0, { due, send });
    if (i === 0) this.#arm();
  }

  clear(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#queue.length = 0;
  }

  #arm(): void {
    clearTimeout(this.#timer);
    const head = this.#queue[0];
    if (!head) {
      this.#timer = undefined;
      return;
    }
    this.#timer = setTimeout(() => this.#fire(), Math.max(0, head.due - performance.now()));
  }

  #fire(): void {
    const now = performance.now() + 0.5;
    while (this.#queue.length > 0 && (this.#queue[0]?.due ?? 0) <= now) this.#queue.shift()?.send();
    this.#arm();
  }
}

export interface UdpImpairmentRelayOptions {
  /** Seed of the loss/jitter PRNGs (one stream per direction). */
  seed?: number;
  /** Loopback address the mirror sockets bind to. */
  host?: string;
}

export class UdpImpairmentRelay {
  readonly host: string;
  readonly stats: Record<Direction, DirectionStats> = { toServer: newStats(), toClient: newStats() };
  readonly #impairment: Record<Direction, Impairment> = { toServer: NONE, toClient: NONE };
  /** Loss draws and jitter draws come from separate streams, so that one does not shift the other. */
  readonly #random: Record<Direction, () => number>;
  readonly #jitterRandom: Record<Direction, () => number>;
  readonly #lines: Record<Direction, DelayLine> = { toServer: new DelayLine(), toClient: new DelayLine() };
  /** Bottleneck: when the last queued datagram has left, per direction (performance.now() ms). */
  readonly #busyUntil: Record<Direction, number> = { toServer: 0, toClient: 0 };
  /** `${side} ${address}:${port}` -> mirror (pending while binding). */
  readonly #mirrors = new Map<string, Promise<Mirror>>();
  readonly #ready = new Map<string, Mirror>();
  #closed = false;

  constructor(options: UdpImpairmentRelayOptions = {}) {
    this.host = options.host ?? "127.0.0.1";
    if (!isLoopback(this.host)) throw new Error(`the relay binds loopback addresses only, not ${this.host}`);
    const seed = options.seed ?? 1;
    this.#random = { toServer: seededRandom(seed), toClient: seededRandom(seed ^ 0x9e3779b9) };
    this.#jitterRandom = {
      toServer: seededRandom(seed ^ 0x5bd1e995),
      toClient: seededRandom(seed ^ 0x27d4eb2f),
    };
  }

  /** Sets (merges into) the impairment of one direction or both. */
  impair(direction: Direction | "both", impairment: Partial<Impairment>): void {
    for (const d of direction === "both" ? (["toServer", "toClient"] as const) : [direction]) {
      this.#impairment[d] = { ...this.#impairment[d], ...impairment };
    }
  }

  /** Removes every impairment (queued datagrams still go out at their due time). */
  clear(direction: Direction | "both" = "both"): void {
    for (const d of direction === "both" ? (["toServer", "toClient"] as const) : [direction]) {
      this.#impairment[d] = NONE;
    }
  }

  /** Total cut of both directions (true) or its end (false). */
  cut(on: boolean): void {
    this.impair("both", { cut: on });
  }

  /** Datagrams waiting in the delay lines. */
  get inFlight(): number {
    return this.#lines.toServer.size + this.#lines.toClient.size;
  }

  /** Mirrors created so far, as "real -> mirror". */
  get mappings(): string[] {
    return [...this.#ready.values()].map(
      (m) => `${m.side} ${m.real.address}:${m.real.port} -> ${this.host}:${m.port}`,
    );
  }

  /** Rewrites the server's candidates in an SDP or candidate line to what the client must use. */
  forClient(text: string): Promise<string> {
    return this.#rewrite(text, "server");
  }

  /** Rewrites the client's candidates in an SDP or candidate line to what the server must use. */
  forServer(text: string): Promise<string> {
    return this.#rewrite(text, "client");
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const line of Object.values(this.#lines)) line.clear();
    const mirrors = await Promise.allSettled([...this.#mirrors.values()]);
    await Promise.all(
      mirrors.map((m) =>
        m.status === "fulfilled"
          ? new Promise<void>((resolve) => m.value.socket.close(() => resolve()))
          : Promise.resolve(),
      ),
    );
  }

  async #rewrite(text: string, side: Side): Promise<string> {
    // candidate:<foundation> <component> <transport> <priority> <address> <port> typ <type> ...
    const pattern = /(candidate:\S+ \d+ )(\S+)( \d+ )(\S+) (\d+)( typ )/g;
    const found: Endpoint[] = [];
    for (const m of text.matchAll(pattern)) {
      const [, , transport = "", , address = "", port = ""] = m;
      if (transport.toLowerCase() !== "udp") throw new Error(`the relay carries UDP only: ${m[0]}`);
      if (!isLoopback(address))
        throw new Error(`the relay is loopback-only, got candidate address ${address}`);
      found.push({ address, port: Number(port) });
    }
    const mirrors = new Map<string, Mirror>();
    for (const e of found) mirrors.set(`${e.address}:${e.port}`, await this.#mirror(side, e));
    let out = text.replace(
      pattern,
      (
        whole,
        head: string,
        transport: string,
        priority: string,
        address: string,
        port: string,
        typ: string,
      ) => {
        const m = mirrors.get(`${address}:${port}`);
        return m ? `${head}${transport}${priority}${this.host} ${m.port}${typ}` : whole;
      },
    );
    // The default candidate in m= / c= lines, when it is one of the rewritten ones.
    for (const [key, m] of mirrors) {
      const port = key.slice(key.lastIndexOf(":") + 1);
      out = out.replace(new RegExp(`^(m=\\S+ )${port}( )`, "gm"), `$1${m.port}$2`);
      if (m.real.address !== this.host) {
        out = out.replace(
          new RegExp(`^c=IN IP4 ${m.real.address.replaceAll(".", "\\.")}$`, "gm"),
          `c=IN IP4 ${this.host}`,
        );
      }
    }
    return out;
  }

  /** The mirror standing for a real endpoint of `side` (created and bound on first use). */
  #mirror(side: Side, real: Endpoint): Promise<Mirror> {
    const key = `${side} ${real.address}:${real.port}`;
    let pending = this.#mirrors.get(key);
    if (pending) return pending;
    if (this.#closed) return Promise.reject(new Error("relay closed"));
    pending = new Promise<Mirror>((resolve, reject) => {
      const socket = createSocket("udp4");
      socket.once("error", reject);
      socket.bind(0, this.host, () => {
        socket.off("error", reject);
        socket.on("error", () => {});
        const mirror: Mirror = { socket, port: socket.address().port, real, side };
        socket.on("message", (data, rinfo) => this.#receive(mirror, data, rinfo));
        this.#ready.set(key, mirror);
        resolve(mirror);
      });
    });
    this.#mirrors.set(key, pending);
    return pending;
  }

  /** A datagram from the other side's endpoint `from`, addressed to `to`'s real endpoint. */
  #receive(to: Mirror, data: Buffer, from: { address: string; port: number }): void {
    if (this.#closed || !isLoopback(from.address)) return;
    const direction: Direction = to.side === "server" ? "toServer" : "toClient";
    const fromSide: Side = to.side === "server" ? "client" : "server";
    const key = `${fromSide} ${from.address}:${from.port}`;
    const send = (via: Mirror) => {
      if (!this.#closed) via.socket.send(data, to.real.port, to.real.address);
    };
    const ready = this.#ready.get(key);
    const deliver = ready
      ? () => send(ready)
      : () => {
          this.#mirror(fromSide, { address: from.address, port: from.port }).then(send, () => undefined);
        };
    this.#impair(direction, data, deliver);
  }

  #impair(direction: Direction, data: Buffer, deliver: () => void): void {
    const imp = this.#impairment[direction];
    const stats = this.stats[direction];
    const cls = classify(data);
    const applies = imp.only === undefined || imp.only.includes(cls);
    const random = this.#random[direction];
    let drop = applies && (imp.cut || (imp.loss > 0 && random() < imp.loss));
    // The bottleneck: this datagram leaves after those queued before it, or is dropped when the
    // queue is full.
    let queued = 0;
    const rate = imp.rateBps ?? 0;
    if (applies && !drop && rate > 0) {
      const now = performance.now();
      const start = Math.max(now, this.#busyUntil[direction]);
      if (start - now > (imp.queueMs ?? 200)) drop = true;
      else {
        this.#busyUntil[direction] = start + (data.length * 8 * 1000) / rate;
        queued = this.#busyUntil[direction] - now;
      }
    }
    const count = (c: Counts) => {
      if (drop) c.dropped++;
      else c.passed++;
    };
    count(stats);
    count(stats.byClass[cls]);
    if (cls === "rtp") {
      const pt = (data[1] ?? 0) & 0x7f;
      let c = stats.byPayloadType.get(pt);
      if (!c) {
        c = { passed: 0, dropped: 0 };
        stats.byPayloadType.set(pt, c);
      }
      count(c);
    }
    if (drop) return;
    const line = this.#lines[direction];
    if (!applies) {
      deliver();
      return;
    }
    const jitter = imp.jitterMs > 0 ? (this.#jitterRandom[direction]() * 2 - 1) * imp.jitterMs : 0;
    const delay = Math.max(0, imp.delayMs + jitter) + queued;
    if (delay === 0 && line.size === 0) deliver();
    else line.push(delay, !imp.reorder || queued > 0, deliver);
  }
}
