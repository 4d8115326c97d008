/**
 * Pages for the simulcast browser tests: the web client library bundled for the test (on
 * `window.WRS`) and a few helpers on `window.t` that start a member, set its video wishes and read
 * `getStats` of its connections. The pages use the library, not the demo's layout.
 */
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import type { Page } from "playwright-core";
import type { TestBrowser } from "./browser.ts";

export interface VideoIn {
  frameHeight: number;
  framesDecoded: number;
  keyFramesDecoded: number;
  bytesReceived: number;
}
export interface PageApi {
  start(wsUrl: string, room: string, name: string, publish: boolean): Promise<string>;
  quality(to: string, wish: { maxHeight?: number; paused?: boolean }): Promise<void>;
  videoIn(from: string): Promise<VideoIn | undefined>;
  /** Outgoing video: total bytes and the rids with their frame heights. */
  videoOut(): Promise<{ bytesSent: number; layers: { rid: string; frameHeight: number }[] }>;
  /** client.watchVideo on the page's video element of publisher `to`. */
  watch(to: string): Promise<void>;
  /** Sets that element's CSS (e.g. "height: 180px" or "display: none"). */
  style(to: string, css: string): Promise<void>;
}

/** The page side: the client library on `window.WRS`, the helpers on `window.t`. */
const PAGE_SCRIPT = `
window.t = {
  client: undefined,
  async start(wsUrl, room, name, publish) {
    const c = new WRS.WebrtcSignalingClient({ bearer: name, url: wsUrl });
    this.client = c;
    c.on("remoteStream", (info) => {
      let v = document.getElementById("v-" + info.socketId);
      if (!v) {
        v = document.createElement("video");
        v.id = "v-" + info.socketId;
        v.muted = true;
        v.autoplay = true;
        document.body.append(v);
      }
      v.srcObject = info.stream;
      v.play().catch(() => {});
    });
    await c.join(room);
    if (publish) {
      const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 1280, height: 720 } });
      await c.publish(stream);
    }
    return c.socketId;
  },
  async watch(to) {
    this.client.watchVideo(to, document.getElementById("v-" + to));
  },
  async style(to, css) {
    document.getElementById("v-" + to).style.cssText = css;
  },
  quality(to, wish) {
    return this.client.setVideoQuality(to, wish);
  },
  async videoIn(from) {
    const pc = this.client.listenerConnection(from);
    if (!pc) return undefined;
    const stats = await pc.getStats();
    for (const s of stats.values()) {
      if (s.type === "inbound-rtp" && s.kind === "video")
        return { frameHeight: s.frameHeight ?? 0, framesDecoded: s.framesDecoded ?? 0, keyFramesDecoded: s.keyFramesDecoded ?? 0, bytesReceived: s.bytesReceived ?? 0 };
    }
    return undefined;
  },
  async videoOut() {
    const pc = this.client.publisherConnection;
    const out = { bytesSent: 0, layers: [] };
    if (!pc) return out;
    const stats = await pc.getStats();
    for (const s of stats.values()) {
      if (s.type !== "outbound-rtp" || s.kind !== "video") continue;
      out.bytesSent += s.bytesSent ?? 0;
      out.layers.push({ rid: s.rid ?? "", frameHeight: s.frameHeight ?? 0 });
    }
    return out;
  },
};
`;

export const api = <K extends keyof PageApi>(page: Page, name: K, ...args: Parameters<PageApi[K]>) =>
  page.evaluate(
    ([n, a]) =>
      (globalThis as unknown as { t: Record<string, (...x: unknown[]) => unknown> }).t[n as string]?.(
        ...(a as unknown[]),
      ),
    [name, args] as const,
  ) as Promise<Awaited<ReturnType<PageApi[K]>>>;

/** The client library as one script defining `window.WRS`. */
export async function clientBundle(): Promise<string> {
  const root = fileURLToPath(new URL("../..", import.meta.url));
  const out = await build({
    entryPoints: [`${root}web/src/client/index.ts`],
    bundle: true,
    format: "iife",
    globalName: "WRS",
    target: "es2022",
    write: false,
    logLevel: "warning",
  });
  return out.outputFiles[0]?.text ?? "";
}

/** A page on the server's origin with the library and the helpers, joined (and publishing if asked). */
export async function memberPage(
  browser: TestBrowser,
  bundle: string,
  server: { httpUrl: string; port: number },
  room: string,
  name: string,
  publish: boolean,
): Promise<{ page: Page; socketId: string }> {
  const page = await browser.newPage(name);
  await page.goto(`${server.httpUrl}/`);
  await page.addScriptTag({ content: `${bundle}\n${PAGE_SCRIPT}` });
  const socketId = await api(page, "start", `ws://127.0.0.1:${server.port}/api`, room, name, publish);
  return { page, socketId };
}
