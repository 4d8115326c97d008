import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BrowserContext, chromium, type Page } from "playwright-core";

/** Debian's Chromium (`apt-get install chromium`); CHROMIUM_PATH overrides. */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

/**
 * Flags for a loopback WebRTC call with a fake camera and microphone, and nothing that talks to
 * the outside: no background networking, QUIC, component updates or sync.
 */
export const CHROMIUM_FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--use-fake-ui-for-media-stream",
  "--use-fake-device-for-media-stream",
  "--allow-loopback-in-peer-connection",
  "--disable-features=WebRtcHideLocalIpsWithMdns",
  "--disable-background-networking",
  "--disable-quic",
  "--no-first-run",
  "--disable-component-update",
  "--disable-sync",
  // Pages in background tabs must keep decoding and running timers.
  "--disable-background-timer-throttling",
  "--disable-renderer-backgrounding",
  "--disable-backgrounding-occluded-windows",
  // The demo plays remote audio; no user gesture is needed for it in tests.
  "--autoplay-policy=no-user-gesture-required",
];

export interface TestBrowser {
  readonly context: BrowserContext;
  /** A new tab whose console errors and page errors are kept in `logs` (printed on failure). */
  newPage(name: string): Promise<Page>;
  readonly logs: string[];
  close(): Promise<void>;
}

/**
 * Headless Chromium with a throwaway profile (launchPersistentContext, as Debian's build wants).
 * `withoutFlags` drops some of CHROMIUM_FLAGS (without `--use-fake-ui-for-media-stream` the camera
 * prompt is refused, as a person clicking "Block" would).
 */
export async function launchBrowser(
  options: { withoutFlags?: readonly string[] } = {},
): Promise<TestBrowser> {
  const profile = await mkdtemp(join(tmpdir(), "wrs-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: CHROMIUM_FLAGS.filter((f) => !options.withoutFlags?.includes(f)),
    viewport: { width: 1000, height: 700 },
  });
  const logs: string[] = [];
  // The persistent context opens one blank tab; tests open their own.
  for (const page of context.pages()) await page.close();
  return {
    context,
    logs,
    async newPage(name: string): Promise<Page> {
      const page = await context.newPage();
      page.on("console", (m) => {
        if (m.type() === "error" || m.type() === "warning") logs.push(`[${name}] ${m.type()}: ${m.text()}`);
      });
      page.on("pageerror", (err) => logs.push(`[${name}] pageerror: ${err.message}`));
      return page;
    },
    async close(): Promise<void> {
      await context.close().catch(() => {});
      await rm(profile, { recursive: true, force: true });
    },
  };
}
