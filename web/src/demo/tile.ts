import type { RemoteMemberInfo } from "../client/index.ts";
import type { TileSnapshot } from "./demo-snapshot.ts";
import type { InboundStats } from "./stats.ts";

/** No new decoded frame for this long while the connection is up: the tile says "frozen". */
export const STALL_MS = 1000;

/**
 * One remote member on screen: its video, userId, connection state and a line of numbers.
 * "frozen" shows as soon as decoded frames stop (getStats), before the server's eventFreeze comes
 * (or when it cannot come: server gone); "reconnecting" while this page joins again after losing
 * its membership, with the tile kept in place.
 */
export class Tile {
  readonly element: HTMLElement;
  readonly video: HTMLVideoElement;
  readonly #label: HTMLElement;
  readonly #state: HTMLElement;
  readonly #numbers: HTMLElement;
  readonly #joinStartedAt: number;
  #info: RemoteMemberInfo;
  #stats: InboundStats | undefined;
  #presented = 0;
  #firstFrameAt: number | undefined;
  #streamAt: number | undefined;
  #connectedAt: number | undefined;
  /** Last time framesDecoded grew, and the count then. */
  #lastFrameAt = 0;
  #lastFrames = 0;
  #stalled = false;
  #stale = false;

  constructor(info: RemoteMemberInfo, joinStartedAt: number) {
    this.#info = info;
    this.#joinStartedAt = joinStartedAt;
    this.element = document.createElement("article");
    this.element.className = "tile remote";
    this.element.dataset.socketId = info.socketId;
    this.video = document.createElement("video");
    this.video.autoplay = true;
    this.video.playsInline = true;
    const footer = document.createElement("footer");
    this.#label = document.createElement("span");
    this.#label.className = "user";
    this.#state = document.createElement("span");
    this.#state.className = "state";
    this.#numbers = document.createElement("span");
    this.#numbers.className = "numbers";
    footer.append(this.#label, this.#state, this.#numbers);
    this.element.append(this.video, footer);
    this.#countFrames();
    this.update(info);
  }

  get socketId(): string {
    return this.#info.socketId;
  }

  get userId(): string {
    return this.#info.userId;
  }

  /** Kept in place while this page re-joins; `adopt` gives it the member's new membership. */
  get stale(): boolean {
    return this.#stale;
  }

  markStale(): void {
    this.#stale = true;
    this.#stats = undefined;
    this.#numbers.textContent = "";
    this.#render();
  }

  adopt(info: RemoteMemberInfo): void {
    this.#stale = false;
    this.#stalled = false;
    this.#lastFrames = 0;
    this.element.dataset.socketId = info.socketId;
    this.update(info);
  }

  update(info: RemoteMemberInfo): void {
    this.#info = info;
    if (info.state === "connected") this.#connectedAt ??= performance.now();
    this.#label.textContent = info.userId || info.socketId.slice(0, 8);
    this.#label.title = this.#label.textContent;
    this.#render();
  }

  #render(): void {
    const info = this.#info;
    const frozen = this.frozen;
    const words = this.#stale
      ? ["reconnecting"]
      : [
          info.state,
          info.up && info.state === "connected" && !frozen ? "media up" : "",
          frozen ? "frozen" : "",
        ].filter(Boolean);
    this.#state.textContent = words.join(" · ");
    this.element.dataset.state = this.#stale ? "reconnecting" : info.state;
    this.element.classList.toggle("frozen", frozen);
  }

  /** The server said so (eventFreeze), or no frame was decoded for STALL_MS. */
  get frozen(): boolean {
    return !this.#stale && (this.#info.frozen || this.#stalled);
  }

  /** Shows `stream` (a new one after the server opened a new connection for this publisher). */
  show(stream: MediaStream): void {
    this.#streamAt ??= performance.now();
    if (this.video.srcObject !== stream) this.video.srcObject = stream;
    this.video.play().catch(() => {
      // No user gesture yet: play muted, and unmute on the next click.
      this.video.muted = true;
      void this.video.play().catch(() => {});
      this.element.classList.add("muted");
      this.element.addEventListener(
        "click",
        () => {
          this.video.muted = false;
          this.element.classList.remove("muted");
        },
        { once: true },
      );
    });
  }

  setStats(stats: InboundStats): void {
    if (this.#stale) return;
    this.#stats = stats;
    const now = performance.now();
    if (stats.framesDecoded > 0) this.#firstFrameAt ??= now;
    if (stats.framesDecoded !== this.#lastFrames) {
      this.#lastFrames = stats.framesDecoded;
      this.#lastFrameAt = now;
    }
    const stalled = this.#lastFrames > 0 && now - this.#lastFrameAt > STALL_MS;
    if (stalled !== this.#stalled) {
      this.#stalled = stalled;
      this.#render();
    }
    const codec = stats.videoCodec?.split(" ")[0]?.replace("video/", "") ?? "";
    this.#numbers.textContent =
      stats.framesDecoded > 0 && !this.#stalled
        ? `${stats.width}x${stats.height} ${Math.round(stats.framesPerSecond)} fps ${codec}`
        : "";
  }

  snapshot(): TileSnapshot {
    const s = this.#stats;
    return {
      socketId: this.#info.socketId,
      userId: this.#info.userId,
      state: this.#info.state,
      up: this.#info.up,
      frozen: this.frozen,
      stale: this.#stale,
      framesDecoded: s?.framesDecoded ?? 0,
      framesPresented: this.#presented,
      framesPerSecond: s?.framesPerSecond ?? 0,
      width: s?.width ?? 0,
      height: s?.height ?? 0,
      audioPacketsReceived: s?.audioPacketsReceived ?? 0,
      videoCodec: s?.videoCodec,
      audioCodec: s?.audioCodec,
      offerMs: this.#since(this.#streamAt),
      connectedMs: this.#since(this.#connectedAt),
      firstFrameMs: this.#since(this.#firstFrameAt),
    };
  }

  #since(t: number | undefined): number | undefined {
    return t === undefined ? undefined : Math.round(t - this.#joinStartedAt);
  }

  remove(): void {
    this.video.srcObject = null;
    this.element.remove();
  }

  /** Counts presented frames; the first one dates the tile's first frame precisely. */
  #countFrames(): void {
    const video = this.video;
    if (!("requestVideoFrameCallback" in video)) return;
    const onFrame = () => {
      if (!this.element.isConnected && this.#presented > 0) return;
      this.#presented++;
      this.#firstFrameAt ??= performance.now();
      video.requestVideoFrameCallback(onFrame);
    };
    video.requestVideoFrameCallback(onFrame);
  }
}
