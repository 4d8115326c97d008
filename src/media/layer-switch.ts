import {
  type LayerReason,
  LayerSelector,
  type LayerSelectorOptions,
  type QualityPreference,
} from "./layer-selector.ts";
import type { SimulcastLayers } from "./simulcast-layers.ts";
import { newVp8Info, parseVp8, Vp8PictureRewriter } from "./vp8-descriptor.ts";

export interface LayerSwitchHooks {
  /** The forwarded layer changed (-1: none, i.e. paused or nothing to forward). */
  switched(from: number, to: number, reason: LayerReason): void;
  /** A keyframe of `layer` was asked for, and why. */
  keyframeRequested(layer: number, reason: "layer-switch" | "listener"): void;
}

/**
 * One listener's gate on one simulcast video track: which layer's packets pass (`admit`, per
 * packet), the switch onto the target layer at the first packet of one of its keyframes (asked for
 * with a PLI on that layer's SSRC; until it arrives the current layer keeps flowing), and the VP8
 * picture ID / TL0PICIDX rewrite that hides the change of source from the decoder (sequence
 * numbers and timestamps are the forwarder's RtpRewriter's: a new SSRC continues them).
 * `decide` (on a timer) asks the LayerSelector; a listener's pause stops video at once, a publisher
 * that goes quiet keeps its layer chosen for when it comes back.
 */
export class LayerSwitch {
  readonly selector: LayerSelector;
  readonly rewriter = new Vp8PictureRewriter();
  readonly #layers: SimulcastLayers;
  readonly #hooks: LayerSwitchHooks;
  readonly #info = newVp8Info();
  #current = -1;
  #target = -1;
  /** The SSRC the current layer is forwarded from; another one (re-publish) waits for its keyframe. */
  #currentSsrc = -1;
  /** A new source of the current layer whose keyframe was asked for. */
  #awaitedSsrc = -1;
  /** The last admit started a new layer (on its keyframe). */
  switched = false;
  /** When the target was set or its keyframe last asked for. */
  #askedAt = Number.NEGATIVE_INFINITY;
  #retryMs: number;

  constructor(
    layers: SimulcastLayers,
    options: LayerSelectorOptions & { keyframeRetryMs?: number },
    hooks: LayerSwitchHooks,
  ) {
    this.#layers = layers;
    this.#hooks = hooks;
    this.selector = new LayerSelector(options);
    this.#retryMs = options.keyframeRetryMs ?? 1000;
  }

  /** The layer being forwarded (-1: none). */
  get current(): number {
    return this.#current;
  }

  /** The layer the selector wants (-1: none). */
  get target(): number {
    return this.#target;
  }

  /** Per packet: true when a packet of `layer` is to be forwarded. Switches onto the target's keyframe. */
  admit(layer: number, ssrc: number, payload: Buffer): boolean {
    this.switched = false;
    const current = this.#current;
    if (layer === current) {
      if (ssrc === this.#currentSsrc) return true;
      // The same layer from a new source (the publisher published again): from its keyframe on.
      if (!this.#keyframeStart(payload)) {
        if (this.#awaitedSsrc !== ssrc) {
          this.#awaitedSsrc = ssrc;
          this.#layers.requestKeyframe(layer);
          this.#hooks.keyframeRequested(layer, "layer-switch");
        }
        return false;
      }
      this.#currentSsrc = ssrc;
      this.rewriter.switchTo(ssrc);
      this.switched = true;
      return true;
    }
    if (layer !== this.#target) return false;
    // Only the first packet of a keyframe of the target layer starts it.
    if (!this.#keyframeStart(payload)) return false;
    this.#current = layer;
    this.#currentSsrc = ssrc;
    this.rewriter.switchTo(ssrc);
    this.switched = true;
    this.#hooks.switched(current, layer, this.selector.reason);
    return true;
  }

  #keyframeStart(payload: Buffer): boolean {
    if (((payload[0] ?? 0) & 0x10) === 0) return false;
    return parseVp8(payload, this.#info) && this.#info.keyframe;
  }

  /** Re-evaluates the target now; asks for its keyframe when it differs from the current layer. */
  decide(nowMs: number): void {
    const views = this.#layers.views(nowMs);
    const target = this.selector.decide(views, nowMs);
    if (target !== this.#target) {
      this.#target = target;
      this.#askedAt = Number.NEGATIVE_INFINITY;
    }
    if (target < 0) {
      // Every layer went quiet (the publisher paused, or its packets wait on a starved machine): the
      // current layer stays the forwarded one, so that its packets pass again the moment they come back
      // (the decoder missed nothing) instead of waiting for a keyframe. A pause the listener asked for
      // (no layer under its ceiling) stops video at once.
      if (this.#current >= 0 && this.selector.ceiling(views) < 0) {
        const from = this.#current;
        this.#current = -1;
        this.#hooks.switched(from, -1, this.selector.reason);
      }
      return;
    }
    if (target !== this.#current && nowMs - this.#askedAt >= this.#retryMs) {
      this.#askedAt = nowMs;
      this.#layers.requestKeyframe(target);
      this.#hooks.keyframeRequested(target, "layer-switch");
    }
  }

  /** The listener asked for a keyframe (PLI/FIR): of the layer it gets, or the one it waits for. */
  keyframeNeeded(): void {
    const layer = this.#current >= 0 ? this.#current : this.#target;
    if (layer < 0) return;
    this.#layers.requestKeyframe(layer);
    this.#hooks.keyframeRequested(layer, "listener");
  }

  setPreference(preference: QualityPreference, nowMs: number): void {
    this.selector.setPreference(preference);
    this.decide(nowMs);
  }

  setRoomMaxHeight(height: number): void {
    this.selector.setRoomMaxHeight(height);
  }
}
