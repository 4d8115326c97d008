import type { RemoteMemberInfo } from "../client/index.ts";
import type { TileSnapshot } from "./demo-snapshot.ts";
import type { InboundStats } from "./stats.ts";

/** One remote member on screen: its video, userId, connection state and a line of numbers. */
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

  update(info: RemoteMemberInfo): void {
    this.#info = info;
    if (info.state === "connected") this.#connectedAt ??= performance.now();
    this.#label.textContent = info.userId || info.socketId.slice(0, 8);
    const words = [info.state, info.up ? "media up" : "", info.frozen ? "frozen" : ""].filter(Boolean);
    this.#state.textContent = words.join(" · ");
    this.element.dataset.state = info.state;
    this.element.classList.toggle("frozen", info.frozen);
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
    this.#stats = stats;
    if (stats.framesDecoded > 0) this.#firstFrameAt ??= performance.now();
    const codec = stats.videoCodec?.split(" ")[0]?.replace("video/", "") ?? "";
    this.#numbers.textContent =
      stats.framesDecoded > 0
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
      frozen: this.#info.frozen,
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
