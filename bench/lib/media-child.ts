/**
 * A process of werift peers for the media scenarios, driven by the runner over IPC:
 *  - "join":        signaling members (SigClient) that publish generated VP8+Opus through the server
 *                   and/or answer the server's listener offers, counting what arrives;
 *  - "bareSenders": the floor baseline, werift sender connections that get the same packets written
 *                   straight to their RTCRtpSenders, with no server logic in between;
 *  - "bareListen":  the answer side of those, counting what arrives.
 * Peers use the codecs and header extensions the server negotiates (src/media/codec-policy.ts):
 * Opus 111, VP8 96 + RTX 97 with NACK/PLI/FIR/REMB, MID only.
 */
import {
  MediaStreamTrack,
  type RTCIceCandidate,
  type RTCPeerConnection,
  type RTCRtpSender,
  type RtpPacket,
} from "werift";
import { installSrtpKeyCache } from "../../src/media/werift/srtp-key-cache.ts";
import { weriftPeerConnection } from "../../test/helpers/werift-config.ts";
import { type JanusCandidate, type JanusJsep, JanusSession } from "./janus-client.ts";
import { RtpGenerator } from "./rtp-gen.ts";
import { type Frame, SigClient } from "./sig-client.ts";

export interface MemberSpec {
  roomId: string;
  userId: string;
  publish: boolean;
  /** Bearer for the join; the userId itself when absent (a server in development mode). */
  bearer?: string;
  /** Set on the second attempt after a listener connection failed while connecting. */
  retried?: boolean;
}

export type MediaRequest =
  | { type: "join"; id: number; url: string; members: MemberSpec[]; bitrate: number }
  | { type: "lateJoin"; id: number; url: string; member: MemberSpec; bitrate: number }
  | { type: "janusPublish"; id: number; url: string; room: number; bitrate: number }
  | { type: "janusListen"; id: number; url: string; room: number; feed: number; count: number }
  | { type: "janusLateJoin"; id: number; url: string; room: number; feed: number }
  | { type: "bareSenders"; id: number; count: number; bitrate: number }
  | { type: "bareListen"; id: number; offers: string[] }
  | { type: "bareConnect"; id: number; answers: string[] }
  | { type: "start"; id: number }
  | { type: "stop"; id: number }
  | { type: "stats"; id: number }
  | { type: "close"; id: number };

export interface MediaStats {
  cpuUs: number;
  rss: number;
  videoSent: number;
  audioSent: number;
  /** RTP packets received by all listener connections of this process. */
  received: number;
  listenerPcs: number;
  /** Listener connections that received at least one video packet. */
  receivingPcs: number;
  /** Listener connections whose connectionState is "connected". */
  connectedPcs: number;
  /** Listener connections by connectionState (to say why a wait failed). */
  states: Record<string, number>;
  /** Members that joined again because a listener connection failed while connecting. */
  retries: number;
  errors: string[];
}

export type MediaReply =
  | { type: "reply"; id: number; ok: true; value?: unknown }
  | { type: "reply"; id: number; ok: false; error: string };

function peerConnection(): RTCPeerConnection {
  return weriftPeerConnection({
    // The peers scenario runs in a network namespace where Janus needs a non-loopback interface.
    address: process.env.BENCH_PEER_ADDRESS ?? "127.0.0.1",
    rtx: true,
    fir: true,
    opusFmtp: "minptime=10;useinbandfec=1",
    bundlePolicy: "max-bundle",
  });
}

async function gathered(pc: RTCPeerConnection): Promise<string> {
  if (pc.iceGatheringState !== "complete") {
    await new Promise<void>((resolve) => {
      const { unSubscribe } = pc.iceGatheringStateChange.subscribe((s) => {
        if (s === "complete") {
          unSubscribe();
          resolve();
        }
      });
    });
  }
  return pc.localDescription?.sdp ?? "";
}

// The peers use werift's SRTP the way the server does (src/media/werift/srtp-key-cache.ts), unless
// BENCH_STOCK_SRTP=1 (`npm run bench -- --stock-srtp`), so that the floor is measured like-for-like.
if (process.env.BENCH_STOCK_SRTP !== "1") {
  installSrtpKeyCache({
    warn: (o: unknown, m?: string) => console.error(`media child: ${m}`, o),
    debug: () => {},
  });
}

const errors: string[] = [];
const note = (err: unknown) => {
  if (errors.length < 20) errors.push(String((err as Error)?.message ?? err));
};

/** Listener connections of this process and what they received. */
let received = 0;
/** Members that joined again after a listener connection failed; set while the process closes. */
let retries = 0;
let closing = false;
interface Listener {
  pc: RTCPeerConnection;
  video: number;
  /** performance.now() of the first video packet, and of the connection's "connected" state. */
  firstVideoAt?: number;
  connectedAt?: number;
  /** When the server's offer arrived (the listener connection was created for it). */
  createdAt: number;
}
const listeners: Listener[] = [];
function newListener(): Listener {
  const l: Listener = { pc: peerConnection(), video: 0, createdAt: performance.now() };
  l.pc.connectionStateChange.subscribe((s) => {
    if (s === "connected") l.connectedAt ??= performance.now();
  });
  l.pc.onTrack.subscribe((track) => {
    const video = track.kind === "video";
    track.onReceiveRtp.subscribe(() => {
      received++;
      if (video) {
        l.video++;
        l.firstVideoAt ??= performance.now();
      }
    });
  });
  listeners.push(l);
  return l;
}

const generators: RtpGenerator[] = [];
const publishers: RTCPeerConnection[] = [];
const clients: SigClient[] = [];
const bareSenders: { pc: RTCPeerConnection; audio: RTCRtpSender; video: RTCRtpSender }[] = [];

type Candidate = { candidate: string; sdpMid?: string | null; sdpMLineIndex?: number | null };
const asIce = (c: Candidate) =>
  ({
    candidate: c.candidate,
    sdpMid: c.sdpMid ?? undefined,
    sdpMLineIndex: c.sdpMLineIndex ?? undefined,
  }) as RTCIceCandidate;

/** One signaling member: joins, publishes if asked, answers every listener offer it gets. */
async function joinMember(url: string, spec: MemberSpec, bitrate: number): Promise<void> {
  const client = await SigClient.connect(url, 30_000);
  clients.push(client);
  const remote = new Map<string, { pc: RTCPeerConnection; ready: boolean; early: Candidate[] }>();
  let publisher: RTCPeerConnection | undefined;
  let publisherReady = false;
  const early: Candidate[] = [];
  let answered: (() => void) | undefined;
  const answer = new Promise<void>((r) => {
    answered = r;
  });

  client.onEvent = (f: Frame) => {
    const d = f.d as {
      from?: { socketId?: string };
      sdp?: { type: string; sdp: string };
      candidate?: Candidate;
    };
    const from = d?.from?.socketId;
    if (!from) return;
    if (f.a === "eventExchangeSdp" && d.sdp) {
      if (from === "publisher") {
        publisher
          ?.setRemoteDescription(d.sdp as { type: "answer"; sdp: string })
          .then(async () => {
            publisherReady = true;
            for (const c of early.splice(0)) await publisher?.addIceCandidate(asIce(c));
            answered?.();
          })
          .catch(note);
        return;
      }
      if (d.sdp.type !== "offer") return;
      const previous = remote.get(from);
      if (previous) void previous.pc.close();
      const l = newListener();
      const entry = { pc: l.pc, ready: false, early: [] as Candidate[] };
      remote.set(from, entry);
      // A listener connection that fails while connecting (ICE/DTLS timeouts when 2 busy cores run
      // a hundred handshakes) is retried the way a client would: the member joins again (the server
      // replaces the old socket), once.
      if (!spec.publish && !spec.retried) {
        l.pc.connectionStateChange.subscribe((state) => {
          if (state !== "failed" || remote.get(from) !== entry || closing) return;
          retries++;
          client.close();
          joinMember(url, { ...spec, retried: true }, bitrate).catch(note);
        });
      }
      (async () => {
        await l.pc.setRemoteDescription(d.sdp as { type: "offer"; sdp: string });
        await l.pc.setLocalDescription(await l.pc.createAnswer());
        entry.ready = true;
        for (const c of entry.early.splice(0)) await l.pc.addIceCandidate(asIce(c));
        const r = await client.request(
          "exchangeSdp",
          { to: from, sdp: { type: "answer", sdp: l.pc.localDescription?.sdp ?? "" } },
          30_000,
        );
        if (!r.s) throw new Error(`listener answer refused: ${r.e}`);
      })().catch(note);
      return;
    }
    if (f.a === "eventExchangeCandidate" && d.candidate) {
      if (from === "publisher") {
        if (publisherReady) publisher?.addIceCandidate(asIce(d.candidate)).catch(note);
        else early.push(d.candidate);
        return;
      }
      const entry = remote.get(from);
      if (!entry) return;
      if (entry.ready) entry.pc.addIceCandidate(asIce(d.candidate)).catch(note);
      else entry.early.push(d.candidate);
    }
  };

  await client.join(spec.roomId, spec.bearer ?? spec.userId);
  if (!spec.publish) return;
  const pc = peerConnection();
  publisher = pc;
  publishers.push(pc);
  const audio = new MediaStreamTrack({ kind: "audio" });
  const video = new MediaStreamTrack({ kind: "video" });
  pc.addTransceiver(audio, { direction: "sendonly" });
  const vt = pc.addTransceiver(video, { direction: "sendonly" });
  const gen = new RtpGenerator(bitrate, (kind, packet) =>
    (kind === "audio" ? audio : video).writeRtp(packet),
  );
  vt.sender.onPictureLossIndication.subscribe(() => gen.requestKeyframe());
  generators.push(gen);
  await pc.setLocalDescription(await pc.createOffer());
  const r = await client.request(
    "exchangeSdp",
    { to: "publisher", sdp: { type: "offer", sdp: pc.localDescription?.sdp ?? "" } },
    30_000,
  );
  if (!r.s) throw new Error(`publish refused: ${r.e}`);
  await answer;
}

let janus: Promise<JanusSession> | undefined;
const janusCandidate = (c: JanusCandidate) =>
  ({
    candidate: c.candidate,
    sdpMid: c.sdpMid ?? undefined,
    sdpMLineIndex: c.sdpMLineIndex ?? undefined,
  }) as RTCIceCandidate;

/** Publishes the generated stream into a Janus VideoRoom (created if needed); returns the feed id. */
async function janusPublish(url: string, room: number, bitrate: number): Promise<number> {
  janus ??= JanusSession.connect(url);
  const s = await janus;
  const h = await s.attach();
  await h.request({
    request: "create",
    room,
    publishers: 4,
    bitrate: 0,
    fir_freq: 0,
    videocodec: "vp8",
    audiocodec: "opus",
    notify_joining: false,
  });
  const pc = peerConnection();
  publishers.push(pc);
  const audio = new MediaStreamTrack({ kind: "audio" });
  const video = new MediaStreamTrack({ kind: "video" });
  pc.addTransceiver(audio, { direction: "sendonly" });
  const vt = pc.addTransceiver(video, { direction: "sendonly" });
  const gen = new RtpGenerator(bitrate, (kind, packet) =>
    (kind === "audio" ? audio : video).writeRtp(packet),
  );
  vt.sender.onPictureLossIndication.subscribe(() => gen.requestKeyframe());
  generators.push(gen);
  h.onCandidate = (c) => {
    if (c.candidate) pc.addIceCandidate(janusCandidate(c)).catch(note);
  };
  await pc.setLocalDescription(await pc.createOffer());
  const offer: JanusJsep = { type: "offer", sdp: await gathered(pc) };
  const e = await h.message({ request: "joinandconfigure", room, ptype: "publisher", display: "pub" }, offer);
  if (!e.jsep) throw new Error(`janus publish: no answer (${JSON.stringify(e.data)})`);
  await pc.setRemoteDescription(e.jsep as { type: "answer"; sdp: string });
  await h.trickle({ completed: true });
  // Janus accepts subscribers to a feed once the publisher's PeerConnection is up.
  await Promise.race([
    h.webrtcUp,
    new Promise((_, reject) => setTimeout(() => reject(new Error("janus publisher: no webrtcup")), 20_000)),
  ]);
  return Number(e.data.id);
}

/** One Janus subscriber of `feed`, answered by a werift listener of this process. */
async function janusSubscribe(url: string, room: number, feed: number): Promise<void> {
  janus ??= JanusSession.connect(url);
  const s = await janus;
  const h = await s.attach();
  const l = newListener();
  let ready = false;
  const early: JanusCandidate[] = [];
  h.onCandidate = (c) => {
    if (!c.candidate) return;
    if (ready) l.pc.addIceCandidate(janusCandidate(c)).catch(note);
    else early.push(c);
  };
  const e = await h.message({ request: "join", room, ptype: "subscriber", streams: [{ feed }] });
  if (!e.jsep) throw new Error(`janus subscribe: no offer (${JSON.stringify(e.data)})`);
  await l.pc.setRemoteDescription(e.jsep as { type: "offer"; sdp: string });
  await l.pc.setLocalDescription(await l.pc.createAnswer());
  ready = true;
  for (const c of early.splice(0)) await l.pc.addIceCandidate(janusCandidate(c));
  await h.message({ request: "start", room }, { type: "answer", sdp: await gathered(l.pc) });
  await h.trickle({ completed: true });
}

/** Time from `join` to the first video packet of the listener it creates (and from its "connected"). */
async function timeFirstVideo(join: () => Promise<void>) {
  const first = listeners.length;
  const t0 = performance.now();
  await join();
  const deadline = t0 + 15_000;
  let l = listeners[first];
  while (performance.now() < deadline && (l === undefined || l.firstVideoAt === undefined)) {
    await new Promise((r) => setTimeout(r, 5));
    l = listeners[first];
  }
  if (l?.firstVideoAt === undefined) throw new Error("late listener got no video within 15 s");
  return {
    joinToFirstVideoMs: l.firstVideoAt - t0,
    connectedToFirstVideoMs: l.firstVideoAt - (l.connectedAt ?? t0),
    joinToOfferMs: l.createdAt - t0,
    offerToConnectedMs: (l.connectedAt ?? l.createdAt) - l.createdAt,
  };
}

async function handle(m: MediaRequest): Promise<unknown> {
  switch (m.type) {
    case "join": {
      // A few at a time: each publish is an ICE + DTLS handshake on both sides.
      const queue = [...m.members];
      const worker = async () => {
        for (let s = queue.shift(); s; s = queue.shift()) await joinMember(m.url, s, m.bitrate);
      };
      await Promise.all(Array.from({ length: Math.min(8, queue.length) }, worker));
      return undefined;
    }
    case "lateJoin":
      // One member joining while the publisher streams: join request to its first video packet, and
      // its listener connection's "connected" to that packet (the keyframe wait).
      return timeFirstVideo(() => joinMember(m.url, m.member, m.bitrate));
    case "janusPublish":
      return janusPublish(m.url, m.room, m.bitrate);
    case "janusListen": {
      const queue = Array.from({ length: m.count }, (_, i) => i);
      const worker = async () => {
        while (queue.shift() !== undefined) await janusSubscribe(m.url, m.room, m.feed);
      };
      await Promise.all(Array.from({ length: Math.min(8, m.count) }, worker));
      return undefined;
    }
    case "janusLateJoin":
      return timeFirstVideo(() => janusSubscribe(m.url, m.room, m.feed));
    case "bareSenders": {
      const offers: string[] = [];
      for (let i = 0; i < m.count; i++) {
        const pc = peerConnection();
        const audio = pc.addTransceiver("audio", { direction: "sendonly" }).sender;
        const video = pc.addTransceiver("video", { direction: "sendonly" }).sender;
        bareSenders.push({ pc, audio, video });
        await pc.setLocalDescription(await pc.createOffer());
        offers.push(await gathered(pc));
      }
      const gen = new RtpGenerator(m.bitrate, (kind, packet: RtpPacket) => {
        // The floor: the same packets handed to werift's senders directly (werift clones them).
        for (const s of bareSenders) (kind === "audio" ? s.audio : s.video).sendRtp(packet).catch(note);
      });
      for (const s of bareSenders) s.video.onPictureLossIndication.subscribe(() => gen.requestKeyframe());
      generators.push(gen);
      return offers;
    }
    case "bareListen": {
      const answers: string[] = [];
      for (const offer of m.offers) {
        const l = newListener();
        await l.pc.setRemoteDescription({ type: "offer", sdp: offer });
        await l.pc.setLocalDescription(await l.pc.createAnswer());
        answers.push(await gathered(l.pc));
      }
      return answers;
    }
    case "bareConnect": {
      await Promise.all(
        m.answers.map((sdp, i) => bareSenders[i]?.pc.setRemoteDescription({ type: "answer", sdp })),
      );
      return undefined;
    }
    case "start":
      for (const g of generators) g.start();
      return undefined;
    case "stop":
      for (const g of generators) g.stop();
      return undefined;
    case "stats": {
      const cpu = process.cpuUsage();
      const stats: MediaStats = {
        cpuUs: cpu.user + cpu.system,
        rss: process.memoryUsage().rss,
        videoSent: generators.reduce((a, g) => a + g.videoSent, 0),
        audioSent: generators.reduce((a, g) => a + g.audioSent, 0),
        received,
        listenerPcs: listeners.length,
        receivingPcs: listeners.filter((l) => l.video > 0).length,
        connectedPcs: listeners.filter((l) => l.pc.connectionState === "connected").length,
        retries,
        states: listeners.reduce<Record<string, number>>((acc, l) => {
          acc[l.pc.connectionState] = (acc[l.pc.connectionState] ?? 0) + 1;
          return acc;
        }, {}),
        errors: errors.splice(0),
      };
      return stats;
    }
    case "close": {
      closing = true;
      for (const g of generators) g.stop();
      for (const c of clients) c.close();
      if (janus) (await janus.catch(() => undefined))?.close();
      await Promise.race([
        Promise.allSettled([
          ...publishers.map((pc) => pc.close()),
          ...listeners.map((l) => l.pc.close()),
          ...bareSenders.map((s) => s.pc.close()),
        ]),
        new Promise((r) => setTimeout(r, 3000)),
      ]);
      setTimeout(() => process.exit(0), 10);
      return undefined;
    }
  }
}

process.on("message", (m: MediaRequest) => {
  handle(m).then(
    (value) => process.send?.({ type: "reply", id: m.id, ok: true, value } satisfies MediaReply),
    (err: unknown) =>
      process.send?.({
        type: "reply",
        id: m.id,
        ok: false,
        error: String((err as Error)?.stack ?? err),
      } satisfies MediaReply),
  );
});
process.on("disconnect", () => process.exit(0));
process.send?.({ type: "ready" });
