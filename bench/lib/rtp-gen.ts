import { randomInt } from "node:crypto";
import { RtpHeader, RtpPacket } from "werift";

/** Largest RTP payload generated (a browser's VP8 packetizer stays near 1,100-1,200 bytes). */
export const MAX_PAYLOAD = 1100;
export const AUDIO_PAYLOAD = 80; // Opus at 32 kbit/s, 20 ms frames
export const FPS = 30;
export const AUDIO_PT = 111;
export const VIDEO_PT = 96;

/** Packets per second and sizes of the generated stream at a bitrate, for cost baselines. */
export function streamShape(bitrate: number): {
  frameBytes: number;
  videoPacketSizes: number[];
  videoPps: number;
  audioPps: number;
} {
  const frameBytes = Math.max(200, Math.round((bitrate - 32_000) / 8 / FPS));
  const sizes: number[] = [];
  for (let left = frameBytes; left > 0; left -= MAX_PAYLOAD) sizes.push(Math.min(MAX_PAYLOAD, left));
  return { frameBytes, videoPacketSizes: sizes, videoPps: sizes.length * FPS, audioPps: 50 };
}

function payloads(): { keyStart: Buffer; deltaStart: Buffer; middle: Buffer; audio: Buffer } {
  const make = (first: number, second: number) => {
    const b = Buffer.alloc(MAX_PAYLOAD, 0x55);
    b[0] = first; // VP8 payload descriptor: S bit on a frame's first packet
    b[1] = second; // VP8 payload header: P bit clear on keyframes
    return b;
  };
  return {
    keyStart: make(0x10, 0x00),
    deltaStart: make(0x10, 0x01),
    middle: make(0x00, 0x01),
    audio: Buffer.alloc(AUDIO_PAYLOAD, 0xab),
  };
}

/**
 * Generated VP8 + Opus RTP at a target bitrate: 30 fps video frames split into <= 1,100-byte packets,
 * 50 audio packets/s, keyframes every 2 s and on request. Driven by elapsed time, so timer jitter
 * changes burst sizes, not the rate.
 */
export class RtpGenerator {
  videoSent = 0;
  audioSent = 0;
  readonly #emit: (kind: "audio" | "video", packet: RtpPacket) => void;
  readonly #sizes: number[];
  readonly #p = payloads();
  #timer: NodeJS.Timeout | undefined;
  #t0 = 0;
  #frames = 0;
  #audioFrames = 0;
  #vSeq = randomInt(0x10000);
  #aSeq = randomInt(0x10000);
  #vTs = randomInt(0x7fffffff);
  #aTs = randomInt(0x7fffffff);
  #key = true;

  constructor(bitrate: number, emit: (kind: "audio" | "video", packet: RtpPacket) => void) {
    this.#emit = emit;
    this.#sizes = streamShape(bitrate).videoPacketSizes;
  }

  get running(): boolean {
    return this.#timer !== undefined;
  }

  start(): void {
    if (this.#timer) return;
    this.#t0 = performance.now();
    this.#frames = 0;
    this.#audioFrames = 0;
    this.#key = true;
    this.#timer = setInterval(() => this.#tick(), 10);
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  requestKeyframe(): void {
    this.#key = true;
  }

  #tick(): void {
    const elapsed = performance.now() - this.#t0;
    const audioDue = Math.floor(elapsed / 20) + 1;
    for (; this.#audioFrames < audioDue; this.#audioFrames++) this.#audio();
    const framesDue = Math.floor((elapsed * FPS) / 1000) + 1;
    for (; this.#frames < framesDue; this.#frames++) this.#frame();
  }

  #audio(): void {
    const header = new RtpHeader({ payloadType: AUDIO_PT, sequenceNumber: this.#aSeq, timestamp: this.#aTs });
    this.#emit("audio", new RtpPacket(header, this.#p.audio));
    this.#aSeq = (this.#aSeq + 1) & 0xffff;
    this.#aTs = (this.#aTs + 960) >>> 0;
    this.audioSent++;
  }

  #frame(): void {
    const key = this.#key || this.#frames % (2 * FPS) === 0;
    this.#key = false;
    const n = this.#sizes.length;
    for (let i = 0; i < n; i++) {
      const base = i > 0 ? this.#p.middle : key ? this.#p.keyStart : this.#p.deltaStart;
      const header = new RtpHeader({
        payloadType: VIDEO_PT,
        sequenceNumber: this.#vSeq,
        timestamp: this.#vTs,
        marker: i === n - 1,
      });
      this.#emit("video", new RtpPacket(header, base.subarray(0, this.#sizes[i])));
      this.#vSeq = (this.#vSeq + 1) & 0xffff;
      this.videoSent++;
    }
    this.#vTs = (this.#vTs + 90_000 / FPS) >>> 0;
  }
}
