/**
 * A call between two Chromium pages (the demo) while the server gets only a slice of the CPU:
 * SIGSTOP for STOP ms, SIGCONT for RUN ms, for SECS seconds, from before the pages join. Prints the
 * pages' states every 2 s and, at the end, how many peer connections the server failed and how many
 * sockets it dropped for a heartbeat timeout. Not part of `npm test` (it is slow and random).
 *
 *   STOP=3000 RUN=150 SECS=45 node bench/starved-server.ts    # ~5 % of the CPU
 *   STOP=2000 RUN=300 SECS=45 node bench/starved-server.ts    # ~13 %
 *   DEBUG='werift-ice*' ...                                     # werift's ICE log (consent checks)
 */
import { execFileSync } from "node:child_process";
import type { Page } from "playwright-core";
import { launchBrowser } from "../test/helpers/browser.ts";
import { REPO_ROOT, spawnServer } from "../test/helpers/child-server.ts";

const RUN = Number(process.env.RUN ?? 150);
const STOP = Number(process.env.STOP ?? 3000);
const SECS = Number(process.env.SECS ?? 45);

interface Snap {
  state: string;
  publish: { state: string; up: boolean };
  tiles: { userId: string; state: string; up: boolean; frozen: boolean; framesDecoded: number }[];
}
const snap = (p: Page) =>
  p.evaluate(() => (globalThis as unknown as { demo: { snapshot(): Snap } }).demo.snapshot());
const line = (s: Snap) =>
  `${s.state} publish=${s.publish.state}${s.publish.up ? "/up" : ""} ${s.tiles
    .map((t) => `${t.userId}:${t.state}${t.up ? "/up" : ""}${t.frozen ? "/frozen" : ""}/${t.framesDecoded}`)
    .join(",")}`;

execFileSync(process.execPath, ["web/build.mjs"], { cwd: REPO_ROOT, stdio: "pipe" });
const server = await spawnServer({
  ROOM_MODE: "mcu",
  PUBLIC_IPV4: "127.0.0.1",
  ...(process.env.DEBUG ? { DEBUG: process.env.DEBUG } : {}),
});
const browser = await launchBrowser();
let starving = true;
const duty = (async () => {
  while (starving) {
    server.signal("SIGSTOP");
    await new Promise((r) => setTimeout(r, STOP));
    server.signal("SIGCONT");
    await new Promise((r) => setTimeout(r, RUN));
  }
})();
const t0 = Date.now();
const pages: Page[] = [];
for (const name of ["alice", "bob"]) {
  const p = await browser.newPage(name);
  await p.goto(`${server.httpUrl}/?room=starved`);
  await p.fill("#bearer", name);
  await p.click("#join");
  pages.push(p);
}
const report = async () =>
  console.log(
    `+${Math.round((Date.now() - t0) / 1000)}s`,
    (await Promise.all(pages.map(snap))).map(line).join(" | "),
  );
while (Date.now() - t0 < SECS * 1000) {
  await new Promise((r) => setTimeout(r, 2000));
  await report();
}
starving = false;
await duty;
console.log("--- the server runs freely again");
for (let i = 0; i < 5; i++) {
  await new Promise((r) => setTimeout(r, 2000));
  await report();
}
const failed = server.logs.filter((l) => /connection failed/.test(String(l.msg)));
const heartbeat = server.logs.filter((l) => l.msg === "heartbeat timeout");
for (const l of failed) console.log("server:", l.msg, l.publisher ?? l.listener ?? "");
const expired = server.otherOutput.filter((l) => l.includes("Consent to send expired")).length;
console.log(
  `STOP=${STOP} RUN=${RUN} SECS=${SECS}: ${failed.length} peer connections failed${process.env.DEBUG ? ` (${expired} consent expiries)` : ""}, ${heartbeat.length} heartbeat timeouts`,
);
await browser.close();
await server.kill();
process.exit(0);
