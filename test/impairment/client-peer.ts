/**
 * The user's side of an impairment test, run inside the client namespace: two room members over
 * WebSocket, "pub" publishing synthetic VP8 (25 fps) + Opus through a werift peer connection and
 * "sub" receiving pub's media from the MCU. Prints one JSON line per event and a status line every
 * 200 ms on stdout; takes commands as JSON lines on stdin:
 *   {"cmd":"ping"}       pub -> sub sendMessage, reported as {"event":"pong"} with its latency
 *   {"cmd":"ws-drop"}    both WebSockets terminated (the network is gone)
 *   {"cmd":"reconnect"}  new WebSockets, `reconnect {socketId, bearer}` for both members
 * Env: SERVER_URL, CLIENT_IP, ROOM.
 */
import { createInterface } from "node:readline";
import { MediaStreamTrack, type RTCPeerConnection, RtpHeader, RtpPacket } from "werift";
import WebSocket from "ws";
import { weriftPeerConnection } from "../helpers/werift-config.ts";

const url = process.env.SERVER_URL ?? "ws://127.0.0.1:8080/api";
const clientIp = process.env.CLIENT_IP ?? "127.0.0.1";
const room = process.env.ROOM ?? "impair";
const t0 = performance.now();
const now = () => Math.round(performance.now() - t0);
const emit = (o: Record<string, unknown>) => process.stdout.write(`${JSON.stringify({ t: now(), ...o })}\n`);

/** Peers on CLIENT_IP (the client namespace's address), VP8 without RTX, werift's bundle policy. */
function peer(): RTCPeerConnection {
  return weriftPeerConnection({ address: clientIp, rtx: false });
}

type Msg = { a: string; s?: boolean; e?: number; d?: Record<string, unknown> };

class Member {
  readonly name: string;
  ws!: WebSocket;
  socketId = "";
  private readonly onMessage: (m: Msg) => void;
  private readonly waiting = new Map<string, (m: Msg) => void>();

  constructor(name: string, onMessage: (m: Msg) => void) {
    this.name = name;
    this.onMessage = onMessage;
  }

  async open(): Promise<void> {
    const ws = new WebSocket(url);
    this.ws = ws;
    ws.on("message", (data) => {
      const m = JSON.parse(String(data)) as Msg;
      const w = this.waiting.get(m.a);
      if (w) {
        this.waiting.delete(m.a);
        w(m);
      }
      if (m.a === "eventLeave") emit({ event: "leave-seen", member: this.name, who: m.d?.socketId });
      this.onMessage(m);
    });
    ws.on("close", (code) => emit({ event: "ws-closed", member: this.name, code }));
    ws.on("error", () => {});
    await new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("error", reject);
    });
  }

  request(a: string, d: unknown): Promise<Msg> {
    return new Promise((resolve) => {
      this.waiting.set(`${a}R`, resolve);
      this.send(a, d);
    });
  }

  send(a: string, d: unknown): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify({ a, d }));
  }
}

// ---- publisher ----
const pubPc = peer();
const audio = new MediaStreamTrack({ kind: "audio" });
const video = new MediaStreamTrack({ kind: "video" });
pubPc.addTransceiver(audio, { direction: "sendonly" });
const vt = pubPc.addTransceiver(video, { direction: "sendonly" });
let plis = 0;
let keyframeWanted = true;
vt.sender.onPictureLossIndication.subscribe(() => {
  plis++;
  keyframeWanted = true;
});
let framesSent = 0;
let packetsSent = 0;
let vSeq = 1000;
let vTs = 0;
let aSeq = 1000;
let aTs = 0;
let sending: NodeJS.Timeout | undefined;
function startSending(): void {
  if (sending) return;
  let tick = 0;
  sending = setInterval(() => {
    tick++;
    audio.writeRtp(
      new RtpPacket(
        new RtpHeader({ payloadType: 111, sequenceNumber: aSeq, timestamp: aTs, marker: true }),
        Buffer.alloc(60, 0xab),
      ),
    );
    aSeq = (aSeq + 1) & 0xffff;
    aTs = (aTs + 960) >>> 0;
    if (tick % 2) return;
    const key = keyframeWanted || framesSent % 250 === 0;
    keyframeWanted = false;
    for (let i = 0; i < 3; i++) {
      const payload = Buffer.alloc(900, 0x55);
      payload[0] = i === 0 ? 0x10 : 0x00;
      if (i === 0) payload[1] = key ? 0x00 : 0x01;
      video.writeRtp(
        new RtpPacket(
          new RtpHeader({ payloadType: 96, sequenceNumber: vSeq, timestamp: vTs, marker: i === 2 }),
          payload,
        ),
      );
      vSeq = (vSeq + 1) & 0xffff;
      packetsSent++;
    }
    vTs = (vTs + 3600) >>> 0;
    framesSent++;
  }, 20);
}

// ---- listener (sub) ----
let subPc: RTCPeerConnection | undefined;
const seqs = new Set<number>();
const frames = new Map<number, number>(); // timestamp -> packets received
let firstFrameAt: number | undefined;
let lastVideoAt: number | undefined;
let keyframesRecv = 0;
function listen(pc: RTCPeerConnection): void {
  pc.onTrack.subscribe((track) => {
    if (track.kind !== "video") return;
    track.onReceiveRtp.subscribe((p) => {
      const t = now();
      lastVideoAt = t;
      seqs.add(p.header.sequenceNumber);
      const n = (frames.get(p.header.timestamp) ?? 0) + 1;
      frames.set(p.header.timestamp, n);
      if (n === 3 && firstFrameAt === undefined) {
        firstFrameAt = t;
        emit({ event: "first-frame", ms: t });
      }
      if (p.payload[0] === 0x10 && p.payload[1] === 0x00) keyframesRecv++;
    });
  });
}

const members: { pub?: Member; sub?: Member } = {};
let pingSentAt = 0;

async function onSignal(self: Member, m: Msg): Promise<void> {
  const d = m.d ?? {};
  const from = (d.from as { socketId?: string } | undefined)?.socketId;
  if (m.a === "eventWebrtcUp") emit({ event: "webrtc-up", member: self.name, from });
  if (m.a === "eventMessage" && self.name === "sub") emit({ event: "pong", ms: now() - pingSentAt });
  if (m.a === "eventExchangeSdp") {
    const sdp = d.sdp as { type: "offer" | "answer"; sdp: string };
    if (self.name === "pub" && from === "publisher") await pubPc.setRemoteDescription(sdp);
    if (self.name === "sub" && from && from !== "publisher" && sdp.type === "offer") {
      await subPc?.close();
      subPc = peer();
      listen(subPc);
      const target = from;
      subPc.onIceCandidate.subscribe((c) => {
        if (c) self.send("exchangeCandidate", { to: target, candidate: c.toJSON() });
      });
      await subPc.setRemoteDescription(sdp);
      await subPc.setLocalDescription(await subPc.createAnswer());
      self.send("exchangeSdp", { to: target, sdp: { type: "answer", sdp: subPc.localDescription?.sdp } });
    }
  }
  if (m.a === "eventExchangeCandidate") {
    const c = d.candidate as { candidate: string; sdpMid?: string; sdpMLineIndex?: number };
    const pc = self.name === "pub" ? pubPc : subPc;
    await pc
      ?.addIceCandidate({ candidate: c.candidate, sdpMid: c.sdpMid, sdpMLineIndex: c.sdpMLineIndex })
      .catch(() => {});
  }
}

function member(name: "pub" | "sub"): Member {
  const m: Member = new Member(name, (msg) => {
    onSignal(m, msg).catch((err: unknown) => emit({ event: "error", member: name, error: String(err) }));
  });
  return m;
}

async function main(): Promise<void> {
  const pub = member("pub");
  const sub = member("sub");
  members.pub = pub;
  members.sub = sub;
  for (const mb of [sub, pub]) {
    const started = now();
    await mb.open();
    const r = await mb.request("join", {
      roomId: room,
      bearer: `${mb.name}-user`,
      platform: "Web",
      orientation: 0,
      camera: "front",
      capabilities: ["reoffer"],
    });
    mb.socketId = String(r.d?.socketId ?? "");
    emit({ event: "joined", member: mb.name, ok: r.s === true, e: r.e, ms: now() - started });
  }
  pubPc.onIceCandidate.subscribe((c) => {
    if (c) pub.send("exchangeCandidate", { to: "publisher", candidate: c.toJSON() });
  });
  pubPc.connectionStateChange.subscribe((s) => {
    emit({ event: "pub-state", state: s });
    if (s === "connected") startSending();
  });
  await pubPc.setLocalDescription(await pubPc.createOffer());
  const started = now();
  const r = await pub.request("exchangeSdp", {
    to: "publisher",
    sdp: { type: "offer", sdp: pubPc.localDescription?.sdp },
  });
  emit({ event: "published", ok: r.s === true, e: r.e, ms: now() - started });
  setInterval(() => {
    emit({
      event: "status",
      framesSent,
      packetsSent,
      plis,
      uniquePackets: seqs.size,
      framesComplete: [...frames.values()].filter((n) => n >= 3).length,
      keyframesRecv,
      lastVideoAt,
      firstFrameAt,
    });
  }, 200);
}

createInterface({ input: process.stdin }).on("line", (line) => {
  const { cmd } = JSON.parse(line) as { cmd: string };
  const { pub, sub } = members;
  if (!pub || !sub) return;
  if (cmd === "ping") {
    pingSentAt = now();
    pub.send("sendMessage", { to: sub.socketId, message: "ping" });
  } else if (cmd === "ws-drop") {
    pub.ws.terminate();
    sub.ws.terminate();
  } else if (cmd === "reconnect") {
    void (async () => {
      for (const mb of [pub, sub]) {
        const started = now();
        try {
          await mb.open();
          const r = await mb.request("reconnect", { socketId: mb.socketId, bearer: `${mb.name}-user` });
          emit({ event: "reconnected", member: mb.name, ok: r.s === true, e: r.e, ms: now() - started });
        } catch (err) {
          emit({ event: "reconnected", member: mb.name, ok: false, error: String(err) });
        }
      }
    })();
  } else if (cmd === "exit") process.exit(0);
});

main().catch((err: unknown) => {
  emit({ event: "fatal", error: String((err as Error)?.stack ?? err) });
  process.exit(1);
});
