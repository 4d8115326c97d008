/**
 * `node bench/rss-probe.ts [L]`: the bench server's RSS and V8 heap (after two full GCs) empty, with
 * one publisher, with L idle listener connections, and after 8 s of the 1 Mbit/s stream to them
 * (issue 11's RSS target). The environment reaches the server (e.g. MALLOC_ARENA_MAX=1).
 */
import { MediaProc } from "./lib/media-proc.ts";
import { spawnMeasured } from "./lib/proc.ts";
import { sleep } from "./lib/sig-client.ts";

const L = Number(process.argv[2] ?? 50);
const server = await spawnMeasured({
  role: "server",
  env: { ROOM_MODE: "mcu", PUBLIC_IPV4: "127.0.0.1", ROOM_MAX_MEMBERS: String(L + 2) },
});
const mib = (b: number) => (b / 2 ** 20).toFixed(1);
const show = async (what: string) => {
  const s = await server.stats(true);
  const mu = s as unknown as { heapUsed: number; rss: number };
  console.log(`${what}: rss ${mib(mu.rss)} MiB, heapUsed ${mib(mu.heapUsed)} MiB`);
};
await show("empty server");
const pub = await MediaProc.spawn();
const lps = await Promise.all(
  Array.from({ length: Math.max(1, Math.ceil(L / 25)) }, () => MediaProc.spawn()),
);
await pub.join(server.url, [{ roomId: "r", userId: "pub", publish: true }], 1_000_000);
await show("1 publisher");
await Promise.all(
  lps.map((p, k) =>
    p.join(
      server.url,
      Array.from({ length: L }, (_, i) => i)
        .filter((i) => i % lps.length === k)
        .map((i) => ({ roomId: "r", userId: `l${i}`, publish: false })),
      1_000_000,
    ),
  ),
);
for (let i = 0; i < 240; i++) {
  const st = await Promise.all(lps.map((p) => p.stats()));
  if (st.reduce((a, s) => a + s.connectedPcs, 0) >= L) break;
  await sleep(250);
}
await show(`${L} listeners connected, idle`);
await pub.call({ type: "start" });
await sleep(8000);
await show(`${L} listeners, 8 s of media`);
await pub.call({ type: "stop" });
await Promise.all([pub, ...lps].map((p) => p.close()));
await server.close();
process.exit(0);
