/**
 * Which simulcast layer one listener gets of one publisher's video. Pure: no timers, no werift; the
 * caller feeds the listener's bandwidth feedback (REMB, receiver-report loss) and asks `decide`
 * with the publisher's layers as they are now.
 *
 * Layers are indexed low to high quality (the order of the publisher's a=simulcast rids). The choice:
 * 1. a ceiling from what the listener asked for (`maxLayer`; `maxHeight`: the lowest layer at least
 *    that tall, the top one if none is) and from the room size (the same rule with the height that
 *    eventUserMediaConfiguration announces, only for members that did not set maxLayer or maxHeight);
 *    `paused`: no video at all (-1);
 * 2. under it, the best active layer (packets in the last LAYER_ACTIVE_MS) that the listener's
 *    estimate carries: the estimate is the smaller of its last REMB and a loss-based value
 *    (x(1 - loss/2) above 10 % loss, +step below 2 %, never below the REMB while there is no loss);
 * 3. hysteresis: down at once when the current layer's bitrate exceeds the estimate and there is
 *    evidence of congestion: the first REMB or a REMB that fell (15 % under the highest since the
 *    last fall), for 2 s and then while the REMB stays within 5 % of the value it fell to; or loss; or one layer when loss is high. A REMB that is low but not
 *    falling is a receiver's estimate climbing back after a fall, not congestion; the start estimate
 *    is a guess. A REMB fall within STALL_GRACE_MS of the server's own stall (its decisions
 *    STALL_GAP_MS apart) is the echo of the burst the stall caused and counts only with loss; the
 *    decision right after a stall is skipped. Up one layer at a time, when the next layer fits the
 *    estimate with a 15 % margin for `upHoldMs`.
 * 4. probing: a receiver's REMB grows at most ~8 %/s and hardly above 1.5x what it receives, so a
 *    listener on a low layer would be offered the next one late or never. While the next layer does
 *    not fit but the estimate is above the current layer's bitrate (1.1x), or a REMB is below it
 *    with no REMB fall for 4 s (climbing back), and there was no loss for 4 s, `probeBps` asks the forwarder to add padding (retransmissions of recent packets over RTX,
 *    which the decoder drops as duplicates) up to the next layer's bitrate. If for PROBE_CONFIRM_MS
 *    the REMB does not fall (15 % below its value at the start, or 3 % below its highest since: the
 *    receiver's delay detector saw the queue grow) and no loss is reported, the link carried the next layer's rate:
 *    the listener switches up and that rate (+15 %) stands in for the estimate until the REMB
 *    catches up, falls 15 % or loss appears. Otherwise (a REMB fall, reported loss or a NACK) the probe failed: padding stops and the next
 *    probe waits 2, 4, then 6 s (`maxProbeBackoffMs`). The picture itself is never the probe.
 */

/** A layer that sent nothing for this long is not offered (the publisher stopped it). */
export const LAYER_ACTIVE_MS = 600;

export interface LayerView {
  /** Packets arrived recently (see LAYER_ACTIVE_MS). */
  active: boolean;
  /** Measured bitrate in bits per second (0 when unknown). */
  bitrate: number;
  /** Frame height from the layer's last keyframe; 0 when unknown. */
  height: number;
}

export interface QualityPreference {
  maxHeight?: number;
  maxLayer?: number;
  paused?: boolean;
}

export interface LayerSelectorOptions {
  /** Estimate before any feedback, bps. */
  startBitrate: number;
  minBitrate: number;
  maxBitrate: number;
  /** Loss-based increase per feedback round (RR), bps. */
  step: number;
  /** How long an upward condition must hold. */
  upHoldMs?: number;
  /** Unused (kept for callers): probes are padding now, see PROBE_MAX_MS. */
  probeFailMs?: number;
  maxProbeBackoffMs?: number;
}

/** Why the selector chose its layer (for metrics and logs). */
export type LayerReason = "start" | "preference" | "bandwidth" | "probe" | "layer-stopped" | "paused";

const LOSS_HIGH = 0.1;
const LOSS_LOW = 0.02;
/** The next layer counts as fitting when its bitrate times this is within the estimate. */
const UP_MARGIN = 1.15;
/** A probe needs an estimate at least this much above the current layer's bitrate. */
const PROBE_HEADROOM = 1.1;
/** Padding brings what the listener receives up to this fraction of the next layer's bitrate. */
const PROBE_TARGET = 1;
/** A probe that ran this long without a REMB drop or loss succeeded. */
const PROBE_CONFIRM_MS = 2500;
/** No probe while there was loss (>= 2 %) this recently. */
const PROBE_QUIET_MS = 4000;
/** A probe fails when the REMB falls this far below its value at the probe's start. */
const PROBE_REMB_DROP = 0.85;
/**
 * A probe also fails when the REMB falls this far below the highest one since the probe started.
 * While a link carries the padding the receiver's estimate only grows (it is capped at 1.5x what it
 * receives, and that grows); libwebrtc sends a REMB at once when its estimate falls 3 % or more,
 * which it does when its delay detector sees the bottleneck queue grow. That is the link saying
 * "full" a few hundred milliseconds before its queue overflows: the start-relative test above fires
 * only later (the fall is to 0.85x what it receives, which the padding itself raised), after the
 * queue has dropped audio and video that are not padding.
 */
const PROBE_OVERUSE = 0.97;
/** The loss-based estimate moves at most once per this interval. */
const LOSS_ROUND_MS = 1000;
/** Without any REMB, only loss this recent counts as a reason to go down. */
const LOSS_MEMORY_MS = 10_000;
/** A REMB this far below the highest one since the last fall is a fall (the receiver saw overuse). */
const REMB_FALL = 0.85;
/**
 * A REMB fall takes a listener down for this long after it arrived, and after that as long as the
 * REMB has not climbed more than REMB_CLIMBED above the value it fell to (a layer that fits may
 * become available later, e.g. a server-made one).
 */
const REMB_FALL_MEMORY_MS = 2000;
const REMB_CLIMBED = 1.05;
/**
 * Two decisions this far apart mean the server's own event loop stalled (they are 250 ms apart): the
 * packets that waited meanwhile went out as one burst, which a receiver's delay-based estimator reads
 * as overuse whatever the link.
 */
export const STALL_GAP_MS = 500;
/** A REMB fall this soon after such a stall is the stall's echo, not the link's: ignored unless loss confirms it. */
export const STALL_GRACE_MS = 1000;

export class LayerSelector {
  readonly #o: Required<LayerSelectorOptions>;
  #remb = Number.POSITIVE_INFINITY;
  #lossEstimate: number;
  #lastLoss = 0;
  #lastLossAt = Number.NEGATIVE_INFINITY;
  /** Last report with loss >= LOSS_LOW. */
  #lastAnyLossAt = Number.NEGATIVE_INFINITY;
  /** The loss-based estimate's round: when it last moved and the worst loss since. */
  #roundAt = Number.NEGATIVE_INFINITY;
  #roundLoss = 0;
  #preference: QualityPreference = {};
  #roomMaxHeight = 0;
  /** The layer last chosen (-1: none). */
  #layer = -1;
  #reason: LayerReason = "start";
  /** Since when the upward condition holds (NaN: it does not). */
  #upSince = Number.NaN;
  #lastDownAt = Number.NEGATIVE_INFINITY;
  #backoffMs: number;
  /** Probing: since when (NaN: not probing), the REMB then, the padding asked for, the last failure. */
  #probeSince = Number.NaN;
  #probeStartRemb = 0;
  #probePeakRemb = 0;
  #probeBps = 0;
  #lastProbeFailAt = Number.NEGATIVE_INFINITY;
  /** The rate a successful probe showed the link carries (0: none), and the REMB at that time. */
  #probed = 0;
  #probedRemb = 0;
  /** The ceiling of the previous decision: a raised ceiling allows the fitting layer at once. */
  #lastTop = -1;
  /** The highest REMB since the last fall (0: none yet); a fall arrived since the last decision. */
  #rembPeak = 0;
  #rembFell: "no" | "first" | "fell" = "no";
  /**
   * When the last REMB fall that counts was seen (at a decision; the first REMB counts for going
   * down, not against probing), and the server's last own stall.
   */
  #lastRembFallAt = Number.NEGATIVE_INFINITY;
  #lastRembDropAt = Number.NEGATIVE_INFINITY;
  /** The REMB that last counted as a fall (0: none, or its evidence was withdrawn). */
  #fallRemb = 0;
  #lastDecideAt = Number.NaN;
  #lastStallAt = Number.NEGATIVE_INFINITY;

  constructor(options: LayerSelectorOptions) {
    this.#o = {
      upHoldMs: 2000,
      probeFailMs: 4000,
      maxProbeBackoffMs: 6000,
      ...options,
    };
    this.#lossEstimate = options.startBitrate;
    this.#backoffMs = this.#o.upHoldMs;
  }

  get layer(): number {
    return this.#layer;
  }

  /** Padding the forwarder should add now, bit/s (0: not probing). */
  get probeBps(): number {
    return this.#probeBps;
  }

  get reason(): LayerReason {
    return this.#reason;
  }

  /** The listener's bandwidth estimate in bps (REMB and loss), clamped to [min, max]. */
  get estimate(): number {
    const e = Math.max(Math.min(this.#remb, this.#lossEstimate), this.#probed);
    return Math.min(this.#o.maxBitrate, Math.max(this.#o.minBitrate, e));
  }

  get preference(): Readonly<QualityPreference> {
    return this.#preference;
  }

  /** A REMB from the listener's connection, bps. */
  remb(bitrate: number): void {
    if (!Number.isFinite(bitrate) || bitrate <= 0) return;
    this.#remb = bitrate;
    if (!Number.isNaN(this.#probeSince)) this.#probePeakRemb = Math.max(this.#probePeakRemb, bitrate);
    // The first REMB is the receiver's first measurement: it counts as a fall (it may take the
    // listener down from a start-estimate layer); later only a fall does, not a low but rising value.
    if (this.#rembPeak === 0 || bitrate < this.#rembPeak * REMB_FALL) {
      this.#rembFell = this.#rembPeak === 0 ? "first" : "fell";
      this.#rembPeak = bitrate;
    } else this.#rembPeak = Math.max(this.#rembPeak, bitrate);
    if (this.#probed > 0 && (bitrate >= this.#probed || bitrate < this.#probedRemb * PROBE_REMB_DROP))
      this.#probed = 0;
    // The loss-based value only binds while there is loss: without, the REMB is the estimate.
    if (this.#lastLoss < LOSS_LOW) this.#lossEstimate = Math.max(this.#lossEstimate, bitrate);
  }

  /**
   * The listener NACKed a media packet: the bottleneck dropped one. A running probe fails now rather
   * than at the next receiver report (its padding stops with the next slice), so the repairs do not
   * queue behind padding in a queue that is already full.
   */
  nack(nowMs: number): void {
    if (!Number.isNaN(this.#probeSince)) this.#probeFailed(nowMs);
  }

  /**
   * fractionLost (0..1) of a receiver report on the listener's video stream. Receivers send reports
   * in every compound packet (with each NACK or REMB), so the loss-based estimate moves at most once
   * per LOSS_ROUND_MS, on the worst loss of the round; high loss is acted on at once by `decide`.
   */
  loss(fraction: number, nowMs: number): void {
    const { minBitrate, maxBitrate, step } = this.#o;
    this.#lastLoss = fraction;
    if (fraction > LOSS_HIGH) this.#lastLossAt = nowMs;
    if (fraction >= LOSS_LOW) {
      this.#lastAnyLossAt = nowMs;
      this.#probed = 0;
    }
    this.#roundLoss = Math.max(this.#roundLoss, fraction);
    if (nowMs - this.#roundAt < LOSS_ROUND_MS) return;
    const worst = this.#roundLoss;
    this.#roundAt = nowMs;
    this.#roundLoss = 0;
    if (worst > LOSS_HIGH) this.#lossEstimate *= 1 - 0.5 * worst;
    else if (worst < LOSS_LOW)
      this.#lossEstimate = Math.max(this.#lossEstimate + step, Number.isFinite(this.#remb) ? this.#remb : 0);
    this.#lossEstimate = Math.min(maxBitrate * 2, Math.max(minBitrate, this.#lossEstimate));
  }

  setPreference(preference: QualityPreference): void {
    this.#preference = { ...preference };
  }

  /** The height the room's size allows (eventUserMediaConfiguration's height.max); 0: no limit. */
  setRoomMaxHeight(height: number): void {
    this.#roomMaxHeight = height;
  }

  /** The highest layer index allowed by preference and room size (-1: paused, or no layer). */
  ceiling(layers: readonly LayerView[]): number {
    if (this.#preference.paused || layers.length === 0) return -1;
    let top = layers.length - 1;
    const { maxLayer, maxHeight } = this.#preference;
    if (maxLayer !== undefined) top = Math.min(top, Math.max(0, maxLayer));
    if (maxHeight !== undefined) top = Math.min(top, layerForHeight(layers, maxHeight));
    // The room size is the default for members that did not say what they show.
    if (this.#roomMaxHeight > 0 && maxLayer === undefined && maxHeight === undefined)
      top = Math.min(top, layerForHeight(layers, this.#roomMaxHeight));
    return top;
  }

  /** Chooses the layer for now; -1 when paused or no layer is active. */
  decide(layers: readonly LayerView[], nowMs: number): number {
    const stalled = nowMs - this.#lastDecideAt > STALL_GAP_MS;
    if (stalled) this.#lastStallAt = nowMs;
    this.#lastDecideAt = nowMs;
    if (this.#rembFell !== "no") {
      if (this.#rembFell === "first") {
        this.#lastRembFallAt = nowMs;
        this.#fallRemb = this.#remb;
      } else if (
        nowMs - this.#lastStallAt >= STALL_GRACE_MS ||
        nowMs - this.#lastAnyLossAt < STALL_GRACE_MS
      ) {
        this.#lastRembFallAt = nowMs;
        this.#lastRembDropAt = nowMs;
        this.#fallRemb = this.#remb;
      } else {
        // The stall's echo. An earlier fall was acted on already: it lends no evidence to this one.
        this.#lastRembFallAt = Number.NEGATIVE_INFINITY;
        this.#fallRemb = 0;
      }
      this.#rembFell = "no";
    }
    // Right after the stall the layers' activity and bitrates describe the stall (timers run before
    // the packets that waited are read): no decision on them (a preference change still applies).
    if (stalled && this.#layer >= 0 && this.ceiling(layers) === this.#lastTop) return this.#layer;
    const probing = this.#probeBps > 0;
    this.#probeBps = 0;
    const top = this.ceiling(layers);
    const raised = top > this.#lastTop;
    this.#lastTop = top;
    if (top < 0) return this.#set(-1, "paused", nowMs);
    const current = this.#layer;
    // After a successful probe, until the REMB catches up (or congestion shows), the layer the
    // probe moved to counts as carried even if its bitrate grows past the probed rate.
    const carried =
      this.#probed > 0 && current >= 0 ? ((layers[current] as LayerView | undefined)?.bitrate ?? 0) : 0;
    const estimate = Math.max(this.estimate, carried);
    // Best active layer under the ceiling whose bitrate the estimate carries (the lowest active one if none).
    let fit = -1;
    let lowestActive = -1;
    for (let i = 0; i <= top; i++) {
      const l = layers[i] as LayerView;
      if (!l.active) continue;
      if (lowestActive < 0) lowestActive = i;
      if (l.bitrate <= estimate) fit = i;
    }
    if (lowestActive < 0) {
      // Nothing active under the ceiling: the lowest active layer above it, if any.
      for (let i = top + 1; i < layers.length; i++)
        if ((layers[i] as LayerView).active) return this.#set(i, "layer-stopped", nowMs);
      return this.#set(-1, "layer-stopped", nowMs);
    }
    if (fit < 0) fit = lowestActive;
    if (current < 0 || current >= layers.length) {
      this.#upSince = Number.NaN;
      return this.#set(fit, current < 0 && this.#reason === "start" ? "start" : "preference", nowMs);
    }
    if (current > top) return this.#set(fit, "preference", nowMs);
    const cur = layers[current] as LayerView;
    if (!cur.active) return this.#set(fit, "layer-stopped", nowMs);
    const lossy = this.#lastLoss > LOSS_HIGH && nowMs - this.#lastLossAt < 2000;
    // Down on evidence of congestion only: a REMB that fell (its value lags: after a fall a
    // receiver's estimate climbs back a few % per second, below what the link carries, and the
    // start estimate is a guess), or recent loss.
    const evidence =
      nowMs - this.#lastRembFallAt < REMB_FALL_MEMORY_MS ||
      (this.#fallRemb > 0 && this.#remb <= this.#fallRemb * REMB_CLIMBED) ||
      nowMs - this.#lastAnyLossAt < LOSS_MEMORY_MS;
    if ((fit < current && evidence) || (lossy && current > lowestActive)) {
      const to = fit < current ? fit : previousActive(layers, current);
      this.#upSince = Number.NaN;
      if (probing) this.#probeFailed(nowMs);
      this.#lastDownAt = nowMs;
      return this.#set(to, "bandwidth", nowMs);
    }
    if (raised && fit > current) {
      // The member asked for more (a larger tile, resumed): no hold when the estimate carries it.
      this.#upSince = Number.NaN;
      return this.#set(fit, "preference", nowMs);
    }
    const next = nextActive(layers, current, top);
    if (next < 0) {
      this.#upSince = Number.NaN;
      return current;
    }
    const nextBitrate = (layers[next] as LayerView).bitrate;
    const nextFits = nextBitrate * UP_MARGIN <= estimate;
    if (!nextFits) {
      this.#upSince = Number.NaN;
      if (!this.#probe(cur.bitrate, nextBitrate, estimate, probing, nowMs)) return current;
      // The probe carried the next layer's rate: up now.
      this.#backoffMs = this.#o.upHoldMs;
      return this.#set(next, "probe", nowMs);
    }
    // The next layer fits: keep any probe going while the condition is held.
    if (probing) this.#probeBps = Math.max(0, nextBitrate * PROBE_TARGET - cur.bitrate);
    if (Number.isNaN(this.#upSince)) this.#upSince = nowMs;
    if (nowMs - this.#upSince < this.#o.upHoldMs) return current;
    this.#upSince = Number.NaN;
    this.#backoffMs = this.#o.upHoldMs;
    this.#probeSince = Number.NaN;
    this.#probeBps = 0;
    return this.#set(next, probing ? "probe" : "bandwidth", nowMs);
  }

  /**
   * Starts, continues or ends a padding probe towards the next layer (sets #probeBps); true when it
   * succeeded (the caller switches up).
   */
  #probe(
    curBitrate: number,
    nextBitrate: number,
    estimate: number,
    probing: boolean,
    nowMs: number,
  ): boolean {
    const quiet = nowMs - this.#lastAnyLossAt >= PROBE_QUIET_MS;
    if (probing) {
      const rembDropped =
        Number.isFinite(this.#remb) &&
        (this.#remb < this.#probeStartRemb * PROBE_REMB_DROP ||
          this.#remb < this.#probePeakRemb * PROBE_OVERUSE);
      if (!quiet || rembDropped) {
        this.#probeFailed(nowMs);
        return false;
      }
      if (nowMs - this.#probeSince >= PROBE_CONFIRM_MS) {
        this.#probeSince = Number.NaN;
        this.#probed = nextBitrate * UP_MARGIN;
        this.#probedRemb = Number.isFinite(this.#remb) ? this.#remb : 0;
        return true;
      }
      this.#probeBps = Math.max(0, nextBitrate * PROBE_TARGET - curBitrate);
      return false;
    }
    // Headroom over the current layer; or an estimate under the layer the listener has been taking
    // without loss or a REMB fall for PROBE_QUIET_MS: that REMB is climbing back from a fall (a few %
    // per second) and says nothing about the link, which the probe measures instead.
    const calm = nowMs - this.#lastRembDropAt >= PROBE_QUIET_MS;
    const lagging = Number.isFinite(this.#remb) && estimate < curBitrate;
    const allowed =
      curBitrate > 0 &&
      nextBitrate > 0 &&
      (estimate >= curBitrate * PROBE_HEADROOM || (lagging && calm)) &&
      quiet &&
      nowMs - this.#lastDownAt >= this.#backoffMs &&
      nowMs - this.#lastProbeFailAt >= this.#backoffMs;
    if (!allowed) return false;
    this.#probeSince = nowMs;
    this.#probeStartRemb = Number.isFinite(this.#remb) ? this.#remb : 0;
    this.#probePeakRemb = this.#probeStartRemb;
    this.#probeBps = Math.max(0, nextBitrate * PROBE_TARGET - curBitrate);
    return false;
  }

  #probeFailed(nowMs: number): void {
    this.#probeSince = Number.NaN;
    this.#probeBps = 0;
    this.#lastProbeFailAt = nowMs;
    this.#backoffMs = Math.min(this.#o.maxProbeBackoffMs, this.#backoffMs * 2);
  }

  #set(layer: number, reason: LayerReason, _nowMs: number): number {
    if (layer !== this.#layer) {
      this.#layer = layer;
      this.#reason = reason;
    }
    return layer;
  }
}

/** The lowest layer at least `height` tall; the top layer when none is (or heights are unknown). */
export function layerForHeight(layers: readonly LayerView[], height: number): number {
  for (let i = 0; i < layers.length; i++) {
    const h = (layers[i] as LayerView).height;
    if (h > 0 && h >= height) return i;
  }
  return layers.length - 1;
}

function nextActive(layers: readonly LayerView[], from: number, top: number): number {
  for (let i = from + 1; i <= top; i++) if ((layers[i] as LayerView).active) return i;
  return -1;
}

function previousActive(layers: readonly LayerView[], from: number): number {
  for (let i = from - 1; i >= 0; i--) if ((layers[i] as LayerView).active) return i;
  return from;
}

/**
 * The video height the room's size allows, as eventUserMediaConfiguration announces it
 * (src/rooms/user-media-configuration.ts; the media plane may not import rooms/, a unit test keeps
 * the two equal): 580 up to two others, then 580 / ceil(others / 2).
 */
export function roomMaxHeight(others: number): number {
  const n = Math.max(0, Math.floor(others));
  if (n <= 1) return 580;
  return Math.floor(580 / Math.floor((n + (n % 2)) / 2));
}
