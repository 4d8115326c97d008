import type { TranscodeConfig } from "../../config/media-config.ts";
import type { Logger } from "../../lib/logger.ts";
import { type Metrics, processCpuSeconds } from "../../metrics/metrics.ts";
import { detectGstreamerOnce, GST_RUNNER_PACKAGES, type GstCapabilities } from "./gstreamer.ts";
import { type TranscodeCodec, Transcoder, type TranscoderExit, type TranscoderStats } from "./transcoder.ts";

/**
 * A publisher's video as the pool sees it: RTP packets (bytes, the publisher's numbering) and a way
 * to ask for a keyframe. No werift type: the werift side adapts a PublishedTrack to this.
 */
export interface TranscodeSource {
  /** Identifies the publisher's video track; transcoders are shared per (id, height). */
  readonly id: string;
  /** The codec the publisher sends now (it may change on a re-publish; the transcoder follows). */
  readonly codec: TranscodeCodec;
  /** Every RTP packet of the track, in arrival order; returns the unsubscribe. */
  subscribe(sink: (rtp: Uint8Array) => void): () => void;
  /** Asks the publisher for a keyframe (the source throttles). */
  requestKeyframe(): void;
}

/** The server-made layer: VP8 RTP at `height`, one SSRC per transcoder process (a restart changes it). */
export interface TranscodedLayer {
  readonly key: string;
  readonly height: number;
  /** true while a transcoder process is up and has produced packets since it started. */
  readonly producing: boolean;
  /** The output SSRC of the current process, if one runs. */
  readonly ssrc: number | undefined;
  /** Every packet the layer produces (a Buffer per RTP packet, not to be modified). */
  subscribe(sink: (rtp: Buffer) => void): () => void;
  /** Told when the layer starts producing (true) or stops (false: its process died or closed). */
  onProducing(listener: (producing: boolean) => void): () => void;
  /** Current process's counters, if one runs. */
  readonly stats: TranscoderStats | undefined;
  /**
   * A listener needs a keyframe of this layer (it lost what NACK could not repair, or switches onto
   * it): the encoder makes its next frame one, at most every KEYFRAME_ON_DEMAND_MIN_MS for all
   * listeners together. Under gst-launch-1.0 only the periodic keyframes come.
   */
  requestKeyframe(): void;
}

/** Keyframes on demand of one layer at most this often (a keyframe is 3x a frame: cheap, not free). */
export const KEYFRAME_ON_DEMAND_MIN_MS = 300;

/** One listener's hold on a layer; release() is idempotent. The layer lingers after the last release. */
export interface TranscodeLease {
  readonly layer: TranscodedLayer;
  release(): void;
}

export type RefusalReason = "max" | "unavailable" | "codec" | "closed";

export type AcquireResult = { ok: true; lease: TranscodeLease } | { ok: false; reason: RefusalReason };

export interface TranscoderPoolDeps {
  readonly config: TranscodeConfig;
  readonly metrics: Metrics;
  readonly log: Logger;
  /** Detected GStreamer (default: detectGstreamerOnce(), i.e. looked for once per process). */
  readonly gst?: GstCapabilities;
}

/** Without output for this long while packets come in, the publisher is asked for a keyframe again. */
const NO_OUTPUT_KEYFRAME_MS = 1500;
const WATCHDOG_MS = 500;
/** A process that had produced and then made nothing this long while packets kept coming is killed (and restarted). */
const STALL_MS = 5000;
/**
 * A transcoder that dies is restarted at once if it had produced packets and it is the first death in
 * a row; otherwise after 1 s, doubling per death in a row up to 10 s (a stream that kills the decoder
 * every time does not spin). A process that ran this long resets the count.
 */
const STABLE_RUN_MS = 10_000;
const RESTART_PAUSE_MS = 1000;
const RESTART_PAUSE_MAX_MS = 10_000;

/**
 * Transcoders shared per (publisher track, height). acquire() hands out leases; the first lease of
 * a key starts a transcoder (if fewer than TRANSCODE_MAX run), the last release starts the linger
 * timer, after which the process is stopped. A process that dies while leases are held is restarted
 * (the layer reports producing=false until the new one produces). close() stops everything.
 */
export class TranscoderPool {
  readonly #config: TranscodeConfig;
  readonly #metrics: Metrics;
  readonly #log: Logger;
  readonly #gst: GstCapabilities;
  readonly #layers = new Map<string, SharedLayer>();
  #closed = false;

  constructor(deps: TranscoderPoolDeps) {
    this.#config = deps.config;
    this.#metrics = deps.metrics;
    this.#log = deps.log.child({ component: "transcode" });
    // TRANSCODE_MAX=0: GStreamer is not even looked for (no child process at start).
    this.#gst =
      deps.gst ??
      (this.#config.max > 0
        ? detectGstreamerOnce()
        : { available: false, reason: "TRANSCODE_MAX=0", codecs: new Set(), gstLaunch: "gst-launch-1.0" });
    const on = this.#gst.available && this.#config.max > 0;
    this.#metrics.transcodeAvailable.set(on ? 1 : 0);
    if (this.#config.max === 0) {
      this.#log.info("transcoding off: TRANSCODE_MAX=0");
    } else if (!this.#gst.available) {
      this.#log.warn({ reason: this.#gst.reason }, "transcoding off: GStreamer not usable");
    } else {
      this.#log.info(
        {
          max: this.#config.max,
          codecs: [...this.#gst.codecs],
          deathSignal: this.#gst.deathSignalPrefix !== undefined,
          keyframesOnDemand: this.#gst.runner !== undefined,
          ...(this.#gst.runner
            ? {}
            : {
                hint: `keyframes only every TRANSCODE_KEYFRAME_INTERVAL_MS: apt-get install ${GST_RUNNER_PACKAGES}`,
              }),
        },
        "transcoding on",
      );
    }
  }

  /** true when GStreamer was found and TRANSCODE_MAX > 0. */
  get available(): boolean {
    return this.#gst.available && this.#config.max > 0;
  }

  get codecs(): ReadonlySet<TranscodeCodec> {
    return this.#gst.codecs;
  }

  /** Layers that hold a slot (running, restarting or lingering). */
  get size(): number {
    return this.#layers.size;
  }

  /** The pids of the running transcoder processes. */
  get pids(): number[] {
    return [...this.#layers.values()].flatMap((l) => (l.pid !== undefined ? [l.pid] : []));
  }

  /**
   * A lease on the layer of `source` at `height`: the running one, or a new transcoder. Refused
   * (logged and counted) when transcoding is off, the codec cannot be decoded, or TRANSCODE_MAX
   * transcoders hold a slot; the caller then keeps the lowest layer there is.
   */
  acquire(source: TranscodeSource, height: number): AcquireResult {
    const key = `${source.id}@${height}`;
    const refuse = (reason: RefusalReason): AcquireResult => {
      if (reason !== "closed") this.#metrics.transcodeRefused.inc({ reason });
      this.#log.info(
        { key, reason, running: this.#layers.size, max: this.#config.max },
        "transcoding refused",
      );
      return { ok: false, reason };
    };
    if (this.#closed) return refuse("closed");
    if (!this.available) return refuse("unavailable");
    if (!this.#gst.codecs.has(source.codec)) return refuse("codec");
    let layer = this.#layers.get(key);
    if (!layer) {
      if (this.#layers.size >= this.#config.max) return refuse("max");
      layer = new SharedLayer(key, source, height, {
        config: this.#config,
        metrics: this.#metrics,
        log: this.#log.child({ transcode: key }),
        gst: this.#gst,
        onIdle: (l) => {
          if (this.#layers.get(l.key) === l) this.#layers.delete(l.key);
        },
      });
      this.#layers.set(key, layer);
    }
    return { ok: true, lease: layer.lease() };
  }

  /** Stops every transcoder and waits for the processes to exit; later acquire() calls are refused. */
  async close(): Promise<void> {
    this.#closed = true;
    const layers = [...this.#layers.values()];
    this.#layers.clear();
    await Promise.all(layers.map((l) => l.close()));
  }
}

interface SharedLayerDeps {
  config: TranscodeConfig;
  metrics: Metrics;
  log: Logger;
  gst: GstCapabilities;
  onIdle: (layer: SharedLayer) => void;
}

/** One (source, height) layer: its leases, its current transcoder process, restarts and linger. */
class SharedLayer implements TranscodedLayer {
  readonly key: string;
  readonly height: number;
  readonly #source: TranscodeSource;
  readonly #deps: SharedLayerDeps;
  #leases = 0;
  #sinks: Array<(rtp: Buffer) => void> = [];
  #producingListeners: Array<(producing: boolean) => void> = [];
  #transcoder: Transcoder | undefined;
  #inputCodec: TranscodeCodec | undefined;
  #producing = false;
  #unsubscribeSource: (() => void) | undefined;
  #linger: NodeJS.Timeout | undefined;
  #restart: NodeJS.Timeout | undefined;
  #watchdog: NodeJS.Timeout;
  #closed = false;
  #closing: Promise<void> | undefined;
  #lastInputAt = 0;
  #keyframeAskedAt = Number.NEGATIVE_INFINITY;
  /** When packets came in again after a quiet publisher (or at the first one): silence is counted from here. */
  #inputResumedAt = 0;
  #deathsInARow = 0;

  constructor(key: string, source: TranscodeSource, height: number, deps: SharedLayerDeps) {
    this.key = key;
    this.height = height;
    this.#source = source;
    this.#deps = deps;
    this.#unsubscribeSource = source.subscribe((rtp) => this.#push(rtp));
    this.#watchdog = setInterval(() => this.#check(), WATCHDOG_MS);
    this.#watchdog.unref();
    this.#start();
  }

  get producing(): boolean {
    return this.#producing;
  }

  get ssrc(): number | undefined {
    return this.#transcoder?.running ? this.#transcoder.outputSsrc : undefined;
  }

  get pid(): number | undefined {
    return this.#transcoder?.running ? this.#transcoder.pid : undefined;
  }

  get stats(): TranscoderStats | undefined {
    return this.#transcoder?.stats;
  }

  subscribe(sink: (rtp: Buffer) => void): () => void {
    this.#sinks = [...this.#sinks, sink];
    return () => {
      this.#sinks = this.#sinks.filter((s) => s !== sink);
    };
  }

  onProducing(listener: (producing: boolean) => void): () => void {
    this.#producingListeners = [...this.#producingListeners, listener];
    return () => {
      this.#producingListeners = this.#producingListeners.filter((l) => l !== listener);
    };
  }

  requestKeyframe(): void {
    const t = this.#transcoder;
    if (!t?.running) return;
    const { metrics } = this.#deps;
    if (!t.keyframesOnDemand) {
      metrics.transcoderKeyframes.inc({ result: "unsupported" });
      return;
    }
    const now = performance.now();
    if (now - this.#keyframeAskedAt < KEYFRAME_ON_DEMAND_MIN_MS) {
      metrics.transcoderKeyframes.inc({ result: "throttled" });
      return;
    }
    this.#keyframeAskedAt = now;
    if (t.requestKeyframe()) metrics.transcoderKeyframes.inc({ result: "sent" });
  }

  lease(): TranscodeLease {
    this.#leases++;
    clearTimeout(this.#linger);
    this.#linger = undefined;
    let released = false;
    return {
      layer: this,
      release: () => {
        if (released) return;
        released = true;
        this.#leases--;
        if (this.#leases === 0 && !this.#closed) {
          this.#linger = setTimeout(() => {
            this.#deps.onIdle(this);
            void this.close();
          }, this.#deps.config.lingerMs);
        }
      },
    };
  }

  #start(): void {
    if (this.#closed) return;
    const { config, metrics, log, gst } = this.#deps;
    // vp8enc counts the keyframe interval in frames and the source's rate is not known before decoding:
    // 15 fps assumed, so the interval is at most keyframeIntervalMs for any source at 15 fps or more.
    const fps = 15;
    this.#inputCodec = this.#source.codec;
    const t = new Transcoder({
      codec: this.#inputCodec,
      target: {
        height: this.height,
        bitrateBps: config.bitrateBps,
        keyframeIntervalFrames: Math.max(1, Math.round((config.keyframeIntervalMs / 1000) * fps)),
      },
      gstLaunch: gst.gstLaunch,
      ...(gst.runner ? { runner: gst.runner } : {}),
      ...(gst.deathSignalPrefix ? { deathSignalPrefix: gst.deathSignalPrefix } : {}),
      log,
      onPacket: (rtp) => this.#output(t, rtp),
      onExit: (exit) => this.#exited(t, exit),
    });
    this.#transcoder = t;
    metrics.transcodersStarted.inc();
    if (t.pid !== undefined) {
      metrics.transcoderPids.set(t.pid, processCpuSeconds(t.pid) ?? 0);
      metrics.transcoders.inc();
    }
    log.info({ pid: t.pid, codec: this.#source.codec, height: this.height }, "transcoder started");
    this.#source.requestKeyframe();
  }

  #push(rtp: Uint8Array): void {
    const t = this.#transcoder;
    if (!t?.running) return;
    const now = performance.now();
    if (now - this.#lastInputAt >= NO_OUTPUT_KEYFRAME_MS) this.#inputResumedAt = now;
    this.#lastInputAt = now;
    // A re-publish with another codec: the pipeline no longer fits.
    if (this.#source.codec !== this.#inputCodec) {
      this.#replace();
      return;
    }
    t.push(rtp);
  }

  #output(t: Transcoder, rtp: Buffer): void {
    if (t !== this.#transcoder) return;
    if (!this.#producing) this.#setProducing(true);
    const sinks = this.#sinks;
    for (let i = 0; i < sinks.length; i++) (sinks[i] as (rtp: Buffer) => void)(rtp);
  }

  #setProducing(producing: boolean): void {
    this.#producing = producing;
    for (const l of this.#producingListeners) l(producing);
  }

  #forgetProcess(t: Transcoder): void {
    if (t.pid === undefined) return;
    const { metrics } = this.#deps;
    if (metrics.transcoderPids.delete(t.pid)) metrics.transcoders.dec();
  }

  #exited(t: Transcoder, exit: TranscoderExit): void {
    this.#forgetProcess(t);
    if (t !== this.#transcoder) return;
    if (this.#producing) this.#setProducing(false);
    if (exit.requested || this.#closed) return;
    const { metrics, log } = this.#deps;
    metrics.transcoderFailures.inc();
    const ranMs = performance.now() - t.stats.startedAt;
    this.#transcoder = undefined;
    this.#deathsInARow = ranMs >= STABLE_RUN_MS ? 1 : this.#deathsInARow + 1;
    const pause =
      this.#deathsInARow === 1 && t.stats.packetsOut > 0
        ? 0
        : Math.min(RESTART_PAUSE_MAX_MS, RESTART_PAUSE_MS * 2 ** (this.#deathsInARow - 1));
    log.warn(
      {
        pid: t.pid,
        code: exit.code,
        signal: exit.signal,
        error: exit.error,
        stderr: exit.stderr,
        ranMs: Math.round(ranMs),
        restartInMs: pause,
      },
      "transcoder exited on its own; restarting",
    );
    this.#restart = setTimeout(() => {
      this.#restart = undefined;
      this.#start();
    }, pause);
  }

  /** Stops the current process on purpose and starts another (codec change). */
  #replace(): void {
    const old = this.#transcoder;
    this.#transcoder = undefined;
    if (old) {
      // Read its CPU one last time: the process's /proc entry goes with it.
      this.#foldCpu(old);
      void old.close();
    }
    if (this.#producing) this.#setProducing(false);
    this.#start();
  }

  #foldCpu(t: Transcoder): void {
    if (t.pid === undefined) return;
    const { metrics } = this.#deps;
    const counted = metrics.transcoderPids.get(t.pid);
    const now = processCpuSeconds(t.pid);
    if (counted !== undefined && now !== undefined && now > counted) {
      metrics.transcoderPids.set(t.pid, now);
      metrics.transcoderCpu.inc(now - counted);
    }
  }

  /**
   * Asks for a keyframe again while packets come in and the decoder has produced nothing: every
   * round until the first output of a process (the first request may be lost), then after
   * NO_OUTPUT_KEYFRAME_MS without output (a loss the decoder could not get past). A process silent
   * for STALL_MS after having produced, while packets come in, is killed; the exit path restarts it.
   * Both count from when packets came back after a pause of the publisher.
   */
  #check(): void {
    const t = this.#transcoder;
    if (!t?.running) return;
    const now = performance.now();
    const s = t.stats;
    if (now - this.#lastInputAt >= NO_OUTPUT_KEYFRAME_MS) return;
    // A publisher that paused is not the process's silence: it is counted from when packets came back.
    const silentSince =
      s.lastOutputAt === undefined ? undefined : Math.max(s.lastOutputAt, this.#inputResumedAt);
    if (silentSince !== undefined && now - silentSince > STALL_MS && now - s.startedAt > STALL_MS) {
      this.#deps.log.warn(
        { pid: t.pid, silentMs: Math.round(now - silentSince) },
        "transcoder stalled; killing it",
      );
      t.kill();
      return;
    }
    if (silentSince === undefined || now - silentSince > NO_OUTPUT_KEYFRAME_MS)
      this.#source.requestKeyframe();
  }

  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#linger);
    clearTimeout(this.#restart);
    clearInterval(this.#watchdog);
    this.#unsubscribeSource?.();
    this.#unsubscribeSource = undefined;
    const t = this.#transcoder;
    if (t) {
      this.#foldCpu(t);
      await t.close();
      this.#forgetProcess(t);
    }
    this.#deps.log.info({ pid: t?.pid }, "transcoder stopped");
    if (this.#producing) this.#setProducing(false);
    this.#sinks = [];
    this.#producingListeners = [];
  }
}
