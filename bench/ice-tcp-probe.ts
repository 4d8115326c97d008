/**
 * `node bench/ice-tcp-probe.ts [--runs N]` (root, iproute2, Debian's chromium): does werift's
 * ICE-TCP (`iceUseTcp`, passive TCP host candidates) work with Chromium? Each run connects a
 * Chromium page (offerer, data channel) to a werift RTCPeerConnection configured like the
 * server's (loopback host address only, max-bundle) with `iceUseTcp: true`, after removing the
 * UDP candidates from werift's answer, so that only ICE-TCP can connect. A run succeeds when a
 * message goes both ways over the data channel (ICE, DTLS and SCTP up over TCP) within 10 s.
 * Everything runs in a fresh network namespace with only a loopback interface (created and
 * removed here): nothing can leave it, not even werift's default STUN query.
 * This is why the server does not enable ICE-TCP (docs/media.md, "ICE-TCP").
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { chromium } from "playwright-core";
import { RTCPeerConnection } from "werift";
import { CHROMIUM_FLAGS, CHROMIUM_PATH } from "../test/helpers/browser.ts";

const { values } = parseArgs({
  options: { runs: { type: "string", default: "10" }, inside: { type: "boolean", default: false } },
});
const runs = Number(values.runs);

if (!values.inside) {
  const ns = `wrtc-icetcp-${process.pid}`;
  execFileSync("ip", ["netns", "add", ns]);
  try {
    execFileSync("ip", ["netns", "exec", ns, "ip", "link", "set", "lo", "up"]);
    const self = fileURLToPath(import.meta.url);
    const r = spawnSync(
      "ip",
      ["netns", "exec", ns, process.execPath, self, "--inside", "--runs", String(runs)],
      {
        stdio: "inherit",
      },
    );
    process.exitCode = r.status ?? 1;
  } finally {
    execFileSync("ip", ["netns", "del", ns]);
  }
} else {
  await probe();
}

interface Outcome {
  ok: boolean;
  ms: number;
  chromiumState: string;
  chromiumPath: string;
  weriftState: string;
}

async function probe(): Promise<void> {
  const profile = await mkdtemp(join(tmpdir(), "wrs-icetcp-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: CHROMIUM_FLAGS,
  });
  const outcomes: Outcome[] = [];
  try {
    for (let i = 1; i <= runs; i++) {
      const o = await once(context);
      outcomes.push(o);
      console.log(
        `run ${i}: ${o.ok ? "connected" : "FAILED"} in ${o.ms} ms (Chromium ${o.chromiumState}, path ${o.chromiumPath}; werift ${o.weriftState})`,
      );
    }
  } finally {
    await context.close();
    await rm(profile, { recursive: true, force: true });
  }
  const ok = outcomes.filter((o) => o.ok).length;
  console.log(
    `SUMMARY ICE-TCP werift <-> Chromium ${chromium.name()}: ${ok}/${outcomes.length} runs connected`,
  );
}

async function once(context: Awaited<ReturnType<typeof chromium.launchPersistentContext>>): Promise<Outcome> {
  const server = new RTCPeerConnection({
    iceServers: [],
    iceUseIpv4: false,
    iceUseIpv6: false,
    iceUseTcp: true,
    iceAdditionalHostAddresses: ["127.0.0.1"],
    iceInterfaceAddresses: { udp4: "127.0.0.1" },
    bundlePolicy: "max-bundle",
  });
  let weriftState = "new";
  server.connectionStateChange.subscribe((s) => {
    weriftState = s;
  });
  server.onDataChannel.subscribe((dc) => {
    dc.onMessage.subscribe(() => dc.send("pong"));
  });
  const page = await context.newPage();
  try {
    await page.goto("about:blank");
    const offer = await page.evaluate(async () => {
      const pc = new RTCPeerConnection({ iceServers: [] });
      const g = globalThis as unknown as { pc: RTCPeerConnection; got: string[] };
      g.pc = pc;
      g.got = [];
      const dc = pc.createDataChannel("probe");
      dc.onopen = () => dc.send("ping");
      dc.onmessage = (e) => g.got.push(String(e.data));
      await pc.setLocalDescription(await pc.createOffer());
      return pc.localDescription?.sdp ?? "";
    });
    await server.setRemoteDescription({ type: "offer", sdp: offer });
    await server.setLocalDescription(await server.createAnswer());
    const answer = (server.localDescription?.sdp ?? "")
      .split("\r\n")
      .filter((l) => !(l.startsWith("a=candidate") && / udp /i.test(l)))
      .join("\r\n");
    const started = performance.now();
    await page.evaluate(async (sdp) => {
      await (globalThis as unknown as { pc: RTCPeerConnection }).pc.setRemoteDescription({
        type: "answer",
        sdp,
      });
    }, answer);
    for (;;) {
      const s = await page.evaluate(async () => {
        const g = globalThis as unknown as { pc: RTCPeerConnection; got: string[] };
        const stats = new Map<string, Record<string, unknown>>();
        const report = (await g.pc.getStats()) as unknown as {
          forEach(f: (x: Record<string, unknown>) => void): void;
        };
        report.forEach((x) => {
          stats.set(String(x.id), x);
        });
        const transport = [...stats.values()].find((x) => x.type === "transport");
        const pair = stats.get(String(transport?.selectedCandidatePairId));
        const local = pair ? stats.get(String(pair.localCandidateId)) : undefined;
        return {
          state: g.pc.connectionState,
          got: g.got.length,
          path: local ? `${local.candidateType} ${local.protocol} ${local.tcpType ?? ""}`.trim() : "none",
        };
      });
      const ms = Math.round(performance.now() - started);
      if (s.got > 0 || ms > 10_000 || s.state === "failed") {
        return { ok: s.got > 0, ms, chromiumState: s.state, chromiumPath: s.path, weriftState };
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    await page.close();
    await server.close();
  }
}
