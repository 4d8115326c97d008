import { KeyframeRequester } from "./keyframe-requester.ts";
import { LAYER_ACTIVE_MS, type LayerView } from "./layer-selector.ts";
import { newVp8Info, parseVp8 } from "./vp8-descriptor.ts";

/** Bitrates are measured over windows of at least this length. */
const RATE_WINDOW_MS = 500;

/** What is known of one simulcast layer (encoding) of a published video track. */
export interface LayerState {
  readonly rid: string;
  /** The SSRC its packets arrive with; undefined before the first. */
  ssrc: number | undefined;
  lastPacketAtMs: number;
  /** Keyframe start packets seen. */
  keyframes: number;
  width: number;
  height: number;
  /** Smoothed bitrate, bps. */
  bitrate: number;
  /** Payload bytes since the window started. */
  windowBytes: number;
  windowStartMs: number;
}

/**
 * The layers of one simulcast video track as they arrive (by rid, low to high as the publisher
 * lists them): SSRC, activity, bitrate, keyframe size, and a throttled keyframe request (PLI on that
 * layer's SSRC) per layer. Counting costs a few additions per packet; only first packets of frames
 * are parsed (keyframe size). Pure: the PLI itself is the caller's `sendPli(ssrc)`.
 */
export class SimulcastLayers {
  readonly layers: readonly LayerState[];
  readonly #views: LayerView[];
  readonly #requesters: KeyframeRequester[];
  readonly #info = newVp8Info();

  constructor(
    rids: readonly string[],
    keyframeMinIntervalMs: number,
    sendPli: (ssrc: number, layer: number) => boolean,
  ) {
    this.layers = rids.map((rid) => ({
      rid,
      ssrc: undefined,
      lastPacketAtMs: Number.NEGATIVE_INFINITY,
      keyframes: 0,
      width: 0,
      height: 0,
      bitrate: 0,
      windowBytes: 0,
      windowStartMs: Number.NaN,
    }));
    this.#views = rids.map(() => ({ active: false, bitrate: 0, height: 0 }));
    this.#requesters = this.layers.map(
      (layer, i) =>
        new KeyframeRequester(keyframeMinIntervalMs, () => {
          if (layer.ssrc !== undefined) sendPli(layer.ssrc, i);
        }),
    );
  }

  get count(): number {
    return this.layers.length;
  }

  /** Per packet of layer `index`. */
  packet(index: number, ssrc: number, payload: Buffer, nowMs: number): void {
    const l = this.layers[index];
    if (!l) return;
    l.ssrc = ssrc;
    l.lastPacketAtMs = nowMs;
    l.windowBytes += payload.length;
    if (Number.isNaN(l.windowStartMs)) l.windowStartMs = nowMs;
    else if (nowMs - l.windowStartMs >= RATE_WINDOW_MS) this.#roll(l, nowMs);
    // Only a frame's first packet can start a keyframe (S bit, partition 0).
    if (((payload[0] ?? 0) & 0x10) === 0) return;
    const info = this.#info;
    if (parseVp8(payload, info) && info.keyframe) {
      l.keyframes++;
      if (info.height > 0) {
        l.width = info.width;
        l.height = info.height;
      }
    }
  }

  /** Asks the publisher for a keyframe on layer `index` (throttled per layer). */
  requestKeyframe(index: number): void {
    this.#requesters[index]?.request();
  }

  /** The selector's view of the layers now (one reused array). */
  views(nowMs: number): readonly LayerView[] {
    for (let i = 0; i < this.layers.length; i++) {
      const l = this.layers[i] as LayerState;
      const v = this.#views[i] as LayerView;
      v.active = nowMs - l.lastPacketAtMs < LAYER_ACTIVE_MS;
      if (!v.active) {
        l.bitrate = 0;
        l.windowBytes = 0;
        l.windowStartMs = Number.NaN;
      } else if (nowMs - l.windowStartMs >= RATE_WINDOW_MS) this.#roll(l, nowMs);
      v.bitrate = l.bitrate;
      v.height = l.height;
    }
    return this.#views;
  }

  /** The layer whose packets carry this SSRC, or -1. */
  indexOfSsrc(ssrc: number): number {
    for (let i = 0; i < this.layers.length; i++) if ((this.layers[i] as LayerState).ssrc === ssrc) return i;
    return -1;
  }

  close(): void {
    for (const r of this.#requesters) r.close();
  }

  #roll(l: LayerState, nowMs: number): void {
    const rate = (l.windowBytes * 8 * 1000) / (nowMs - l.windowStartMs);
    l.bitrate = l.bitrate === 0 ? rate : 0.6 * l.bitrate + 0.4 * rate;
    l.windowBytes = 0;
    l.windowStartMs = nowMs;
  }
}
