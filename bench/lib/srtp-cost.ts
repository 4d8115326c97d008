import { createCipheriv, createHmac, createSecretKey, type KeyObject, randomBytes } from "node:crypto";

export interface SrtpCost {
  /** AES-128-CM + HMAC-SHA1-80 (RFC 3711), keys passed as Buffers (as werift does). */
  cm: number;
  /** AEAD AES-128-GCM (RFC 7714, what two werift peers negotiate), key passed as a Buffer. */
  gcm: number;
  /** The same two with keys made into KeyObjects once (createSecretKey) and reused. */
  cmKeyObject: number;
  gcmKeyObject: number;
}

/**
 * Baseline (b) of scenario 3: the raw cost of SRTP-protecting one packet with node:crypto the way a
 * straightforward implementation does it (a new cipher, and for CM a new HMAC, per packet).
 * Returns CPU microseconds per packet for the given mix of payload sizes. On Node 24 a Buffer key
 * costs ~10 us more per cipher/HMAC than a reused KeyObject (key import per call); on Node 20
 * both cost the same, so both variants are measured.
 */
export function srtpProtectCostUs(payloadSizes: readonly number[], packets = 20_000): SrtpCost {
  const key = randomBytes(16);
  const salt = randomBytes(14);
  const authKey = randomBytes(20);
  const gcmSalt = randomBytes(12);
  const keyObject = createSecretKey(key);
  const authKeyObject = createSecretKey(authKey);
  const header = Buffer.alloc(20, 0); // 12-byte RTP header + a one-byte-header extension carrying MID
  header[0] = 0x90;
  const payloads = payloadSizes.map((n) => randomBytes(n));
  const roc = Buffer.alloc(4);
  let sink = 0;

  const cm = (k: Buffer | KeyObject, ak: Buffer | KeyObject) => (seq: number, payload: Buffer) => {
    const iv = Buffer.alloc(16);
    salt.copy(iv, 0);
    iv.writeUInt32BE((iv.readUInt32BE(4) ^ 0x12345678) >>> 0, 4); // ^ SSRC
    iv.writeUInt16BE(iv.readUInt16BE(12) ^ seq, 12); // ^ index
    const c = createCipheriv("aes-128-ctr", k, iv);
    const enc = c.update(payload);
    const tag = createHmac("sha1", ak).update(header).update(enc).update(roc).digest();
    sink += Buffer.concat([header, enc, tag.subarray(0, 10)]).length;
  };
  const gcm = (k: Buffer | KeyObject) => (seq: number, payload: Buffer) => {
    const iv = Buffer.from(gcmSalt);
    iv.writeUInt16BE(iv.readUInt16BE(10) ^ seq, 10);
    const c = createCipheriv("aes-128-gcm", k, iv);
    c.setAAD(header);
    const enc = Buffer.concat([c.update(payload), c.final()]);
    sink += Buffer.concat([header, enc, c.getAuthTag()]).length;
  };

  const measure = (fn: (seq: number, p: Buffer) => void) => {
    for (let i = 0; i < Math.min(2000, packets); i++) fn(i, payloads[i % payloads.length] as Buffer); // warm-up
    const c0 = process.cpuUsage();
    for (let i = 0; i < packets; i++) fn(i & 0xffff, payloads[i % payloads.length] as Buffer);
    const c = process.cpuUsage(c0);
    return (c.user + c.system) / packets;
  };
  const result = {
    cm: measure(cm(key, authKey)),
    gcm: measure(gcm(key)),
    cmKeyObject: measure(cm(keyObject, authKeyObject)),
    gcmKeyObject: measure(gcm(keyObject)),
  };
  if (sink < 0) console.log(sink);
  return result;
}

/**
 * Floor (c) of scenario 3: the cheapest forwarding path Node itself allows per outgoing packet,
 * AES-128-GCM protect with a KeyObject (a new cipher per packet, the only way node:crypto does GCM
 * with a fresh IV) into one datagram, and one `dgram` send of it to a loopback socket. The receiver
 * runs in a worker thread; the figure is this thread's CPU (loopback delivery is charged to the
 * sender), sent in batches of 50 with a turn of the event loop between, as a server would.
 */
export async function nodeForwardFloorUs(payloadSizes: readonly number[], packets = 20_000): Promise<number> {
  const { createSocket } = await import("node:dgram");
  const { Worker } = await import("node:worker_threads");
  const receiver = new Worker(
    `const s = require("node:dgram").createSocket("udp4");
     const { parentPort } = require("node:worker_threads");
     s.on("message", () => {});
     s.bind(0, "127.0.0.1", () => parentPort.postMessage(s.address().port));
     parentPort.on("message", () => s.close(() => parentPort.close()));`,
    { eval: true },
  );
  const port = await new Promise<number>((r) => receiver.once("message", r));
  const socket = createSocket("udp4");
  await new Promise<void>((r) => socket.bind(0, "127.0.0.1", () => r()));
  const key = createSecretKey(randomBytes(16));
  const salt = randomBytes(12);
  const iv = Buffer.alloc(12);
  const header = Buffer.alloc(20, 0);
  header[0] = 0x90;
  const payloads = payloadSizes.map((n) => randomBytes(n));
  const send = (seq: number) => {
    const payload = payloads[seq % payloads.length] as Buffer;
    salt.copy(iv);
    iv.writeUInt16BE(iv.readUInt16BE(10) ^ (seq & 0xffff), 10);
    const c = createCipheriv("aes-128-gcm", key, iv);
    c.setAAD(header);
    const enc = c.update(payload);
    c.final();
    const out = Buffer.allocUnsafe(header.length + enc.length + 16);
    header.copy(out);
    enc.copy(out, header.length);
    c.getAuthTag().copy(out, header.length + enc.length);
    socket.send(out, port, "127.0.0.1");
  };
  const turn = () => new Promise<void>((r) => setImmediate(r));
  const run = async (n: number) => {
    for (let i = 0; i < n; i++) {
      send(i);
      if (i % 50 === 49) await turn();
    }
    await new Promise<void>((r) => socket.send(Buffer.alloc(1), port, "127.0.0.1", () => r()));
  };
  await run(Math.min(2000, packets)); // warm-up
  const c0 = process.threadCpuUsage();
  await run(packets);
  const c = process.threadCpuUsage(c0);
  socket.close();
  receiver.postMessage("close");
  await new Promise((r) => receiver.once("exit", r));
  return (c.user + c.system) / packets;
}
