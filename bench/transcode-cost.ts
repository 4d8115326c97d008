/**
 * `node bench/transcode-cost.ts [--width 640 --height 480 --fps 15 --seconds 10 --target 180 --pattern smpte]`:
 * what one transcoder (src/media/transcode/transcoder.ts, the pool's settings) costs. A VP8 RTP
 * stream is encoded first (GStreamer, not timed: keyframe only at the start, like a browser that is
 * not asked), then pushed into a fresh transcoder paced at `fps`. Prints: start-up (spawn to the
 * first packet out, the first frame being a keyframe), per-frame latency (last packet of a frame in
 * to the last packet of the same frame out, matched by RTP timestamp: the pipeline keeps the input's
 * timestamp spacing, so output = input + a constant, the most frequent difference), and the child's
 * CPU (/proc, user + system) over the paced run as a share of one core. Not part of npm test.
 */
import { spawnSync } from "node:child_process";
import { parseArgs } from "node:util";
import { newSilentLogger } from "../src/lib/logger.ts";
import { detectGstreamer } from "../src/media/transcode/gstreamer.ts";
import { Transcoder } from "../src/media/transcode/transcoder.ts";
import { processCpuSeconds } from "../src/metrics/metrics.ts";
import { vp8KeyframeSize } from "../test/helpers/gstreamer.ts";

const { values } = parseArgs({
  options: {
    width: { type: "string", default: "640" },
    height: { type: "string", default: "480" },
    fps: { type: "string", default: "15" },
    seconds: { type: "string", default: "10" },
    target: { type: "string", default: "180" },
    bitrate: { type: "string", default: "600000" },
    pattern: { type: "string", default: "smpte" },
    runs: { type: "string", default: "3" },
  },
});
const width = Number(values.width);
const height = Number(values.height);
const fps = Number(values.fps);
const seconds = Number(values.seconds);
const target = Number(values.target);
const runs = Number(values.runs);

const gst = detectGstreamer();
if (!gst.available) {
  console.error(`GStreamer not usable: ${gst.reason}`);
  process.exit(2);
}

/** Frames of RTP packets, encoded once ("smpte" moves horizontally: every frame changes). */
function encode(): Buffer[][] {
  const frames = Math.round(seconds * fps);
  const motion = values.pattern === "smpte" ? ["horizontal-speed=4"] : [];
  const r = spawnSync(
    "gst-launch-1.0",
    [
      "-q",
      "videotestsrc",
      `num-buffers=${frames}`,
      `pattern=${values.pattern}`,
      ...motion,
      "!",
      `video/x-raw,width=${width},height=${height},framerate=${fps}/1`,
      "!",
      "vp8enc",
      "deadline=1",
      "cpu-used=4",
      "lag-in-frames=0",
      "end-usage=cbr",
      `target-bitrate=${values.bitrate}`,
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
    { maxBuffer: 512 * 1024 * 1024 },
  );
  if (r.status !== 0) throw new Error(`encoding failed: ${r.stderr}`);
  const out: Buffer[][] = [];
  let frame: Buffer[] = [];
  const buf = r.stdout;
  for (let off = 0; off + 2 <= buf.length; ) {
    const len = buf.readUInt16BE(off);
    const p = buf.subarray(off + 2, off + 2 + len);
    off += 2 + len;
    frame.push(p);
    if ((p[1] as number) & 0x80) {
      out.push(frame);
      frame = [];
    }
  }
  return out;
}

async function run(frames: Buffer[][]): Promise<{
  startupMs: number;
  latency: number[];
  cpu: number;
  out: number;
  matched: number;
  keyBytes: number[];
  deltaBytes: number[];
}> {
  const keyBytes: number[] = [];
  const deltaBytes: number[] = [];
  let frameBytes = 0;
  let frameIsKey = false;
  const inAt: number[] = [];
  const outAt: number[] = [];
  const inTs: number[] = [];
  const outTs: number[] = [];
  let firstOut: number | undefined;
  const t = new Transcoder({
    codec: "VP8",
    target: { height: target, bitrateBps: 150_000, keyframeIntervalFrames: 15 },
    ...(gst.deathSignalPrefix ? { deathSignalPrefix: gst.deathSignalPrefix } : {}),
    log: newSilentLogger(),
    onPacket: (rtp) => {
      firstOut ??= performance.now();
      if (frameBytes === 0) frameIsKey = vp8KeyframeSize(rtp) !== undefined;
      frameBytes += rtp.length;
      if ((rtp[1] as number) & 0x80) {
        (frameIsKey ? keyBytes : deltaBytes).push(frameBytes);
        frameBytes = 0;
        outAt.push(performance.now());
        outTs.push(rtp.readUInt32BE(4));
      }
    },
  });
  const spawnedAt = performance.now();
  const cpu0 = processCpuSeconds(t.pid as number) ?? 0;
  const start = performance.now();
  for (let i = 0; i < frames.length; i++) {
    const due = start + (i * 1000) / fps;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const frame = frames[i] as Buffer[];
    for (const p of frame) t.push(p);
    inAt.push(performance.now());
    inTs.push((frame[frame.length - 1] as Buffer).readUInt32BE(4));
  }
  await new Promise((r) => setTimeout(r, 500));
  const wall = (performance.now() - start) / 1000;
  const cpu = ((processCpuSeconds(t.pid as number) ?? 0) - cpu0) / wall;
  const exit = await t.close();
  if (outAt.length === 0)
    console.log(`no output: exit ${JSON.stringify(exit)} stats ${JSON.stringify(t.stats)}`);
  // The same frame: output RTP timestamp = input + a constant (the most frequent difference).
  const diffs = new Map<number, number>();
  for (const o of outTs)
    for (const i of inTs) {
      const d = (o - i) >>> 0;
      diffs.set(d, (diffs.get(d) ?? 0) + 1);
    }
  const offset = [...diffs].sort((a, b) => b[1] - a[1])[0]?.[0] ?? 0;
  const inByTs = new Map(inTs.map((ts, k) => [ts, inAt[k] as number]));
  const latency: number[] = [];
  // The first second is left out: frames queued before the child ran come out in one burst.
  for (let k = 0; k < outTs.length; k++) {
    // +-1 tick: nanosecond timestamps rounded to 90 kHz twice (30 fps is 3000.0 ticks, 33333333 ns).
    const ts = ((outTs[k] as number) - offset) >>> 0;
    const sent = inByTs.get(ts) ?? inByTs.get((ts + 1) >>> 0) ?? inByTs.get((ts - 1) >>> 0);
    if (sent !== undefined && sent - start >= 1000) latency.push((outAt[k] as number) - sent);
  }
  return {
    startupMs: (firstOut ?? Number.NaN) - spawnedAt,
    latency,
    cpu,
    out: outAt.length,
    matched: latency.length,
    keyBytes,
    deltaBytes,
  };
}

const q = (a: number[], p: number) => {
  const s = [...a].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? Number.NaN;
};

const frames = encode();
const bytes = frames.flat().reduce((n, p) => n + p.length, 0);
console.log(
  `input: ${width}x${height} ${values.pattern} @ ${fps} fps, ${frames.length} frames, ` +
    `${((bytes * 8) / seconds / 1000).toFixed(0)} kbit/s; output height ${target}, 150 kbit/s; ` +
    `${runs} runs; deathSignal ${gst.deathSignalPrefix !== undefined}`,
);
for (let i = 0; i < runs; i++) {
  const r = await run(frames);
  console.log(
    `run ${i + 1}: start-up ${r.startupMs.toFixed(0)} ms to the first packet out; frames out ${r.out}/${frames.length}; ` +
      `latency per frame (${r.matched} matched by RTP timestamp) median ${q(r.latency, 0.5).toFixed(1)} ms, p95 ${q(r.latency, 0.95).toFixed(1)} ms; ` +
      `CPU ${(r.cpu * 100).toFixed(1)} % of a core; ${r.keyBytes.length} keyframes out, median ${q(r.keyBytes, 0.5)} bytes, ` +
      `largest ${q(r.keyBytes, 1)}; other frames median ${q(r.deltaBytes, 0.5)} bytes`,
  );
}
