import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { createServer } from "node:net";
import { after, test } from "node:test";
import { REPO_ROOT } from "../helpers/child-server.ts";
import { waitFor } from "../helpers/wait-for.ts";
import { TestClient } from "../helpers/ws-client.ts";

/**
 * The README's start command, as a process manager runs it: `npm start`, then SIGTERM to that npm
 * process. npm runs the script through `sh -c`; without `exec` in the script the shell died and the
 * server stayed behind as an orphan holding the port. Now the signal reaches the server: members get
 * 1001, the port is free, npm exits 0, no server process is left.
 */

let npm: ChildProcess | undefined;
let serverPid = 0;
after(() => {
  npm?.kill("SIGKILL");
  // Left behind when the signal did not reach it (the bug this test is about).
  if (serverPid && alive(serverPid)) process.kill(serverPid, "SIGKILL");
  npm?.stdout?.destroy();
  npm?.stderr?.destroy();
});

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once("error", () => resolve(false));
    probe.listen(port, "127.0.0.1", () => probe.close(() => resolve(true)));
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test("SIGTERM to `npm start` drains the server: members get 1001, the port is freed, exit 0", async () => {
  const npmCli = process.env.npm_execpath;
  // Under `npm test` npm says where it is; run directly, take the npm on PATH.
  const [cmd, args] = npmCli ? [process.execPath, [npmCli, "start"]] : ["npm", ["start"]];
  const child = spawn(cmd, args, {
    cwd: REPO_ROOT,
    env: {
      PATH: `${REPO_ROOT}node_modules/.bin:${process.env.PATH ?? ""}`,
      HOME: process.env.HOME ?? "/tmp",
      PORT_NUMBER: "0",
      ROOM_MODE: "p2p",
      LOG_PRETTY: "false",
      ROOM_LIVE_INTERVAL_MS: "0",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  npm = child;
  const logs: Array<Record<string, unknown>> = [];
  let output = "";
  child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
    output += chunk;
    for (const line of chunk.split("\n")) {
      if (!line.startsWith("{")) continue;
      try {
        logs.push(JSON.parse(line) as Record<string, unknown>);
      } catch {}
    }
  });
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
    output += chunk;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal })),
  );

  const listening = await waitFor(
    "the server's listening line",
    () => logs.find((l) => l.msg === "listening"),
    30_000,
  ).catch((err: unknown) => {
    throw new Error(`${(err as Error).message}\n${output}`);
  });
  const port = Number(listening.port);
  serverPid = Number(listening.pid);
  assert.notEqual(serverPid, child.pid, "npm runs the server as its child");
  assert.equal(listening.bindAddress, "127.0.0.1", "development mode listens on loopback only");
  assert.ok(
    logs.some(
      (l) => typeof l.msg === "string" && l.msg.startsWith("development mode: listening on 127.0.0.1 only"),
    ),
    "and says so",
  );

  const member = await TestClient.connect(`ws://127.0.0.1:${port}/api`);
  const joined = await member.join("npm-start", "alice");
  assert.equal(joined.s, true);

  child.kill("SIGTERM");
  await waitFor("the member's socket closed", () => member.closed, 10_000);
  assert.equal(member.closed?.code, 1001, "the member is told the server is going away");
  const exit = await exited;
  assert.deepEqual(exit, { code: 0, signal: null }, `npm exits 0\n${output}`);
  assert.equal(alive(serverPid), false, "no server process is left behind");
  assert.equal(await portIsFree(port), true, "the port is free");
});
