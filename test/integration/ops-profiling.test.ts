import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { type ChildServer, REPO_ROOT, spawnServer } from "../helpers/child-server.ts";
import { startTestServer } from "../helpers/server.ts";
import { waitFor } from "../helpers/wait-for.ts";
import { TestClient } from "../helpers/ws-client.ts";

const TOKEN = "profiling-ops-token";
const auth = { authorization: `Bearer ${TOKEN}` };
const tmp = mkdtempSync(join(tmpdir(), "ops-profiling-"));
let server: ChildServer;

before(async () => {
  server = await spawnServer(
    { ROOM_MODE: "p2p", OPS_TOKEN: TOKEN, PROFILING_ENABLED: "true", PROFILING_MAX_SECONDS: "5" },
    // The documented flags, on the same process: a CPU profile written at exit, a heap snapshot on SIGUSR2.
    {
      nodeArgs: [
        "--cpu-prof",
        `--cpu-prof-dir=${tmp}`,
        "--heapsnapshot-signal=SIGUSR2",
        `--diagnostic-dir=${tmp}`,
      ],
    },
  );
});
after(async () => {
  await server.kill();
  rmSync(tmp, { recursive: true, force: true });
});

interface CpuProfile {
  nodes: Array<{ id: number; callFrame: { functionName: string; url: string } }>;
  startTime: number;
  endTime: number;
  samples: number[];
}

test("the profiling endpoints need the ops token and the right method and arguments", async () => {
  const cpu = `${server.httpUrl}/debug/cpu-profile`;
  assert.equal((await fetch(`${cpu}?seconds=1`, { method: "POST" })).status, 401);
  assert.equal((await fetch(`${server.httpUrl}/debug/heap-snapshot`)).status, 401);
  assert.equal(
    (await fetch(`${cpu}?seconds=1`, { method: "POST", headers: { authorization: "Bearer wrong" } })).status,
    401,
  );
  const get = await fetch(cpu, { headers: auth });
  assert.equal(get.status, 405);
  assert.equal(get.headers.get("allow"), "POST");
  for (const seconds of ["0", "-1", "6", "abc"]) {
    assert.equal(
      (await fetch(`${cpu}?seconds=${seconds}`, { method: "POST", headers: auth })).status,
      400,
      seconds,
    );
  }
});

test("POST /debug/cpu-profile records the requested time while the server keeps serving", async () => {
  const pending = fetch(`${server.httpUrl}/debug/cpu-profile?seconds=1`, { method: "POST", headers: auth });
  // Traffic during the profile, and a concurrent profile request refused.
  const c = await TestClient.connect(server.wsUrl);
  await c.join("profiled-room", "alice");
  await waitFor("profiling started log", () => server.logs.some((l) => l.msg === "profiling started"));
  const second = await fetch(`${server.httpUrl}/debug/cpu-profile?seconds=1`, {
    method: "POST",
    headers: auth,
  });
  assert.equal(second.status, 409);
  c.close();

  const res = await pending;
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-disposition") ?? "", /attachment; filename="cpu-\d+-.*\.cpuprofile"/);
  const profile = (await res.json()) as CpuProfile;
  const micros = profile.endTime - profile.startTime;
  assert.ok(micros >= 900_000 && micros < 3_000_000, `profile spans ${micros} us`);
  assert.ok(profile.nodes.length > 1 && profile.samples.length > 0);
  assert.ok(profile.nodes.some((n) => n.callFrame.functionName === "(idle)" || n.callFrame.url !== ""));
});

test("GET /debug/heap-snapshot streams a V8 heap snapshot", async () => {
  const res = await fetch(`${server.httpUrl}/debug/heap-snapshot`, { headers: auth });
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-disposition") ?? "", /\.heapsnapshot"$/);
  const text = await res.text();
  assert.ok(text.length > 1_000_000, `${text.length} bytes`);
  const snapshot = JSON.parse(text) as { snapshot: { meta: { node_fields: string[] } }; nodes: number[] };
  assert.ok(snapshot.snapshot.meta.node_fields.includes("name"));
  assert.ok(snapshot.nodes.length > 0);
});

test("--heapsnapshot-signal writes a snapshot on SIGUSR2; --cpu-prof writes a profile at exit", async () => {
  server.signal("SIGUSR2");
  const heap = await waitFor(
    "a .heapsnapshot in the diagnostic dir",
    () => readdirSync(tmp).find((f) => f.endsWith(".heapsnapshot")),
    20_000,
  );
  // The file is complete when it parses.
  await waitFor("the heap snapshot is complete", () => {
    try {
      return JSON.parse(readFileSync(join(tmp, heap), "utf8")) !== undefined;
    } catch {
      return false;
    }
  });
  server.signal("SIGTERM");
  const exit = await server.exited;
  assert.equal(exit.code, 0);
  const cpu = readdirSync(tmp).find((f) => f.endsWith(".cpuprofile"));
  assert.ok(cpu, `no .cpuprofile in ${readdirSync(tmp).join(", ")}`);
  const profile = JSON.parse(readFileSync(join(tmp, cpu), "utf8")) as CpuProfile;
  assert.ok(profile.nodes.length > 1);
});

test("profiling is off by default (404), and refused without OPS_TOKEN", async () => {
  const plain = await startTestServer({ ROOM_MODE: "p2p" });
  try {
    assert.equal(
      (await fetch(`${plain.httpUrl}/debug/cpu-profile?seconds=1`, { method: "POST" })).status,
      404,
    );
    assert.equal((await fetch(`${plain.httpUrl}/debug/heap-snapshot`)).status, 404);
  } finally {
    await plain.close();
  }
  const run = spawnSync(process.execPath, ["src/main.ts"], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? "", PORT_NUMBER: "0", ROOM_MODE: "p2p", PROFILING_ENABLED: "true" },
    encoding: "utf8",
    timeout: 15_000,
  });
  assert.equal(run.status, 2);
  assert.match(run.stderr, /PROFILING_ENABLED=true needs OPS_TOKEN/);
});
