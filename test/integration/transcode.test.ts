import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { after, before, describe, it } from "node:test";
import { Worker } from "node:worker_threads";
import pino from "pino";
import type { TranscodeConfig } from "../../src/config/media-config.ts";
import { newSilentLogger } from "../../src/lib/logger.ts";
import { detectGstreamer } from "../../src/media/transcode/gstreamer.ts";
import { type TranscodeCodec, Transcoder } from "../../src/media/transcode/transcoder.ts";
import { TranscoderPool, type TranscodeSource } from "../../src/media/transcode/transcoder-pool.ts";
import { newMetrics, processCpuSeconds } from "../../src/metrics/metrics.ts";
import {
  encodeVp8Frames,
  gstreamerUnavailable,
  processGone,
  startVp8Source,
  type Vp8Source,
  vp8KeyframeSize,
} from "../helpers/gstreamer.ts";
import { waitFor } from "../helpers/wait-for.ts";

/**
 * Server-made lower layers (issue 13) with real GStreamer: a live 640x480 VP8 RTP stream made by
 * gst-launch-1.0 is fed into the pool's transcoders, and what comes out is parsed.
 */
const skip = gstreamerUnavailable();

const config = (over: Partial<TranscodeConfig> = {}): TranscodeConfig => ({
  max: 4,
  lingerMs: 1500,
  bitrateBps: 150_000,
  keyframeIntervalMs: 1000,
  ...over,
});

/** A publisher's video for the pool: a live GStreamer VP8 stream fanned out to subscribers. */
class LiveSource implements TranscodeSource {
  readonly id: string;
  readonly codec: TranscodeCodec = "VP8";
  keyframeRequests = 0;
  inputKeyframe: { width: number; height: number } | undefined;
  /** A publisher that went quiet: packets are made but not handed on. */
  paused = false;
  /** Until then only RTP headers are handed on: input that keeps the process fed and makes no frame. */
  headersOnlyUntil = 0;
  #sinks: Array<(rtp: Uint8Array) => void> = [];
  readonly #gst: Vp8Source;

  constructor(id: string, width = 640, height = 480) {
    this.id = id;
    this.#gst = startVp8Source({
      width,
      height,
      fps: 15,
      // Not 96: the transcoder takes any payload type the publisher negotiated.
      payloadType: 100,
      onPacket: (rtp) => {
        this.inputKeyframe ??= vp8KeyframeSize(rtp);
        if (this.paused) return;
        const packet = performance.now() < this.headersOnlyUntil ? rtp.subarray(0, 12) : rtp;
        for (const s of this.#sinks) s(packet);
      },
    });
  }

  get sinkCount(): number {
    return this.#sinks.length;
  }

  subscribe(sink: (rtp: Uint8Array) => void): () => void {
    this.#sinks.push(sink);
    return () => {
      this.#sinks = this.#sinks.filter((s) => s !== sink);
    };
  }

  requestKeyframe(): void {
    this.keyframeRequests++;
  }

  close(): Promise<void> {
    return this.#gst.close();
  }
}

async function metric(metrics: ReturnType<typeof newMetrics>, name: string, labels = ""): Promise<number> {
  const text = await metrics.registry.metrics();
  const line = text.split("\n").find((l) => l.startsWith(`${name}${labels} `));
  return line ? Number(line.split(" ")[1]) : 0;
}

/** A 180-line lease of `source` from `pool`, once its process produces, and that process's pid. */
async function producing(pool: TranscoderPool, source: LiveSource) {
  const a = pool.acquire(source, 180);
  assert.ok(a.ok);
  const layer = a.lease.layer;
  await waitFor("producing", () => layer.producing, 10_000);
  return { a, layer, pid: pool.pids[0] as number };
}

describe("transcoding with GStreamer", { skip, timeout: 60_000 }, () => {
  let source: LiveSource;
  before(async () => {
    source = new LiveSource("room1/alice");
    await waitFor("the source's first keyframe", () => source.inputKeyframe, 5000);
  });
  after(() => source?.close());

  it("makes 180-line VP8 from a live 640x480 VP8 stream: keyframes, frames, CPU", async () => {
    assert.deepEqual(source.inputKeyframe, { width: 640, height: 480 });
    const metrics = newMetrics({ processMetrics: false });
    const pool = new TranscoderPool({ config: config(), metrics, log: newSilentLogger() });
    try {
      const got = pool.acquire(source, 180);
      assert.ok(got.ok);
      const layer = got.lease.layer;
      const t0 = performance.now();
      let firstKeyframeMs: number | undefined;
      const sizes: Array<{ width: number; height: number }> = [];
      const timestamps = new Set<number>();
      const ssrcs = new Set<number>();
      let packets = 0;
      layer.subscribe((rtp) => {
        packets++;
        assert.equal((rtp[1] as number) & 0x7f, 96, "VP8 payload type");
        ssrcs.add(rtp.readUInt32BE(8));
        timestamps.add(rtp.readUInt32BE(4));
        const size = vp8KeyframeSize(rtp);
        if (size) {
          sizes.push(size);
          firstKeyframeMs ??= performance.now() - t0;
        }
      });
      await waitFor("a first keyframe out", () => firstKeyframeMs !== undefined, 10_000);
      assert.equal(layer.producing, true);
      const pid = pool.pids[0];
      assert.ok(pid !== undefined);
      const cpu0 = processCpuSeconds(pid) ?? 0;
      const w0 = performance.now();
      const frames0 = timestamps.size;
      await new Promise((r) => setTimeout(r, 3000));
      const cpuShare = ((processCpuSeconds(pid) ?? 0) - cpu0) / ((performance.now() - w0) / 1000);
      const fps = (timestamps.size - frames0) / ((performance.now() - w0) / 1000);
      // Every keyframe made is 240x180: height 180, the source's 4:3 kept.
      assert.ok(sizes.length >= 3, `a keyframe about every second (got ${sizes.length})`);
      for (const s of sizes) assert.deepEqual(s, { width: 240, height: 180 });
      // 15 fps in; fewer out only when the machine is too loaded for the child to keep up.
      assert.ok(fps > 8 && fps <= 16, `frames out per second ~15 (got ${fps.toFixed(1)})`);
      assert.equal(ssrcs.size, 1);
      assert.equal(ssrcs.has(layer.ssrc as number), true);
      assert.equal(await metric(metrics, "webrtcsignaling_media_transcoders"), 1);
      assert.equal(await metric(metrics, "webrtcsignaling_media_transcoders_started_total"), 1);
      assert.ok((await metric(metrics, "webrtcsignaling_media_transcoder_cpu_seconds_total")) > 0);
      assert.ok(source.keyframeRequests >= 1, "the publisher was asked for a keyframe at the start");
      console.log(
        `# transcode 640x480@15 -> 240x180: first keyframe after ${firstKeyframeMs?.toFixed(0)} ms, ` +
          `${fps.toFixed(1)} fps, ${packets} packets, CPU ${(cpuShare * 100).toFixed(1)} % of a core`,
      );
      got.lease.release();
    } finally {
      await pool.close();
    }
    assert.equal(await metric(metrics, "webrtcsignaling_media_transcoders"), 0);
  });

  it("a stream whose only keyframe is its first frame, queued before the child runs: every frame comes out", async () => {
    // What a transcoder started for a publisher that is not asked for keyframes must survive: the
    // packets written before the pipeline runs reach it in one burst (an earlier pipeline dropped them:
    // jitter buffer drop-on-latency, or its default clock mode holding everything back now and then).
    const fps = 15;
    const frames = encodeVp8Frames({ width: 320, height: 240, fps, frames: 20 });
    assert.deepEqual(vp8KeyframeSize(frames[0]?.[0] as Buffer), { width: 320, height: 240 });
    for (let start = 0; start < 4; start++) {
      let framesOut = 0;
      let firstSize: { width: number; height: number } | undefined;
      const t = new Transcoder({
        codec: "VP8",
        target: { height: 120, bitrateBps: 100_000, keyframeIntervalFrames: 15 },
        log: newSilentLogger(),
        onPacket: (rtp) => {
          firstSize ??= vp8KeyframeSize(rtp);
          if ((rtp[1] as number) & 0x80) framesOut++;
        },
      });
      try {
        for (const [i, frame] of frames.entries()) {
          for (const p of frame) t.push(p);
          // The first 8 frames at once, then at the frame rate.
          if (i >= 8) await new Promise((r) => setTimeout(r, 1000 / fps));
        }
        await waitFor(
          `start ${start}: all ${frames.length} frames out (got ${framesOut})`,
          () => framesOut === frames.length,
          5000,
        );
        assert.deepEqual(firstSize, { width: 160, height: 120 });
      } finally {
        await t.close();
      }
    }
  });

  it("shares one transcoder per publisher and height, stops it after the linger", async () => {
    const metrics = newMetrics({ processMetrics: false });
    const lingerMs = 2000;
    const pool = new TranscoderPool({ config: config({ lingerMs }), metrics, log: newSilentLogger() });
    try {
      const a = pool.acquire(source, 180);
      const b = pool.acquire(source, 180);
      const c = pool.acquire(source, 120);
      assert.ok(a.ok && b.ok && c.ok);
      assert.equal(a.lease.layer, b.lease.layer, "same publisher and height: one layer");
      assert.notEqual(a.lease.layer, c.lease.layer);
      assert.equal(pool.size, 2);
      const [pidA, pidC] = pool.pids;
      assert.ok(pidA !== undefined && pidC !== undefined && pidA !== pidC);
      assert.equal(source.sinkCount, 2, "each layer subscribes once to the source");
      await waitFor("both layers produce", () => a.lease.layer.producing && c.lease.layer.producing, 10_000);
      const releasedAt = performance.now();
      c.lease.release();
      a.lease.release();
      a.lease.release(); // idempotent: b still holds the layer
      await waitFor("the 120-line layer stopped after the linger", () => processGone(pidC), lingerMs + 5000);
      assert.ok(performance.now() - releasedAt >= lingerMs, "not before the linger");
      assert.equal(processGone(pidA), false, "b still holds the 180-line layer");
      assert.deepEqual(pool.pids, [pidA]);
      b.lease.release();
      await new Promise((r) => setTimeout(r, lingerMs / 4));
      // Inside the linger a new listener gets the same process.
      const d = pool.acquire(source, 180);
      assert.ok(d.ok);
      assert.deepEqual(pool.pids, [pidA]);
      const lastReleaseAt = performance.now();
      d.lease.release();
      // The process is gone (kernel) a moment before Node handles its exit and the gauge goes down.
      await waitFor(
        "stopped after the linger",
        () => pool.size === 0 && processGone(pidA) && metrics.transcoderPids.size === 0,
        lingerMs + 5000,
      );
      assert.ok(performance.now() - lastReleaseAt >= lingerMs, "not before the linger");
      assert.equal(source.sinkCount, 0, "no subscription to the source left");
      assert.equal(await metric(metrics, "webrtcsignaling_media_transcoders"), 0, "transcoders gauge");
      assert.equal(
        await metric(metrics, "webrtcsignaling_media_transcoders_started_total"),
        2,
        "transcoders started",
      );
      assert.equal(
        await metric(metrics, "webrtcsignaling_media_transcoder_failures_total"),
        0,
        "transcoder failures",
      );
    } finally {
      await pool.close();
    }
  });

  it("refuses beyond TRANSCODE_MAX (counted, logged), and codecs it cannot decode", async () => {
    const metrics = newMetrics({ processMetrics: false });
    const lines: string[] = [];
    const log = pino({ level: "info" }, { write: (s: string) => lines.push(s) });
    const pool = new TranscoderPool({ config: config({ max: 1 }), metrics, log });
    try {
      const a = pool.acquire(source, 180);
      assert.ok(a.ok);
      const other = { ...sourceLike("room1/bob"), codec: "VP8" as const };
      const refused = pool.acquire(other, 180);
      assert.deepEqual(refused, { ok: false, reason: "max" });
      // Sharing is not refused: the same layer needs no new slot.
      const again = pool.acquire(source, 180);
      assert.ok(again.ok);
      assert.equal(
        await metric(metrics, "webrtcsignaling_media_transcode_refused_total", '{reason="max"}'),
        1,
      );
      assert.ok(lines.some((l) => l.includes('"reason":"max"') && l.includes("transcoding refused")));
      if (!pool.codecs.has("H264")) {
        assert.deepEqual(pool.acquire({ ...sourceLike("room1/carol"), codec: "H264" }, 180), {
          ok: false,
          reason: "codec",
        });
        assert.equal(
          await metric(metrics, "webrtcsignaling_media_transcode_refused_total", '{reason="codec"}'),
          1,
        );
      }
      assert.equal(pool.size, 1);
      a.lease.release();
      again.lease.release();
    } finally {
      await pool.close();
    }
    assert.deepEqual(pool.acquire(source, 180), { ok: false, reason: "closed" });
  });

  it("restarts a transcoder killed with SIGKILL (counted); the layer reports the gap", async () => {
    const metrics = newMetrics({ processMetrics: false });
    const pool = new TranscoderPool({ config: config(), metrics, log: newSilentLogger() });
    try {
      const a = pool.acquire(source, 180);
      assert.ok(a.ok);
      const layer = a.lease.layer;
      await waitFor("producing", () => layer.producing, 10_000);
      const states: boolean[] = [];
      layer.onProducing((p) => states.push(p));
      const pid = pool.pids[0] as number;
      const ssrc = layer.ssrc;
      const killedAt = performance.now();
      process.kill(pid, "SIGKILL");
      await waitFor("the layer reports it stopped", () => states.includes(false), 5000);
      const downMs = performance.now() - killedAt;
      await waitFor("a new process produces", () => layer.producing && pool.pids[0] !== pid, 8000);
      const upMs = performance.now() - killedAt;
      assert.deepEqual(states, [false, true]);
      assert.notEqual(layer.ssrc, ssrc, "the new process has its own SSRC");
      assert.equal(await metric(metrics, "webrtcsignaling_media_transcoder_failures_total"), 1);
      assert.equal(await metric(metrics, "webrtcsignaling_media_transcoders_started_total"), 2);
      assert.equal(await metric(metrics, "webrtcsignaling_media_transcoders"), 1);
      console.log(
        `# transcoder SIGKILL: reported down after ${downMs.toFixed(0)} ms, producing again after ${upMs.toFixed(0)} ms`,
      );
      a.lease.release();
    } finally {
      await pool.close();
    }
  });

  it("kills a transcoder that stops producing while packets come in (SIGSTOP), and starts another", async () => {
    const metrics = newMetrics({ processMetrics: false });
    const pool = new TranscoderPool({ config: config(), metrics, log: newSilentLogger() });
    try {
      const { a, layer, pid } = await producing(pool, source);
      const stoppedAt = performance.now();
      process.kill(pid, "SIGSTOP");
      await waitFor("the stalled process is killed", () => processGone(pid), 9000);
      const killedAfterMs = performance.now() - stoppedAt;
      assert.ok(killedAfterMs >= 4500, `not before ~5 s of silence (${killedAfterMs.toFixed(0)} ms)`);
      await waitFor("a new process produces", () => layer.producing && pool.pids[0] !== pid, 8000);
      assert.equal(await metric(metrics, "webrtcsignaling_media_transcoder_failures_total"), 1);
      a.lease.release();
    } finally {
      await pool.close();
    }
  });

  it("a publisher quiet for longer than the stall bound is not a stalled transcoder: the process goes on when packets come back", async () => {
    const metrics = newMetrics({ processMetrics: false });
    const pool = new TranscoderPool({ config: config(), metrics, log: newSilentLogger() });
    try {
      const { a, layer, pid } = await producing(pool, source);
      source.paused = true;
      await new Promise((r) => setTimeout(r, 6500));
      let after = 0;
      const unsubscribe = layer.subscribe(() => {
        after++;
      });
      // Packets come back, but for 1.5 s none the decoder can make a frame of: the stall bound counts
      // from here, not from the last output before the pause (which a check would see as 8 s of silence).
      source.headersOnlyUntil = performance.now() + 1500;
      source.paused = false;
      await waitFor("output again after the pause", () => after > 10, 6000);
      await new Promise((r) => setTimeout(r, 1500));
      unsubscribe();
      assert.equal(pool.pids[0], pid, "the same process");
      assert.equal(processGone(pid), false);
      assert.equal(await metric(metrics, "webrtcsignaling_media_transcoder_failures_total"), 0);
      a.lease.release();
    } finally {
      source.paused = false;
      source.headersOnlyUntil = 0;
      await pool.close();
    }
  });

  for (const mode of ["pdeathsig", "stdin-eof"] as const) {
    it(`a transcoder dies with its owner process on SIGKILL (${mode})`, async () => {
      const owner = spawn(
        process.execPath,
        [new URL("../helpers/transcode-owner.ts", import.meta.url).pathname, mode],
        {
          stdio: ["ignore", "pipe", "inherit"],
        },
      );
      try {
        const [pid, sourcePid] = await new Promise<[number, number]>((resolve, reject) => {
          owner.stdout.setEncoding("utf8");
          owner.stdout.on("data", (s: string) => {
            const m = /transcoder (\d+) producing source (\d+)/.exec(s);
            if (m) resolve([Number(m[1]), Number(m[2])]);
          });
          owner.once("exit", (code) => reject(new Error(`owner exited (${code})`)));
        });
        assert.equal(processGone(pid), false);
        const killedAt = performance.now();
        owner.kill("SIGKILL");
        await waitFor(`transcoder ${pid} gone after its owner's SIGKILL`, () => processGone(pid), 5000);
        // The owner's test source (no death signal) ends too: its output pipe breaks.
        await waitFor(`source ${sourcePid} gone`, () => processGone(sourcePid), 5000);
        console.log(
          `# ${mode}: transcoder gone ${(performance.now() - killedAt).toFixed(0)} ms after the owner's SIGKILL`,
        );
      } finally {
        owner.kill("SIGKILL");
      }
    });
  }

  it("a transcoder dies with the worker thread that started it", async () => {
    const worker = new Worker(new URL("../helpers/transcode-owner.ts", import.meta.url), {
      argv: ["stdin-eof"],
    });
    const { pid, sourcePid } = await new Promise<{ pid: number; sourcePid: number }>((resolve, reject) => {
      worker.on("message", resolve);
      worker.once("error", reject);
    });
    assert.equal(processGone(pid), false);
    await worker.terminate();
    await waitFor(`transcoder ${pid} gone after worker.terminate()`, () => processGone(pid), 5000);
    await waitFor(`source ${sourcePid} gone`, () => processGone(sourcePid), 5000);
  });
});

const gstCaps = skip ? undefined : detectGstreamer();
const noRunner =
  skip ||
  (gstCaps?.runner === undefined &&
    "GStreamer's Python bindings are missing (apt-get install python3-gst-1.0 gir1.2-gst-plugins-base-1.0)");

describe("transcoder keyframes on demand (gst-runner.py)", { skip: noRunner, timeout: 60_000 }, () => {
  let source: LiveSource;
  before(async () => {
    source = new LiveSource("room1/kf");
    await waitFor("the source's first keyframe", () => source.inputKeyframe, 5000);
  });
  after(() => source?.close());

  it("with a 10 s keyframe interval, a listener's request gets a keyframe within 500 ms, each time; requests closer than 300 ms are throttled", async () => {
    const metrics = newMetrics({ processMetrics: false });
    const pool = new TranscoderPool({
      config: config({ keyframeIntervalMs: 10_000 }),
      metrics,
      log: newSilentLogger(),
    });
    try {
      const got = pool.acquire(source, 180);
      assert.ok(got.ok);
      const layer = got.lease.layer;
      const keyframesAt: number[] = [];
      layer.subscribe((rtp) => {
        if (vp8KeyframeSize(rtp)) keyframesAt.push(performance.now());
      });
      await waitFor("the first keyframe out", () => keyframesAt.length > 0, 10_000);
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal(keyframesAt.length, 1, "no periodic keyframe within 1.5 s (interval 10 s)");
      const latencies: number[] = [];
      for (let i = 0; i < 3; i++) {
        const seen: number = keyframesAt.length;
        const askedAt = performance.now();
        layer.requestKeyframe();
        layer.requestKeyframe(); // a second listener at the same moment: one keyframe for both
        await waitFor(`keyframe ${i + 2}`, () => keyframesAt.length > seen, 2000);
        latencies.push((keyframesAt[seen] as number) - askedAt);
        await new Promise((r) => setTimeout(r, 600));
        assert.equal(keyframesAt.length, seen + 1, "one keyframe per request, not one per listener");
      }
      console.log(
        `# keyframe on demand: ${latencies.map((l) => l.toFixed(0)).join(", ")} ms after the request`,
      );
      for (const l of latencies) assert.ok(l <= 500, `keyframe ${l.toFixed(0)} ms after the request`);
      assert.equal(
        await metric(metrics, "webrtcsignaling_media_transcoder_keyframes_total", '{result="sent"}'),
        3,
      );
      assert.equal(
        await metric(metrics, "webrtcsignaling_media_transcoder_keyframes_total", '{result="throttled"}'),
        3,
      );
      got.lease.release();
    } finally {
      await pool.close();
    }
  });

  it("under gst-launch-1.0 (no bindings) a request is counted as unsupported and the layer goes on", async () => {
    const gst = detectGstreamer({ pythons: [] });
    assert.equal(gst.runner, undefined);
    const metrics = newMetrics({ processMetrics: false });
    const pool = new TranscoderPool({ config: config(), metrics, log: newSilentLogger(), gst });
    try {
      const { a, layer } = await producing(pool, source);
      layer.requestKeyframe();
      assert.equal(
        await metric(metrics, "webrtcsignaling_media_transcoder_keyframes_total", '{result="unsupported"}'),
        1,
      );
      const out0 = layer.stats?.packetsOut ?? 0;
      await waitFor("packets still coming", () => (layer.stats?.packetsOut ?? 0) > out0 + 10, 5000);
      a.lease.release();
    } finally {
      await pool.close();
    }
  });
});

describe("transcoding without GStreamer", () => {
  it("is off with one log line and the metric at 0; every acquire is refused and counted", async () => {
    const gst = detectGstreamer({ gstLaunch: "/nonexistent/gst-launch-1.0" });
    assert.equal(gst.available, false);
    assert.match(gst.reason ?? "", /not found.*apt-get install gstreamer1\.0-tools/);
    const metrics = newMetrics({ processMetrics: false });
    metrics.transcodeAvailable.set(7);
    const lines: string[] = [];
    const log = pino({ level: "info" }, { write: (s: string) => lines.push(s) });
    const pool = new TranscoderPool({ config: config(), metrics, log, gst });
    assert.equal(pool.available, false);
    assert.equal(lines.length, 1);
    assert.match(lines[0] ?? "", /transcoding off: GStreamer not usable/);
    assert.equal(await metric(metrics, "webrtcsignaling_media_transcode_available"), 0);
    assert.deepEqual(pool.acquire(sourceLike("r/a"), 180), { ok: false, reason: "unavailable" });
    assert.equal(
      await metric(metrics, "webrtcsignaling_media_transcode_refused_total", '{reason="unavailable"}'),
      1,
    );
    await pool.close();
  });
});

/** A source that sends nothing (for refusals). */
function sourceLike(id: string): TranscodeSource {
  return { id, codec: "VP8", subscribe: () => () => {}, requestKeyframe: () => {} };
}
