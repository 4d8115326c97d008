/**
 * Node-side werift peers that play the browser's part against a MediaPort: a publisher that sends
 * synthetic VP8 + Opus, listeners that answer the server's offers and record what arrives, and a
 * shuttle that carries MediaEvents to them and their answers/candidates back, on 127.0.0.1 only.
 */
import { MediaStreamTrack, type RTCPeerConnection as PeerConnection, RtpHeader, RtpPacket } from "werift";
import type { MediaEvent, MediaPort } from "../../src/media/media-port.ts";
import { weriftPeerConnection } from "./werift-config.ts";

/** The peers of the tests: 127.0.0.1, VP8 with RTX, one bundled transport. */
export function newTestPeerConnection(): PeerConnection {
  return weriftPeerConnection({ address: "127.0.0.1", rtx: true, bundlePolicy: "max-bundle" });
}

export interface Received {
  seq: number;
  ts: number;
  ssrc: number;
  marker: boolean;
  size: number;
}

/** A werift publisher with one audio and one video track fed with synthetic packets. */
export class TestPublisher {
  readonly pc = newTestPeerConnection();
  readonly audio = new MediaStreamTrack({ kind: "audio" });
  readonly video = new MediaStreamTrack({ kind: "video" });
  plis = 0;
  rembs: number[] = [];
  #timer: NodeJS.Timeout | undefined;
  #vSeq = Math.floor(Math.random() * 60000);
  #aSeq = Math.floor(Math.random() * 60000);
  #vTs = Math.floor(Math.random() * 2 ** 31);
  #aTs = Math.floor(Math.random() * 2 ** 31);
  #keyframeWanted = true;
  framesSent = 0;
  videoPacketsSent = 0;

  constructor(options: { video?: boolean } = {}) {
    this.pc.addTransceiver(this.audio, { direction: "sendonly" });
    if (options.video ?? true) {
      const t = this.pc.addTransceiver(this.video, { direction: "sendonly" });
      t.sender.onPictureLossIndication.subscribe(() => {
        this.plis++;
        this.#keyframeWanted = true;
      });
      t.sender.onRtcp.subscribe((p) => {
        const f = (p as { feedback?: { bitrate?: bigint } }).feedback;
        if (p.type === 206 && typeof f?.bitrate === "bigint") this.rembs.push(Number(f.bitrate));
      });
    }
  }

  async offer(): Promise<{ type: "offer"; sdp: string }> {
    await this.pc.setLocalDescription(await this.pc.createOffer());
    return { type: "offer", sdp: this.pc.localDescription?.sdp ?? "" };
  }

  /** Sends 30 fps video (packetsPerFrame packets of ~1000 bytes) and 50 pps audio until stop(). */
  start(packetsPerFrame = 2): void {
    let tick = 0;
    this.#timer = setInterval(() => {
      tick++;
      this.#sendAudio();
      if (tick % 2 === 0) this.#sendVideoFrame(packetsPerFrame); // 20 ms tick: ~25 fps video
    }, 20);
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** A synthetic frame burst, for fixed-size benchmark runs. */
  sendFrames(frames: number, packetsPerFrame: number): void {
    for (let i = 0; i < frames; i++) this.#sendVideoFrame(packetsPerFrame);
  }

  async close(): Promise<void> {
    this.stop();
    await this.pc.close();
  }

  #sendAudio(): void {
    const payload = Buffer.alloc(60, 0xab);
    this.audio.writeRtp(
      new RtpPacket(
        new RtpHeader({ payloadType: 111, sequenceNumber: this.#aSeq, timestamp: this.#aTs, marker: true }),
        payload,
      ),
    );
    this.#aSeq = (this.#aSeq + 1) & 0xffff;
    this.#aTs = (this.#aTs + 960) >>> 0;
  }

  #sendVideoFrame(packetsPerFrame: number): void {
    const key = this.#keyframeWanted || this.framesSent % 100 === 0;
    this.#keyframeWanted = false;
    for (let i = 0; i < packetsPerFrame; i++) {
      const payload = Buffer.alloc(1000, 0x55);
      payload[0] = i === 0 ? 0x10 : 0x00; // VP8 descriptor: S bit on the first packet
      if (i === 0) payload[1] = key ? 0x00 : 0x01; // VP8 header: P bit clear on keyframes
      const header = new RtpHeader({
        payloadType: 96,
        sequenceNumber: this.#vSeq,
        timestamp: this.#vTs,
        marker: i === packetsPerFrame - 1,
      });
      this.video.writeRtp(new RtpPacket(header, payload));
      this.#vSeq = (this.#vSeq + 1) & 0xffff;
      this.videoPacketsSent++;
    }
    this.#vTs = (this.#vTs + 3600) >>> 0;
    this.framesSent++;
  }
}

/** One werift listener connection (the answer side of a server offer) and what it received. */
export class TestListener {
  readonly pc = newTestPeerConnection();
  readonly audio: Received[] = [];
  readonly video: Received[] = [];
  /** Drops each video sequence number in this set once, before werift's receiver (simulated loss). */
  readonly dropOnce = new Set<number>();
  dropped = 0;

  constructor() {
    this.pc.onTrack.subscribe((track) => {
      const into = track.kind === "audio" ? this.audio : this.video;
      track.onReceiveRtp.subscribe((p) => {
        into.push({
          seq: p.header.sequenceNumber,
          ts: p.header.timestamp,
          ssrc: p.header.ssrc,
          marker: p.header.marker,
          size: p.payload.length,
        });
      });
    });
  }

  /** Installs the loss filter on the video receiver (call after the offer is applied). */
  installLoss(shouldDrop: (seq: number) => boolean): void {
    for (const t of this.pc.getTransceivers()) {
      if (t.kind !== "video") continue;
      const receiver = t.receiver;
      const original = receiver.handleRtpBySsrc;
      const seen = new Set<number>();
      receiver.handleRtpBySsrc = (packet, extensions) => {
        const seq = packet.header.sequenceNumber;
        if (packet.header.payloadType === 96 && !seen.has(seq) && shouldDrop(seq)) {
          seen.add(seq);
          this.dropped++;
          return;
        }
        seen.add(seq);
        original(packet, extensions);
      };
    }
  }

  async answer(offer: { type: "offer"; sdp: string }): Promise<{ type: "answer"; sdp: string }> {
    await this.pc.setRemoteDescription(offer);
    await this.pc.setLocalDescription(await this.pc.createAnswer());
    return { type: "answer", sdp: this.pc.localDescription?.sdp ?? "" };
  }
}

/** A room member on the client side: its publisher (if any) and one listener per remote publisher. */
export class TestMember {
  readonly roomId: string;
  readonly socketId: string;
  publisher: TestPublisher | undefined;
  readonly listeners = new Map<string, TestListener>();
  readonly ups = new Set<string>();
  /** Connections the server said it lost (webrtcDown), in order. */
  readonly downs: string[] = [];
  readonly offersFrom: string[] = [];
  readonly errors: unknown[] = [];

  constructor(roomId: string, socketId: string) {
    this.roomId = roomId;
    this.socketId = socketId;
  }

  async close(): Promise<void> {
    await this.publisher?.close();
    await Promise.all([...this.listeners.values()].map((l) => l.pc.close()));
  }
}

/**
 * Routes MediaEvents to the test members' peers, and their answers back to the port.
 * Returns a disposer. `onListener` lets a test tamper with a listener before it answers.
 */
export function shuttle(
  port: MediaPort,
  members: Map<string, TestMember>,
  onListener?: (m: TestMember, from: string, l: TestListener) => void,
): () => void {
  return port.onEvent((event: MediaEvent) => {
    if (event.type === "freeze") return;
    const member = members.get(event.to);
    if (!member) return;
    void handle(port, member, event, onListener).catch((err: unknown) => member.errors.push(err));
  });
}

async function handle(
  port: MediaPort,
  member: TestMember,
  event: Exclude<MediaEvent, { type: "freeze" }>,
  onListener?: (m: TestMember, from: string, l: TestListener) => void,
): Promise<void> {
  if (event.type === "webrtcUp") {
    member.ups.add(event.from);
    return;
  }
  if (event.type === "webrtcDown") {
    member.ups.delete(event.from);
    member.downs.push(event.from);
    return;
  }
  if (event.from === "publisher") {
    const pc = member.publisher?.pc;
    if (!pc) return;
    if (event.type === "sdp") await pc.setRemoteDescription(event.sdp as { type: "answer"; sdp: string });
    else
      await pc.addIceCandidate({
        candidate: event.candidate.candidate,
        sdpMid: event.candidate.sdpMid ?? undefined,
        sdpMLineIndex: event.candidate.sdpMLineIndex ?? undefined,
      });
    return;
  }
  if (event.type === "sdp") {
    member.offersFrom.push(event.from);
    const previous = member.listeners.get(event.from);
    let listener = previous;
    if (!listener || event.sdp.type === "offer") {
      listener = new TestListener();
      member.listeners.set(event.from, listener);
      if (previous) void previous.pc.close();
    }
    const answer = await listener.answer(event.sdp as { type: "offer"; sdp: string });
    onListener?.(member, event.from, listener);
    await port.signal(member.roomId, member.socketId, event.from, answer);
    return;
  }
  const listener = member.listeners.get(event.from);
  await listener?.pc.addIceCandidate({
    candidate: event.candidate.candidate,
    sdpMid: event.candidate.sdpMid ?? undefined,
    sdpMLineIndex: event.candidate.sdpMLineIndex ?? undefined,
  });
}

/** Waits until `condition` holds, polling; the error says what was awaited and the last state. */
export async function waitFor(
  reason: string,
  condition: () => boolean,
  timeoutMs = 10_000,
  describe?: () => string,
): Promise<void> {
  const start = Date.now();
  while (!condition()) {
    if (Date.now() - start > timeoutMs) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${reason}${describe ? `: ${describe()}` : ""}`,
      );
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}
