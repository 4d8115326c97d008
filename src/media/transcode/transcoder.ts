import { type ChildProcess, spawn } from "node:child_process";
import { randomInt } from "node:crypto";
import type { Readable, Writable } from "node:stream";
import type { Logger } from "../../lib/logger.ts";

/** Video codecs a transcoder can decode (VP8 with plugins-good; H.264 needs avdec_h264 from gstreamer1.0-libav). */
export type TranscodeCodec = "VP8" | "H264";

/** What one transcoder makes: VP8 at this height (width keeps the source's aspect ratio). */
export interface TranscodeTarget {
  readonly height: number;
  /** Target bitrate of the VP8 encoder, bits per second. */
  readonly bitrateBps: number;
  /** A keyframe at least every this many frames: listeners joining the layer wait at most this long. */
  readonly keyframeIntervalFrames: number;
}

export interface TranscoderOptions {
  readonly codec: TranscodeCodec;
  readonly target: TranscodeTarget;
  /** RTP payload type and SSRC of the packets made (the forwarder rewrites both per listener anyway). */
  readonly outputPayloadType?: number;
  readonly outputSsrc?: number;
  /** gst-launch-1.0 binary; default from PATH. */
  readonly gstLaunch?: string;
  /**
   * argv of the pipeline runner with keyframes on demand (gst-runner.py under the Python that has
   * GStreamer's bindings), run instead of gstLaunch; see GstCapabilities.runner.
   */
  readonly runner?: readonly string[];
  /**
   * Prefix run before gst-launch (argv): `setpriv --pdeathsig KILL --` makes the kernel kill the child
   * when the thread that spawned it dies. Undefined: no prefix (the stdin EOF still stops it).
   */
  readonly deathSignalPrefix?: readonly string[];
  /** Incoming bytes queued for the child beyond which packets are dropped (counted). */
  readonly maxQueuedBytes?: number;
  readonly log: Logger;
  /** Each RTP packet the encoder made, in order (one Buffer per packet, owned by the callee). */
  readonly onPacket: (rtp: Buffer) => void;
  /** Called once when the child has exited (after close() or by itself). */
  readonly onExit?: (exit: TranscoderExit) => void;
}

export interface TranscoderExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** true when close() asked for it; false: the child died or failed on its own. */
  readonly requested: boolean;
  /** The last lines the child wrote to stderr (GStreamer's error message). */
  readonly stderr: string;
  /** Set when the binary could not be started. */
  readonly error?: string;
}

export interface TranscoderStats {
  readonly packetsIn: number;
  readonly bytesIn: number;
  readonly packetsOut: number;
  readonly bytesOut: number;
  /** Incoming packets dropped because the child did not keep up. */
  readonly dropped: number;
  /** performance.now() at spawn, at the first packet pushed, at the first packet made. */
  readonly startedAt: number;
  readonly firstInputAt: number | undefined;
  readonly firstOutputAt: number | undefined;
  readonly lastOutputAt: number | undefined;
}

const CLOSE_GRACE_MS = 1000;
const STDERR_KEEP = 2048;

/** RFC 4571 caps of the incoming stream for the given codec. */
function inputCaps(codec: TranscodeCodec): string {
  return `application/x-rtp-stream,media=video,encoding-name=${codec},clock-rate=90000,payload=${INPUT_PT}`;
}

/**
 * Payload type written on every packet pushed: the publisher's own depends on its offer (Chromium
 * numbers H.264 differently per profile), the pipeline's caps need a fixed one.
 */
const INPUT_PT = 96;

/**
 * The gst-launch-1.0 arguments of one transcoder. Packets come in on stdin and go out on fd 3, both
 * framed as RFC 4571 (a 16-bit length before each RTP packet): no UDP port to pick or to race for,
 * no datagram lost to a full receive buffer, and the child sees EOF on stdin as soon as its owner is
 * gone (exit, crash, SIGKILL, worker thread terminated), which ends its pipeline.
 */
export function transcoderPipeline(o: {
  codec: TranscodeCodec;
  target: TranscodeTarget;
  outputPayloadType: number;
  outputSsrc: number;
}): string[] {
  const t = o.target;
  const depayDecode =
    o.codec === "VP8" ? ["rtpvp8depay", "!", "vp8dec"] : ["rtph264depay", "!", "avdec_h264", "max-threads=1"];
  return [
    "-q",
    "fdsrc",
    "fd=0",
    "do-timestamp=true",
    "!",
    inputCaps(o.codec),
    "!",
    "rtpstreamdepay",
    "!",
    // Reorders and drops duplicates (NACK repairs arrive late); waits at most this long on a gap.
    // Not drop-on-latency: packets queued before the pipeline runs arrive in a burst, and it would
    // drop the oldest, i.e. the keyframe the decoder needs.
    // mode=none: output times from RTP timestamps only. The default (slave) relates them to arrival
    // times and, at a start with queued packets, sometimes held every packet back (no output at all;
    // 3 starts in 15 in bench/transcode-cost.ts, 0 in 25 with mode=none).
    "rtpjitterbuffer",
    "latency=50",
    "mode=none",
    "!",
    ...depayDecode,
    "!",
    "videoscale",
    "!",
    `video/x-raw,height=${t.height},pixel-aspect-ratio=1/1`,
    "!",
    "vp8enc",
    "name=enc",
    "deadline=1",
    "cpu-used=8",
    "lag-in-frames=0",
    "end-usage=cbr",
    `target-bitrate=${t.bitrateBps}`,
    `keyframe-max-dist=${t.keyframeIntervalFrames}`,
    // A keyframe at most 3x an average frame (libwebrtc's floor for VP8): an uncapped one is a burst
    // of several times the per-frame budget that a listener's bottleneck queue, the very reason it
    // is on this layer, drops every keyframe interval.
    "max-intra-bitrate=300",
    "error-resilient=default",
    "threads=1",
    "!",
    "rtpvp8pay",
    `pt=${o.outputPayloadType}`,
    `ssrc=${o.outputSsrc}`,
    "mtu=1200",
    "picture-id-mode=15-bit",
    "!",
    "rtpstreampay",
    "!",
    "fdsink",
    "fd=3",
    "sync=false",
  ];
}

/**
 * One GStreamer child process that decodes a publisher's video RTP, scales it down and encodes VP8
 * RTP. Its owner pushes the publisher's packets in and gets the new packets through onPacket; close()
 * ends stdin (the pipeline drains and exits), then SIGKILLs after a second. The child cannot outlive
 * its owner: stdin reaches EOF when the owner's process or thread is gone, and with a
 * deathSignalPrefix the kernel also kills it.
 */
export class Transcoder {
  readonly pid: number | undefined;
  /** The output SSRC (fixed per process; a restarted transcoder has a new one). */
  readonly outputSsrc: number;
  readonly exited: Promise<TranscoderExit>;
  readonly #child: ChildProcess;
  readonly #stdin: Writable;
  /** The runner's control pipe (fd 4), undefined under gst-launch-1.0. */
  readonly #control: Writable | undefined;
  readonly #out: Readable;
  readonly #maxQueued: number;
  readonly #onPacket: (rtp: Buffer) => void;
  readonly #log: Logger;
  #closing = false;
  #exitedFlag = false;
  #stderr = "";
  #pending: Buffer | undefined;
  #packetsIn = 0;
  #bytesIn = 0;
  #packetsOut = 0;
  #bytesOut = 0;
  #dropped = 0;
  readonly #startedAt = performance.now();
  #firstInputAt: number | undefined;
  #firstOutputAt: number | undefined;
  #lastOutputAt: number | undefined;

  constructor(options: TranscoderOptions) {
    this.#log = options.log;
    this.#onPacket = options.onPacket;
    this.#maxQueued = options.maxQueuedBytes ?? 512 * 1024;
    this.outputSsrc = options.outputSsrc ?? randomInt(1, 0xffffffff);
    const args = transcoderPipeline({
      codec: options.codec,
      target: options.target,
      outputPayloadType: options.outputPayloadType ?? 96,
      outputSsrc: this.outputSsrc,
    });
    const prefix = options.deathSignalPrefix ?? [];
    const runner = options.runner;
    const argv = [...prefix, ...(runner ?? [options.gstLaunch ?? "gst-launch-1.0"]), ...args];
    const child = spawn(argv[0] as string, argv.slice(1), {
      stdio: runner ? ["pipe", "ignore", "pipe", "pipe", "pipe"] : ["pipe", "ignore", "pipe", "pipe"],
      // Same process group as the server: a signal to the group (terminal, service manager) reaches it too.
      detached: false,
      env: { ...process.env, GST_DEBUG_NO_COLOR: "1" },
    });
    this.#child = child;
    this.pid = child.pid;
    this.#stdin = child.stdin as Writable;
    this.#out = child.stdio[3] as Readable;
    this.#control = runner ? (child.stdio[4] as Writable) : undefined;
    // A write after the child died fails with EPIPE; the exit handler reports it.
    this.#stdin.on("error", () => {});
    this.#control?.on("error", () => {});
    this.#out.on("error", () => {});
    this.#out.on("data", (chunk: Buffer) => this.#read(chunk));
    child.stderr?.setEncoding("utf8");
    child.stderr?.on("data", (s: string) => {
      this.#stderr = (this.#stderr + s).slice(-STDERR_KEEP);
    });
    let spawnError: string | undefined;
    this.exited = new Promise<TranscoderExit>((resolve) => {
      child.once("error", (err) => {
        spawnError = err.message;
        // A child that never started emits no "exit" when spawn itself failed.
        if (child.pid === undefined) finish(null, null);
      });
      const finish = (code: number | null, signal: NodeJS.Signals | null) => {
        if (this.#exitedFlag) return;
        this.#exitedFlag = true;
        const exit: TranscoderExit = {
          code,
          signal,
          requested: this.#closing,
          stderr: this.#stderr.trim(),
          ...(spawnError !== undefined ? { error: spawnError } : {}),
        };
        resolve(exit);
        options.onExit?.(exit);
      };
      // "close": the exit status and every stdio stream ended (the last output packets were read).
      child.once("close", (code, signal) => finish(code, signal));
    });
  }

  /** Feeds one RTP packet of the publisher; false when it was dropped (child gone or too far behind). */
  push(rtp: Uint8Array): boolean {
    if (this.#closing || this.#exitedFlag || rtp.length > 0xffff) return false;
    if (this.#stdin.writableLength > this.#maxQueued) {
      this.#dropped++;
      return false;
    }
    const framed = Buffer.allocUnsafe(2 + rtp.length);
    framed.writeUInt16BE(rtp.length, 0);
    framed.set(rtp, 2);
    framed[3] = ((rtp[1] as number) & 0x80) | INPUT_PT;
    this.#stdin.write(framed);
    this.#packetsIn++;
    this.#bytesIn += rtp.length;
    this.#firstInputAt ??= performance.now();
    return true;
  }

  get stats(): TranscoderStats {
    return {
      packetsIn: this.#packetsIn,
      bytesIn: this.#bytesIn,
      packetsOut: this.#packetsOut,
      bytesOut: this.#bytesOut,
      dropped: this.#dropped,
      startedAt: this.#startedAt,
      firstInputAt: this.#firstInputAt,
      firstOutputAt: this.#firstOutputAt,
      lastOutputAt: this.#lastOutputAt,
    };
  }

  get running(): boolean {
    return !this.#exitedFlag;
  }

  /** Whether requestKeyframe can work: the child is the runner, not gst-launch-1.0. */
  get keyframesOnDemand(): boolean {
    return this.#control !== undefined;
  }

  /**
   * Asks the encoder for a keyframe as its next frame; false when it cannot (gst-launch-1.0, whose
   * keyframes are only periodic, or a child that is gone). Callers throttle it.
   */
  requestKeyframe(): boolean {
    const control = this.#control;
    if (!control || this.#closing || this.#exitedFlag || control.destroyed) return false;
    control.write("K");
    return true;
  }

  /** RFC 4571 deframing of the child's output. */
  #read(chunk: Buffer): void {
    const buf = this.#pending ? Buffer.concat([this.#pending, chunk]) : chunk;
    let off = 0;
    while (buf.length - off >= 2) {
      const len = buf.readUInt16BE(off);
      if (buf.length - off - 2 < len) break;
      const packet = Buffer.from(buf.subarray(off + 2, off + 2 + len));
      off += 2 + len;
      if (len < 12) continue;
      this.#packetsOut++;
      this.#bytesOut += len;
      const now = performance.now();
      this.#firstOutputAt ??= now;
      this.#lastOutputAt = now;
      try {
        this.#onPacket(packet);
      } catch (err) {
        this.#log.error({ err }, "transcoder packet sink threw");
      }
    }
    this.#pending = off < buf.length ? Buffer.from(buf.subarray(off)) : undefined;
  }

  /** SIGKILLs a child that stopped working (not a requested exit: its owner restarts it). */
  kill(): void {
    if (!this.#exitedFlag) this.#child.kill("SIGKILL");
  }

  /** Ends the child: EOF on stdin (the pipeline drains), SIGKILL if it is still there after a second. */
  async close(): Promise<TranscoderExit> {
    if (!this.#closing) {
      this.#closing = true;
      this.#stdin.end();
      this.#control?.end();
      if (!this.#exitedFlag) {
        const timer = setTimeout(() => this.#child.kill("SIGKILL"), CLOSE_GRACE_MS);
        void this.exited.finally(() => clearTimeout(timer));
      }
    }
    return this.exited;
  }
}
