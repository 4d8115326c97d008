/**
 * Real GStreamer for the transcoding tests: a live VP8 RTP source (videotestsrc -> vp8enc ->
 * rtpvp8pay in a gst-launch-1.0 child, packets framed RFC 4571 on fd 3), a VP8 keyframe size parser,
 * and process checks.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import type { Readable } from "node:stream";
import { detectGstreamer } from "../../src/media/transcode/gstreamer.ts";

/** Why the GStreamer tests cannot run here, or undefined. */
export function gstreamerUnavailable(): string | undefined {
  const gst = detectGstreamer();
  return gst.available ? undefined : `${gst.reason} (.ci/run installs it)`;
}

export interface Vp8Source {
  readonly pid: number | undefined;
  /** RTP packets made so far. */
  readonly packets: number;
  close(): Promise<void>;
}

/**
 * A live VP8 stream (moving test pattern) at the given size and rate, a keyframe every
 * `keyframeEvery` frames; each RTP packet is handed to onPacket as it is made.
 */
export function startVp8Source(options: {
  width: number;
  height: number;
  fps: number;
  payloadType?: number;
  keyframeEvery?: number;
  bitrateBps?: number;
  /** "ball" (default): a small moving ball, little to encode; "smpte": moving bars, the full bitrate. */
  pattern?: "ball" | "smpte";
  onPacket: (rtp: Buffer) => void;
}): Vp8Source {
  const args = [
    "-q",
    "videotestsrc",
    "is-live=true",
    ...(options.pattern === "smpte" ? ["pattern=smpte", "horizontal-speed=4"] : ["pattern=ball"]),
    "!",
    `video/x-raw,width=${options.width},height=${options.height},framerate=${options.fps}/1`,
    "!",
    "vp8enc",
    "deadline=1",
    "cpu-used=8",
    "lag-in-frames=0",
    `target-bitrate=${options.bitrateBps ?? 600_000}`,
    `keyframe-max-dist=${options.keyframeEvery ?? options.fps}`,
    "!",
    "rtpvp8pay",
    `pt=${options.payloadType ?? 96}`,
    "mtu=1200",
    "!",
    "rtpstreampay",
    "!",
    "fdsink",
    "fd=3",
  ];
  const child: ChildProcess = spawn("gst-launch-1.0", args, { stdio: ["pipe", "ignore", "inherit", "pipe"] });
  let packets = 0;
  let pending: Buffer | undefined;
  const out = child.stdio[3] as Readable;
  out.on("data", (chunk: Buffer) => {
    const buf = pending ? Buffer.concat([pending, chunk]) : chunk;
    let off = 0;
    while (buf.length - off >= 2) {
      const len = buf.readUInt16BE(off);
      if (buf.length - off - 2 < len) break;
      packets++;
      options.onPacket(Buffer.from(buf.subarray(off + 2, off + 2 + len)));
      off += 2 + len;
    }
    pending = off < buf.length ? Buffer.from(buf.subarray(off)) : undefined;
  });
  const exited = new Promise<void>((resolve) => child.once("close", () => resolve()));
  return {
    pid: child.pid,
    get packets() {
      return packets;
    },
    async close() {
      child.kill("SIGKILL");
      await exited;
    },
  };
}

/**
 * A VP8 RTP stream encoded at once (not live), grouped by frame (marker bit); its only keyframe is
 * the first frame, as from a browser nobody asked for one. Moving SMPTE bars: every frame changes.
 */
export function encodeVp8Frames(o: {
  width: number;
  height: number;
  fps: number;
  frames: number;
}): Buffer[][] {
  const r = spawnSync(
    "gst-launch-1.0",
    [
      "-q",
      "videotestsrc",
      `num-buffers=${o.frames}`,
      "pattern=smpte",
      "horizontal-speed=4",
      "!",
      `video/x-raw,width=${o.width},height=${o.height},framerate=${o.fps}/1`,
      "!",
      "vp8enc",
      "deadline=1",
      "cpu-used=8",
      "lag-in-frames=0",
      "keyframe-max-dist=100000",
      "!",
      "rtpvp8pay",
      "pt=96",
      "mtu=1200",
      "!",
      "rtpstreampay",
      "!",
      "fdsink",
      "fd=1",
    ],
    { maxBuffer: 256 * 1024 * 1024 },
  );
  if (r.status !== 0) throw new Error(`gst-launch-1.0 failed: ${r.stderr}`);
  const frames: Buffer[][] = [];
  let frame: Buffer[] = [];
  for (let off = 0; off + 2 <= r.stdout.length; ) {
    const len = r.stdout.readUInt16BE(off);
    const p = Buffer.from(r.stdout.subarray(off + 2, off + 2 + len));
    off += 2 + len;
    frame.push(p);
    if ((p[1] as number) & 0x80) {
      frames.push(frame);
      frame = [];
    }
  }
  return frames;
}

/** The RTP payload of a packet (after CSRCs, header extension and before padding). */
export function rtpPayload(rtp: Buffer): Buffer {
  const cc = (rtp[0] as number) & 0x0f;
  let off = 12 + cc * 4;
  if ((rtp[0] as number) & 0x10) off += 4 + rtp.readUInt16BE(off + 2) * 4;
  const pad = (rtp[0] as number) & 0x20 ? (rtp[rtp.length - 1] as number) : 0;
  return rtp.subarray(off, rtp.length - pad);
}

/**
 * Width and height of a VP8 keyframe that starts in this RTP packet (RFC 7741 payload descriptor,
 * then the RFC 6386 frame header), or undefined for any other packet.
 */
export function vp8KeyframeSize(rtp: Buffer): { width: number; height: number } | undefined {
  const p = rtpPayload(rtp);
  if (p.length < 1) return undefined;
  const b0 = p[0] as number;
  const start = (b0 & 0x10) !== 0 && (b0 & 0x07) === 0;
  if (!start) return undefined;
  let off = 1;
  if (b0 & 0x80) {
    const x = p[off++] as number;
    if (x & 0x80) off += (p[off] as number) & 0x80 ? 2 : 1; // PictureID
    if (x & 0x40) off++; // TL0PICIDX
    if (x & 0x30) off++; // TID/KEYIDX
  }
  const f = p.subarray(off);
  if (f.length < 10 || ((f[0] as number) & 0x01) !== 0) return undefined; // inter frame
  if (f[3] !== 0x9d || f[4] !== 0x01 || f[5] !== 0x2a) return undefined;
  return { width: f.readUInt16LE(6) & 0x3fff, height: f.readUInt16LE(8) & 0x3fff };
}

/** true when the process no longer exists (or is a zombie no one has reaped yet). */
export function processGone(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z");
  } catch {
    return true;
  }
}

/**
 * Every transcoder process on the machine whose parent is `ppid` (direct children only):
 * gst-launch-1.0, or the keyframe-on-demand runner (src/media/transcode/gst-runner.py).
 */
export function gstChildrenOf(ppid: number): number[] {
  const out: number[] = [];
  for (const name of readdirSafe("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      if (Number(rest[1]) !== ppid || rest[0] === "Z") continue;
      if (comm.startsWith("gst-") || readFileSync(`/proc/${name}/cmdline`, "utf8").includes("gst-runner.py"))
        out.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

function readdirSafe(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
