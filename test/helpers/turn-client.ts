/**
 * A minimal TURN client (RFC 5766 / RFC 8656, long-term credentials) over UDP, TCP or TLS: enough
 * to ask a real coturn for an allocation with given credentials and read its answer. Used to check
 * that coturn accepts the server's credentials and refuses wrong or expired ones, and that it
 * refuses permissions for peers outside its allowed-peer-ip list. It sends nothing to any peer.
 */
import { createHash, createHmac, randomBytes } from "node:crypto";
import { createSocket } from "node:dgram";
import { connect as netConnect, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";

const MAGIC = 0x2112a442;
const ATTR = {
  username: 0x0006,
  messageIntegrity: 0x0008,
  errorCode: 0x0009,
  lifetime: 0x000d,
  xorPeerAddress: 0x0012,
  realm: 0x0014,
  nonce: 0x0015,
  xorRelayedAddress: 0x0016,
  requestedTransport: 0x0019,
} as const;
const METHOD = { binding: 0x0001, allocate: 0x0003, refresh: 0x0004, createPermission: 0x0008 } as const;

export type TurnTransport = "udp" | "tcp" | "tls";

export interface StunMessage {
  readonly type: number;
  readonly transactionId: Buffer;
  readonly attrs: Map<number, Buffer>;
}

/** `class` of a response: success (0x0100 bits) or error (0x0110). */
const isError = (m: StunMessage) => (m.type & 0x0110) === 0x0110;

function encode(type: number, attrs: Array<[number, Buffer]>, key?: Buffer): Buffer {
  const body: Buffer[] = [];
  for (const [t, v] of attrs) {
    const h = Buffer.alloc(4);
    h.writeUInt16BE(t, 0);
    h.writeUInt16BE(v.length, 2);
    body.push(h, v, Buffer.alloc((4 - (v.length % 4)) % 4));
  }
  let payload = Buffer.concat(body);
  const header = Buffer.alloc(20);
  header.writeUInt16BE(type, 0);
  header.writeUInt32BE(MAGIC, 4);
  randomBytes(12).copy(header, 8);
  if (key) {
    // MESSAGE-INTEGRITY covers the header (with the length including the MI attribute) and what precedes it.
    header.writeUInt16BE(payload.length + 24, 2);
    const mac = createHmac("sha1", key)
      .update(Buffer.concat([header, payload]))
      .digest();
    const h = Buffer.alloc(4);
    h.writeUInt16BE(ATTR.messageIntegrity, 0);
    h.writeUInt16BE(20, 2);
    payload = Buffer.concat([payload, h, mac]);
  }
  header.writeUInt16BE(payload.length, 2);
  return Buffer.concat([header, payload]);
}

function decode(buf: Buffer): StunMessage {
  const length = buf.readUInt16BE(2);
  const attrs = new Map<number, Buffer>();
  let off = 20;
  while (off + 4 <= 20 + length) {
    const t = buf.readUInt16BE(off);
    const l = buf.readUInt16BE(off + 2);
    attrs.set(t, buf.subarray(off + 4, off + 4 + l));
    off += 4 + l + ((4 - (l % 4)) % 4);
  }
  return { type: buf.readUInt16BE(0), transactionId: buf.subarray(8, 20), attrs };
}

function xorAddress(v: Buffer): { address: string; port: number } {
  const port = v.readUInt16BE(2) ^ (MAGIC >>> 16);
  if (v[1] === 0x01) {
    const ip = (v.readUInt32BE(4) ^ MAGIC) >>> 0;
    return { address: [24, 16, 8, 0].map((s) => (ip >>> s) & 0xff).join("."), port };
  }
  return { address: "ipv6", port };
}

function xorPeer(address: string, port: number): Buffer {
  const v = Buffer.alloc(8);
  v[1] = 0x01;
  v.writeUInt16BE(port ^ (MAGIC >>> 16), 2);
  const ip = address.split(".").reduce((acc, o) => (acc << 8) + Number(o), 0) >>> 0;
  v.writeUInt32BE((ip ^ MAGIC) >>> 0, 4);
  return v;
}

/** One transport to the TURN server, request/response by transaction id. */
interface Channel {
  request(msg: Buffer, timeoutMs: number): Promise<StunMessage>;
  close(): void;
}

async function openChannel(transport: TurnTransport, host: string, port: number): Promise<Channel> {
  const pending = new Map<string, (m: StunMessage) => void>();
  const deliver = (buf: Buffer) => {
    if (buf.length < 20) return;
    const m = decode(buf);
    pending.get(m.transactionId.toString("hex"))?.(m);
  };
  let send: (b: Buffer) => void;
  let close: () => void;
  if (transport === "udp") {
    const socket = createSocket("udp4");
    socket.on("message", deliver);
    await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
    send = (b) => socket.send(b, port, host);
    close = () => socket.close();
  } else {
    const socket: Socket = await new Promise((resolve, reject) => {
      const s =
        transport === "tls"
          ? tlsConnect({ host, port, rejectUnauthorized: false }, () => resolve(s))
          : netConnect({ host, port }, () => resolve(s));
      s.once("error", reject);
    });
    socket.on("error", () => {});
    let buffered = Buffer.alloc(0);
    socket.on("data", (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      while (buffered.length >= 20) {
        const total = 20 + buffered.readUInt16BE(2);
        if (buffered.length < total) break;
        deliver(buffered.subarray(0, total));
        buffered = buffered.subarray(total);
      }
    });
    send = (b) => socket.write(b);
    close = () => socket.destroy();
  }
  return {
    request(msg, timeoutMs) {
      const id = msg.subarray(8, 20).toString("hex");
      return new Promise<StunMessage>((resolve, reject) => {
        // UDP: retransmit (RFC 5389 §7.2.1, shortened); stream transports deliver once.
        const resend = transport === "udp" ? setInterval(() => send(msg), 250) : undefined;
        const timer = setTimeout(() => {
          clearInterval(resend);
          pending.delete(id);
          reject(new Error(`no STUN answer over ${transport} within ${timeoutMs} ms`));
        }, timeoutMs);
        pending.set(id, (m) => {
          clearTimeout(timer);
          clearInterval(resend);
          pending.delete(id);
          resolve(m);
        });
        send(msg);
      });
    },
    close,
  };
}

export interface AllocateResult {
  /** 0 on success, else the STUN error code (401 unauthorized, 403 forbidden, 437, 438...). */
  readonly code: number;
  readonly reason: string;
  readonly relayed?: { address: string; port: number };
  /** CreatePermission results by peer address (only when the allocation succeeded). */
  readonly permissions: Record<string, number>;
}

function errorOf(m: StunMessage): { code: number; reason: string } {
  const v = m.attrs.get(ATTR.errorCode);
  if (!v) return { code: isError(m) ? 500 : 0, reason: "" };
  return { code: (v[2] ?? 0) * 100 + (v[3] ?? 0), reason: v.subarray(4).toString("utf8") };
}

/**
 * Allocate (UDP relay) with `username`/`password`, then ask for permissions towards `peers`
 * (no data is sent to them), then release the allocation. Resolves with coturn's answers.
 */
export async function tryAllocate(options: {
  transport: TurnTransport;
  host: string;
  port: number;
  username: string;
  password: string;
  peers?: readonly string[];
  timeoutMs?: number;
}): Promise<AllocateResult> {
  const timeoutMs = options.timeoutMs ?? 3000;
  const channel = await openChannel(options.transport, options.host, options.port);
  try {
    const transport = Buffer.from([17, 0, 0, 0]);
    const first = await channel.request(
      encode(METHOD.allocate, [[ATTR.requestedTransport, transport]]),
      timeoutMs,
    );
    const challenge = errorOf(first);
    if (challenge.code !== 401) return { ...challenge, permissions: {} };
    const realm = first.attrs.get(ATTR.realm) ?? Buffer.alloc(0);
    const nonce = first.attrs.get(ATTR.nonce) ?? Buffer.alloc(0);
    const key = createHash("md5")
      .update(`${options.username}:${realm.toString("utf8")}:${options.password}`)
      .digest();
    const auth: Array<[number, Buffer]> = [
      [ATTR.username, Buffer.from(options.username, "utf8")],
      [ATTR.realm, realm],
      [ATTR.nonce, nonce],
    ];
    const answer = await channel.request(
      encode(METHOD.allocate, [[ATTR.requestedTransport, transport], ...auth], key),
      timeoutMs,
    );
    const result = errorOf(answer);
    if (result.code !== 0) return { ...result, permissions: {} };
    const relayedAttr = answer.attrs.get(ATTR.xorRelayedAddress);
    const permissions: Record<string, number> = {};
    for (const peer of options.peers ?? []) {
      const m = await channel.request(
        encode(METHOD.createPermission, [[ATTR.xorPeerAddress, xorPeer(peer, 9)], ...auth], key),
        timeoutMs,
      );
      permissions[peer] = errorOf(m).code;
    }
    const zero = Buffer.alloc(4);
    await channel
      .request(encode(METHOD.refresh, [[ATTR.lifetime, zero], ...auth], key), timeoutMs)
      .catch(() => undefined);
    return {
      code: 0,
      reason: "",
      ...(relayedAttr ? { relayed: xorAddress(relayedAttr) } : {}),
      permissions,
    };
  } finally {
    channel.close();
  }
}

/** A STUN Binding request: resolves when the server answers (used as a readiness probe). */
export async function stunBinding(
  transport: TurnTransport,
  host: string,
  port: number,
  timeoutMs = 1000,
): Promise<void> {
  const channel = await openChannel(transport, host, port);
  try {
    await channel.request(encode(METHOD.binding, []), timeoutMs);
  } finally {
    channel.close();
  }
}
