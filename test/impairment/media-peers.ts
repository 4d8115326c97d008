/**
 * The client side of the media impairment scenarios: a werift publisher whose synthetic VP8
 * packets say which frame and which packet of it they are, and a viewer that models what a user
 * sees: a frame is shown when all its packets arrived and it can be decoded (a keyframe, or the
 * next frame after the last shown one). Like a browser, the viewer asks for a keyframe (PLI) when
 * its decoding has been stuck on a missing frame for `pliAfterMs` while later frames arrive, and
 * every `pliIntervalMs` after that until a keyframe repairs it.
 *
 * Unlike test/helpers/werift-peers.ts the publisher sends no periodic keyframes (browsers do not):
 * after a loss that NACK cannot repair, only a PLI brings the picture back.
 */
import { MediaStreamTrack, RtpHeader, RtpPacket } from "werift";
import { newTestPeerConnection } from "../helpers/werift-peers.ts";

/** Bytes 2..8 of each video payload (after a 2-byte VP8-like descriptor/header). */
function encode(frame: number, index: number, count: number, key: boolean): Buffer {
  const payload = Buffer.alloc(1000, 0x55);
  payload[0] = index === 0 ? 0x10 : 0x00; // VP8 descriptor: S bit on a frame's first packet
  payload[1] = key ? 0x00 : 0x01; // VP8 header: P bit clear on keyframes
  payload.writeUInt32BE(frame, 2);
  payload[6] = index;
  payload[7] = count;
  payload[8] = key ? 1 : 0;
  return payload;
}

export class MediaPublisher {
  readonly pc = newTestPeerConnection();
  readonly audio = new MediaStreamTrack({ kind: "audio" });
  readonly video = new MediaStreamTrack({ kind: "video" });
  /** performance.now() of each PLI received. */
  readonly plis: number[] = [];
  /** performance.now() each frame was sent, by frame number. */
  readonly frameSentAt: number[] = [];
  readonly keyframes: number[] = [];
  readonly packetsPerFrame: number;
  #timer: NodeJS.Timeout | undefined;
  #keyframeWanted = true;
  #vSeq = Math.floor(Math.random() * 60000);
  #aSeq = Math.floor(Math.random() * 60000);
  #vTs = Math.floor(Math.random() * 2 ** 31);
  #aTs = Math.floor(Math.random() * 2 ** 31);

  constructor(packetsPerFrame = 3) {
    this.packetsPerFrame = packetsPerFrame;
    this.pc.addTransceiver(this.audio, { direction: "sendonly" });
    const t = this.pc.addTransceiver(this.video, { direction: "sendonly" });
    t.sender.onPictureLossIndication.subscribe(() => {
      this.plis.push(performance.now());
      this.#keyframeWanted = true;
    });
  }

  get framesSent(): number {
    return this.frameSentAt.length;
  }

  async offer(): Promise<{ type: "offer"; sdp: string }> {
    await this.pc.setLocalDescription(await this.pc.createOffer());
    return { type: "offer", sdp: this.pc.localDescription?.sdp ?? "" };
  }

  /** 50 audio packets/s and 25 video frames/s until stop(). */
  start(): void {
    if (this.#timer) return;
    let tick = 0;
    this.#timer = setInterval(() => {
      tick++;
      this.audio.writeRtp(
        new RtpPacket(
          new RtpHeader({ payloadType: 111, sequenceNumber: this.#aSeq, timestamp: this.#aTs, marker: true }),
          Buffer.alloc(60, 0xab),
        ),
      );
      this.#aSeq = (this.#aSeq + 1) & 0xffff;
      this.#aTs = (this.#aTs + 960) >>> 0;
      if (tick % 2 === 0) this.#sendFrame();
    }, 20);
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  async close(): Promise<void> {
    this.stop();
    await this.pc.close();
  }

  #sendFrame(): void {
    const frame = this.frameSentAt.length;
    const key = this.#keyframeWanted;
    this.#keyframeWanted = false;
    if (key) this.keyframes.push(frame);
    this.frameSentAt.push(performance.now());
    for (let i = 0; i < this.packetsPerFrame; i++) {
      const header = new RtpHeader({
        payloadType: 96,
        sequenceNumber: this.#vSeq,
        timestamp: this.#vTs,
        marker: i === this.packetsPerFrame - 1,
      });
      this.video.writeRtp(new RtpPacket(header, encode(frame, i, this.packetsPerFrame, key)));
      this.#vSeq = (this.#vSeq + 1) & 0xffff;
    }
    this.#vTs = (this.#vTs + 3600) >>> 0;
  }
}

interface FrameState {
  readonly got: Set<number>;
  readonly count: number;
  readonly key: boolean;
  completeAt?: number;
}

export interface Shown {
  readonly frame: number;
  readonly at: number;
  readonly key: boolean;
}

export class MediaViewer {
  readonly pc = newTestPeerConnection();
  readonly shown: Shown[] = [];
  /** performance.now() of each PLI sent. */
  readonly plis: number[] = [];
  /** Video packets received (retransmissions included), and the distinct RTP sequence numbers. */
  videoPackets = 0;
  readonly seqs = new Set<number>();
  audioPackets = 0;
  firstPacketAt: number | undefined;
  lastPacketAt: number | undefined;
  /** performance.now() of each video packet's arrival. */
  readonly arrivals: number[] = [];
  readonly #frames = new Map<number, FrameState>();
  readonly #pliAfterMs: number;
  readonly #pliIntervalMs: number;
  readonly #timer: NodeJS.Timeout;
  #newest = -1;
  #lastShown = -1;
  #stuckSince: number | undefined;
  #ssrc: number | undefined;

  constructor(options: { pliAfterMs?: number; pliIntervalMs?: number } = {}) {
    this.#pliAfterMs = options.pliAfterMs ?? 200;
    this.#pliIntervalMs = options.pliIntervalMs ?? 500;
    this.pc.onTrack.subscribe((track) => {
      track.onReceiveRtp.subscribe((p) => {
        if (track.kind === "audio") {
          this.audioPackets++;
          return;
        }
        this.#onVideo(p.header.sequenceNumber, p.header.ssrc, p.payload);
      });
    });
    this.#timer = setInterval(() => this.#checkStuck(), 20);
  }

  async answer(offer: { type: "offer"; sdp: string }): Promise<{ type: "answer"; sdp: string }> {
    await this.pc.setRemoteDescription(offer);
    await this.pc.setLocalDescription(await this.pc.createAnswer());
    return { type: "answer", sdp: this.pc.localDescription?.sdp ?? "" };
  }

  /** Frames numbered in [from, to) that were shown. */
  shownBetween(from: number, to: number): number {
    return this.shown.filter((s) => s.frame >= from && s.frame < to).length;
  }

  /** Distinct packets of frames numbered in [from, to) that arrived. */
  packetsBetween(from: number, to: number): number {
    let n = 0;
    for (const [frame, f] of this.#frames) if (frame >= from && frame < to) n += f.got.size;
    return n;
  }

  /** The longest time between two shown frames after `since` (a freeze as the user sees it). */
  longestFreezeMs(since: number): number {
    let longest = 0;
    let previous: number | undefined;
    for (const s of this.shown) {
      if (s.at < since) continue;
      if (previous !== undefined) longest = Math.max(longest, s.at - previous);
      previous = s.at;
    }
    return Math.round(longest);
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.pc.close();
  }

  #onVideo(seq: number, ssrc: number, payload: Buffer): void {
    const now = performance.now();
    this.videoPackets++;
    this.seqs.add(seq);
    this.#ssrc = ssrc;
    this.firstPacketAt ??= now;
    this.lastPacketAt = now;
    this.arrivals.push(now);
    if (payload.length < 9) return;
    const frame = payload.readUInt32BE(2);
    let f = this.#frames.get(frame);
    if (!f) {
      f = { got: new Set(), count: payload[7] ?? 1, key: payload[8] === 1 };
      this.#frames.set(frame, f);
    }
    f.got.add(payload[6] ?? 0);
    this.#newest = Math.max(this.#newest, frame);
    if (f.completeAt === undefined && f.got.size >= f.count) {
      f.completeAt = now;
      this.#advance(now);
    }
    this.#updateStuck(now);
  }

  #complete(frame: number): FrameState | undefined {
    const f = this.#frames.get(frame);
    return f?.completeAt !== undefined ? f : undefined;
  }

  /** Shows every frame that can now be decoded, in order; jumps to a newer complete keyframe. */
  #advance(now: number): void {
    for (;;) {
      const next = this.#lastShown + 1;
      const f = this.#lastShown >= 0 ? this.#complete(next) : undefined;
      if (f) {
        this.#show(next, f, now);
        continue;
      }
      let key: number | undefined;
      for (const [frame, state] of this.#frames) {
        if (frame > this.#lastShown && state.key && state.completeAt !== undefined)
          key = key === undefined ? frame : Math.min(key, frame);
      }
      const k = key === undefined ? undefined : this.#frames.get(key);
      if (key === undefined || !k) return;
      this.#show(key, k, now);
    }
  }

  #show(frame: number, f: FrameState, now: number): void {
    this.#lastShown = frame;
    this.shown.push({ frame, at: now, key: f.key });
    this.#stuckSince = undefined;
    for (const old of this.#frames.keys()) if (old < frame - 200) this.#frames.delete(old);
  }

  /** Stuck: a later frame than the next one to show has arrived, and the next one is not complete. */
  #updateStuck(now: number): void {
    const stuck = this.#newest > this.#lastShown + 1 || (this.#lastShown < 0 && this.#newest >= 0);
    if (!stuck) this.#stuckSince = undefined;
    else this.#stuckSince ??= now;
  }

  #checkStuck(): void {
    const now = performance.now();
    if (this.#stuckSince === undefined || now - this.#stuckSince < this.#pliAfterMs) return;
    const last = this.plis.at(-1);
    if (last !== undefined && now - last < this.#pliIntervalMs) return;
    const video = this.pc.getTransceivers().find((t) => t.kind === "video");
    if (!video || this.#ssrc === undefined) return;
    this.plis.push(now);
    void video.receiver.sendRtcpPLI(this.#ssrc).catch(() => undefined);
  }
}
