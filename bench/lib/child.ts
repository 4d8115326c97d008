/**
 * The process a benchmark measures, forked by the runner (bench/lib/proc.ts). Roles:
 *  - "server":    the real signaling server (src/server.ts), configured from env like production,
 *                 with the werift media plane when ROOM_MODE=mcu;
 *  - "forwarder": the baseline of scenario 1, a bare `ws` server that forwards every frame to the
 *                 other socket of its pair without parsing it.
 * It answers {type:"stats"} with its own cpuUsage and memory, so every figure is the measured
 * process's, not the load generator's.
 */
import type { AddressInfo } from "node:net";
import { WebSocket, WebSocketServer } from "ws";
import type * as AppModule from "../../src/app.ts";
import type { EventSink } from "../../src/events/event-sink.ts";
import type * as LoggerModule from "../../src/lib/logger.ts";
import type { MediaPort } from "../../src/media/media-port.ts";
import type * as MetricsModule from "../../src/metrics/metrics.ts";

// BENCH_SERVER_BUILD=dist measures the tsc output (`npm run build` first), as `npm run start:prod`
// and the Docker image run it; by default the sources, as `npm start` runs them.
const root = process.env.BENCH_SERVER_BUILD === "dist" ? "../../dist" : "../../src";
const ext = root.endsWith("dist") ? "js" : "ts";
const { buildApp, loadAppConfig } = (await import(`${root}/app.${ext}`)) as typeof AppModule;
const { newSilentLogger } = (await import(`${root}/lib/logger.${ext}`)) as typeof LoggerModule;
const { newMetrics } = (await import(`${root}/metrics/metrics.${ext}`)) as typeof MetricsModule;

export type ChildRequest = { type: "stats"; id: number; gc?: boolean } | { type: "close" };
export interface ChildStats {
  type: "stats";
  id: number;
  cpuUserUs: number;
  cpuSystemUs: number;
  rss: number;
  heapUsed: number;
  connections: number;
  /** RTP packets in from publishers / forwarded to listeners, from the server's own counters. */
  rtpIn?: number;
  rtpOut?: number;
  /** Datagrams the kernel dropped on the server's open media sockets (full receive buffer). */
  udpDrops?: number;
  media?: { rooms: number; members: number; publishers: number; listeners: number };
}
export interface ChildReady {
  type: "ready";
  url: string;
  port: number;
}

const role = process.argv[2] ?? "server";
const send = (m: unknown) => process.send?.(m);
const gc = (globalThis as { gc?: () => void }).gc;

function settle(): Promise<void> {
  // Two full collections with a turn between them release what finalizers freed in the first.
  gc?.();
  return new Promise((r) =>
    setTimeout(() => {
      gc?.();
      r();
    }, 50),
  );
}

interface Running {
  url: string;
  port: number;
  count(): number;
  media?(): Promise<ChildStats["media"]>;
  rtp?(): Promise<{ rtpIn: number; rtpOut: number; udpDrops: number }>;
  close(): Promise<void>;
}

async function startForwarder(): Promise<Running> {
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0, perMessageDeflate: false });
  const pairs = new Map<string, WebSocket[]>();
  wss.on("connection", (ws, req) => {
    const url = new URL(req.url ?? "/", "http://x");
    const pair = url.searchParams.get("pair") ?? "";
    const side = Number(url.searchParams.get("side") ?? "0");
    let sockets = pairs.get(pair);
    if (!sockets) {
      sockets = [];
      pairs.set(pair, sockets);
    }
    sockets[side] = ws;
    const other = 1 - side;
    ws.on("message", (data, isBinary) => {
      const peer = sockets[other];
      if (peer && peer.readyState === WebSocket.OPEN) peer.send(data, { binary: isBinary });
    });
    ws.on("close", () => {
      if (sockets[side] === ws) delete sockets[side];
      if (!sockets[0] && !sockets[1]) pairs.delete(pair);
    });
    ws.on("error", () => {});
  });
  await new Promise<void>((r) => wss.once("listening", () => r()));
  const port = (wss.address() as AddressInfo).port;
  return {
    url: `ws://127.0.0.1:${port}/`,
    port,
    count: () => wss.clients.size,
    close: () =>
      new Promise<void>((r) => {
        for (const c of wss.clients) c.terminate();
        wss.close(() => r());
      }),
  };
}

async function startSignaling(): Promise<Running> {
  // The same composition root as main.ts: MEDIA_WORKERS=N in the environment runs the worker plane.
  const app = loadAppConfig({
    PORT_NUMBER: "0",
    BIND_ADDRESS: "127.0.0.1",
    LOG_LEVEL: "silent",
    ...process.env,
  });
  const metrics = newMetrics({ processMetrics: false });
  const events: EventSink = { publish: () => {}, ready: true, close: async () => {} };
  const server = await buildApp(
    { ...app, events: { ...app.events, roomLiveIntervalMs: 0 } },
    // The server installs the SRTP key cache itself; BENCH_STOCK_SRTP=1 (`--stock-srtp`) measures without it.
    { log: newSilentLogger(), metrics, events, stockSrtp: process.env.BENCH_STOCK_SRTP === "1" },
  );
  const media = server.media as (MediaPort & { stats?: () => unknown }) | undefined;
  return {
    url: server.url,
    port: server.port,
    count: () => server.hub.size,
    // In-thread plane: stats() is synchronous; the worker plane answers with a promise.
    media: async () => (media?.stats ? ((await media.stats()) as ChildStats["media"]) : undefined),
    rtp: async () => {
      const sum = async (c: typeof metrics.rtpPacketsOut) =>
        (await c.get()).values.reduce((a, v) => a + v.value, 0);
      const drops = (await metrics.udpSocketDrops.get()).values[0]?.value ?? 0;
      return {
        rtpIn: await sum(metrics.rtpPacketsIn),
        rtpOut: await sum(metrics.rtpPacketsOut),
        udpDrops: drops,
      };
    },
    close: () => server.close(AbortSignal.timeout(5000)),
  };
}

async function main(): Promise<void> {
  const running = role === "forwarder" ? await startForwarder() : await startSignaling();
  process.on("message", (raw: ChildRequest) => {
    if (raw.type === "stats") {
      (raw.gc ? settle() : Promise.resolve()).then(async () => {
        const m = await running.media?.();
        const rtp = m ? await running.rtp?.() : undefined;
        const cpu = process.cpuUsage();
        const mem = process.memoryUsage();
        const stats: ChildStats = {
          type: "stats",
          id: raw.id,
          cpuUserUs: cpu.user,
          cpuSystemUs: cpu.system,
          rss: mem.rss,
          heapUsed: mem.heapUsed,
          connections: running.count(),
          ...(m ? { media: m } : {}),
          ...(rtp ?? {}),
        };
        send(stats);
      });
    } else if (raw.type === "close") {
      const hard = setTimeout(() => process.exit(0), 6000);
      running.close().finally(() => {
        clearTimeout(hard);
        // process.exit, not a natural end: --cpu-prof is written on exit either way.
        process.exit(0);
      });
    }
  });
  process.on("disconnect", () => process.exit(0));
  const ready: ChildReady = { type: "ready", url: running.url, port: running.port };
  send(ready);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench child (${role}) failed: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(1);
});
