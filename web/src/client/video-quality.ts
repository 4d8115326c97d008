/**
 * Simulcast publishing and per-publisher quality wishes (docs/web-client.md, "Simulcast"): the
 * encodings the publisher's video is sent with, and a watcher that turns a video element's size and
 * visibility into `setVideoQuality` requests (the height it is shown at; paused while not visible).
 */

/** How the camera is published: 1 (no simulcast) to 3 layers, low to high resolution. */
export interface SimulcastOptions {
  /** Number of layers, 1-3; default 3 (1/4, 1/2 and full resolution). */
  layers?: number;
  /** Maximum bitrate per layer in bit/s, low to high; default 150k, 500k, 1.5M. */
  maxBitrates?: readonly number[];
}

/** What `setVideoQuality` asks the server for one publisher's video. */
export interface VideoQualityWish {
  maxHeight?: number;
  maxLayer?: number;
  paused?: boolean;
}

const RIDS = ["q", "h", "f"] as const;
const DEFAULT_MAX_BITRATES = [150_000, 500_000, 1_500_000] as const;

/**
 * The sendEncodings of the publisher's video transceiver: `undefined` for one layer (no simulcast),
 * else rids q/h/f with scaleResolutionDownBy 4/2/1 (the last layers of that list when fewer than 3)
 * and their max bitrates, low to high (the server takes the a=rid order as low to high).
 */
export function simulcastEncodings(
  options: SimulcastOptions | boolean | undefined,
): RTCRtpEncodingParameters[] | undefined {
  if (options === false) return undefined;
  const o = options === true || options === undefined ? {} : options;
  const layers = Math.max(1, Math.min(3, Math.floor(o.layers ?? 3)));
  if (layers === 1) return undefined;
  const rates = o.maxBitrates ?? DEFAULT_MAX_BITRATES.slice(3 - layers);
  const out: RTCRtpEncodingParameters[] = [];
  for (let i = 0; i < layers; i++) {
    const rid = RIDS[3 - layers + i] as string;
    const rate = rates[i];
    out.push({
      rid,
      scaleResolutionDownBy: 2 ** (layers - 1 - i),
      ...(rate !== undefined ? { maxBitrate: rate } : {}),
    });
  }
  return out;
}

/**
 * The encodings for a camera track: an explicit `layers` as given; by default as many layers as
 * libwebrtc sends for the track's height (3 from 540 px, 2 from 270 px, else none).
 */
export function simulcastEncodingsFor(
  options: SimulcastOptions | boolean | undefined,
  track: MediaStreamTrack,
): RTCRtpEncodingParameters[] | undefined {
  if (options === false) return undefined;
  const o = options === true || options === undefined ? {} : options;
  if (o.layers !== undefined) return simulcastEncodings(o);
  const height = track.getSettings().height ?? 0;
  const layers = height >= 540 ? 3 : height >= 270 ? 2 : 1;
  return simulcastEncodings({ ...o, layers });
}

/** Tile heights are rounded up to this step, so that small resizes send nothing. */
const HEIGHT_STEP = 90;

/**
 * Watches video elements (one per remote publisher) and sends what each needs: `maxHeight` the
 * element's height in device pixels (rounded up to a multiple of 90), `paused` while the element is
 * off screen, hidden (display: none, zero size) or the page is hidden. A wish is sent only when it
 * changes, at most once per `debounceMs` per publisher.
 */
export class VideoQualityWatcher {
  readonly #send: (to: string, wish: VideoQualityWish) => Promise<void>;
  readonly #debounceMs: number;
  readonly #watched = new Map<
    string,
    { element: HTMLElement; visible: boolean; last: string; timer: ReturnType<typeof setTimeout> | undefined }
  >();
  #resize: ResizeObserver | undefined;
  #intersect: IntersectionObserver | undefined;
  readonly #onVisibility = () => {
    for (const to of this.#watched.keys()) this.#schedule(to);
  };

  constructor(
    send: (to: string, wish: VideoQualityWish) => Promise<void>,
    options: { debounceMs?: number } = {},
  ) {
    this.#send = send;
    this.#debounceMs = options.debounceMs ?? 250;
  }

  /** Starts watching `element` as the video of publisher `to`; returns the stop function. */
  watch(to: string, element: HTMLElement): () => void {
    this.unwatch(to);
    this.#observers();
    this.#watched.set(to, { element, visible: true, last: "", timer: undefined });
    this.#resize?.observe(element);
    this.#intersect?.observe(element);
    if (this.#watched.size === 1) document.addEventListener("visibilitychange", this.#onVisibility);
    this.#schedule(to);
    return () => this.unwatch(to);
  }

  unwatch(to: string): void {
    const w = this.#watched.get(to);
    if (!w) return;
    clearTimeout(w.timer);
    this.#resize?.unobserve(w.element);
    this.#intersect?.unobserve(w.element);
    this.#watched.delete(to);
    if (this.#watched.size === 0) document.removeEventListener("visibilitychange", this.#onVisibility);
  }

  /** Sends every watched publisher's wish again (after a reconnect or a re-join). */
  resend(): void {
    for (const [to, w] of this.#watched) {
      w.last = "";
      this.#schedule(to);
    }
  }

  close(): void {
    for (const to of [...this.#watched.keys()]) this.unwatch(to);
    this.#resize?.disconnect();
    this.#intersect?.disconnect();
  }

  /** The wish for an element now. */
  static wishFor(element: HTMLElement, visible: boolean): VideoQualityWish {
    const rect = element.getBoundingClientRect();
    const shown = visible && document.visibilityState !== "hidden" && rect.height > 0 && rect.width > 0;
    if (!shown) return { paused: true };
    const px = rect.height * (globalThis.devicePixelRatio || 1);
    return { maxHeight: Math.max(HEIGHT_STEP, Math.ceil(px / HEIGHT_STEP) * HEIGHT_STEP), paused: false };
  }

  #observers(): void {
    if (!this.#resize && typeof ResizeObserver !== "undefined") {
      this.#resize = new ResizeObserver((entries) => {
        for (const e of entries)
          for (const [to, w] of this.#watched) if (w.element === e.target) this.#schedule(to);
      });
    }
    if (!this.#intersect && typeof IntersectionObserver !== "undefined") {
      this.#intersect = new IntersectionObserver((entries) => {
        for (const e of entries) {
          for (const [to, w] of this.#watched) {
            if (w.element !== e.target) continue;
            w.visible = e.isIntersecting;
            this.#schedule(to);
          }
        }
      });
    }
  }

  #schedule(to: string): void {
    const w = this.#watched.get(to);
    if (!w || w.timer !== undefined) return;
    w.timer = setTimeout(() => {
      w.timer = undefined;
      if (this.#watched.get(to) !== w) return;
      const wish = VideoQualityWatcher.wishFor(w.element, w.visible);
      const key = JSON.stringify(wish);
      if (key === w.last) return;
      w.last = key;
      this.#send(to, wish).catch(() => {
        // Not in a room any more, or the publisher left: sent again by resend() or the next change.
        w.last = "";
      });
    }, this.#debounceMs);
  }
}
