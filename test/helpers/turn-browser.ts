import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type Page } from "playwright-core";
import { CHROMIUM_FLAGS, CHROMIUM_PATH, type TestBrowser } from "./browser.ts";

/**
 * Headless Chromium like launchBrowser (same flags, throwaway profile, logs kept), plus `flags`,
 * started through `executable` when given (a wrapper that runs Chromium in a network namespace).
 * The TURN tests pass `--ignore-certificate-errors-spki-list=<coturn's key>`: Chromium verifies the
 * certificate of a turns: server, and the test's coturn has a self-signed one.
 */
export async function launchChromium(
  options: { flags?: readonly string[]; executable?: string } = {},
): Promise<TestBrowser> {
  const profile = await mkdtemp(join(tmpdir(), "wrs-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: options.executable ?? CHROMIUM_PATH,
    headless: true,
    args: [...CHROMIUM_FLAGS, ...(options.flags ?? [])],
    viewport: { width: 1000, height: 700 },
  });
  const logs: string[] = [];
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
