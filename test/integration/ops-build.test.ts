import assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, isAbsolute, join, relative } from "node:path";
import { after, test } from "node:test";
import { promisify } from "node:util";
import { SignJWT } from "jose";
import { type ChildServer, REPO_ROOT, spawnServer } from "../helpers/child-server.ts";
import { dockerignoreKeeps, parseDockerfile, parseEnv, parseExecForm } from "../helpers/dockerfile.ts";
import { parsePrometheusText } from "../helpers/prometheus-text.ts";
import { TestClient } from "../helpers/ws-client.ts";

/**
 * No Docker engine here: this test plays the Dockerfile itself, outside Docker. It builds the
 * context as Docker would (tracked files minus .dockerignore), runs every stage's COPY and RUN in a
 * directory per stage (builder: npm ci, npm run build, npm prune --omit=dev), then starts the
 * release stage's CMD with its ENV and checks it serves, passes its HEALTHCHECK, and drains on
 * SIGTERM. Needs the npm registry (or a warm npm cache: installs prefer the cache).
 *
 * OPS_BUILD_INCLUDE_UNTRACKED=1 also puts untracked (not ignored) files in the context, to try
 * the build of a working tree before committing.
 */
const exec = promisify(execFile);
const root = mkdtempSync(join(tmpdir(), "ops-build-"));
const SECRET = "ops-build-secret-0123456789-abcdefgh";
const OPS_TOKEN = "ops-build-token";
let release: ChildServer | undefined;

after(async () => {
  await release?.kill();
  rmSync(root, { recursive: true, force: true });
});

interface StageState {
  dir: string;
  workdir: string;
  env: Record<string, string>;
  user?: string;
  expose: string[];
  healthcheck?: string[];
  cmd?: string[];
  stopSignal?: string;
}

/** The build context: tracked files (and untracked ones if asked) that .dockerignore keeps. */
function buildContext(): string {
  const ctx = join(root, "context");
  const dockerignore = readFileSync(join(REPO_ROOT, ".dockerignore"), "utf8");
  const args = ["ls-files", "-z", "--cached"];
  if (process.env.OPS_BUILD_INCLUDE_UNTRACKED === "1") args.push("--others", "--exclude-standard");
  const files = execFileSync("git", args, { cwd: REPO_ROOT, encoding: "utf8" }).split("\0");
  for (const file of new Set(files)) {
    if (file === "" || !dockerignoreKeeps(dockerignore, file)) continue;
    const from = join(REPO_ROOT, file);
    if (!existsSync(from)) continue; // deleted in the working tree
    mkdirSync(dirname(join(ctx, file)), { recursive: true });
    cpSync(from, join(ctx, file));
  }
  return ctx;
}

/** Node 24 (this test's node) first on PATH, as in the node:24 images; npm prefers its cache. */
function runEnv(stageEnv: Record<string, string>): NodeJS.ProcessEnv {
  return {
    PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ""}`,
    HOME: process.env.HOME ?? "/tmp",
    npm_config_prefer_offline: "true",
    npm_config_update_notifier: "false",
    // The machine's extra CA (a registry proxy) reaches npm through Node, whose own npmrc is not read here.
    ...(process.env.NODE_EXTRA_CA_CERTS ? { NODE_EXTRA_CA_CERTS: process.env.NODE_EXTRA_CA_CERTS } : {}),
    ...stageEnv,
  };
}

/** Runs the stages of the Dockerfile in directories under `root`; returns the last stage's state. */
async function playDockerfile(): Promise<StageState> {
  const ctx = buildContext();
  const stages = parseDockerfile(readFileSync(join(REPO_ROOT, "Dockerfile"), "utf8"));
  const states = new Map<string, StageState>();
  let last: StageState | undefined;
  for (const stage of stages) {
    const parent = states.get(stage.from);
    const dir = join(root, `stage-${stage.name}`);
    if (parent) cpSync(parent.dir, dir, { recursive: true });
    else mkdirSync(dir, { recursive: true });
    const s: StageState = parent
      ? { ...parent, dir, env: { ...parent.env }, expose: [...parent.expose] }
      : { dir, workdir: "/", env: {}, expose: [] };
    const inStage = (p: string, base: StageState) =>
      join(base.dir, isAbsolute(p) ? p : join(base.workdir, p));
    for (const { keyword, args } of stage.instructions) {
      switch (keyword) {
        case "WORKDIR":
          s.workdir = args;
          mkdirSync(inStage(".", s), { recursive: true });
          break;
        case "ENV":
          Object.assign(s.env, parseEnv(args));
          break;
        case "COPY": {
          const words = args.split(/\s+/);
          const from = words.find((w) => w.startsWith("--from="))?.slice("--from=".length);
          const paths = words.filter((w) => !w.startsWith("--"));
          const dest = paths.pop() ?? ".";
          const source = from ? states.get(from) : undefined;
          if (from && !source) throw new Error(`COPY --from=${from}: no such stage`);
          for (const p of paths) {
            const src = source ? inStage(p, source) : join(ctx, p);
            if (!existsSync(src)) throw new Error(`COPY ${p}: not in the ${from ?? "build context"}`);
            const into = dest.endsWith("/") || paths.length > 1;
            const target = into ? join(inStage(dest, s), p.split("/").at(-1) ?? p) : inStage(dest, s);
            mkdirSync(dirname(target), { recursive: true });
            cpSync(src, target, { recursive: true });
          }
          break;
        }
        case "RUN": {
          const command = args.replace(/^(--\S+\s+)+/, "");
          const cwd = inStage(".", s);
          try {
            await exec("sh", ["-c", command], {
              cwd,
              env: runEnv(s.env),
              timeout: 240_000,
              maxBuffer: 1 << 26,
            });
          } catch (err) {
            const e = err as { stdout?: string; stderr?: string };
            throw new Error(
              `RUN ${command} failed in stage ${stage.name}:\n${e.stdout ?? ""}\n${e.stderr ?? ""}`,
            );
          }
          break;
        }
        case "USER":
          s.user = args;
          break;
        case "EXPOSE":
          s.expose.push(...args.split(/\s+/));
          break;
        case "HEALTHCHECK":
          s.healthcheck = parseExecForm(args.slice(args.indexOf("CMD")));
          break;
        case "CMD":
          s.cmd = parseExecForm(args);
          break;
        case "STOPSIGNAL":
          s.stopSignal = args;
          break;
        default:
          throw new Error(`the test does not know Dockerfile instruction ${keyword}`);
      }
    }
    states.set(stage.name, s);
    last = s;
  }
  if (!last) throw new Error("Dockerfile has no stage");
  return last;
}

function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { recursive: true, encoding: "utf8" })) {
    if (statSync(join(dir, entry)).isFile()) out.push(entry);
  }
  return out;
}

test("the Dockerfile's stages run (npm ci, build, prune) and the release image's CMD serves", {
  timeout: 600_000,
}, async () => {
  const dockerfile = parseDockerfile(readFileSync(join(REPO_ROOT, "Dockerfile"), "utf8"));
  assert.deepEqual(
    dockerfile.map((s) => [s.name, s.from]),
    [
      ["builder", "node:24-bookworm"],
      ["base", "node:24-bookworm-slim"],
      ["release", "base"],
    ],
  );
  const img = await playDockerfile();
  const app = join(img.dir, img.workdir);

  // The release holds the built server and production dependencies only.
  assert.ok(img.user && img.user !== "root" && img.user !== "0", `runs as ${img.user}`);
  assert.deepEqual(readdirSync(app).sort(), ["dist", "node_modules", "package.json", "web"]);
  const installed = (name: string) => existsSync(join(app, "node_modules", name, "package.json"));
  for (const dev of [
    "typescript",
    "@biomejs/biome",
    "esbuild",
    "playwright-core",
    "fast-check",
    "node",
    "@types/node",
  ]) {
    assert.ok(!installed(dev), `dev dependency ${dev} pruned`);
  }
  for (const dep of ["werift", "ws", "pino", "prom-client", "amqplib", "zod", "jose"]) {
    assert.ok(installed(dep), `dependency ${dep} present`);
  }
  const js = filesUnder(join(app, "dist")).filter((f) => f.endsWith(".js"));
  assert.ok(js.includes("main.js") && js.includes("healthcheck.js"), js.join(", "));
  for (const f of js) {
    const text = readFileSync(join(app, "dist", f), "utf8");
    assert.doesNotMatch(text, /from\s+["']\.{1,2}\/[^"']*\.ts["']/, `${f} imports a .ts file`);
  }
  assert.ok(existsSync(join(app, "web", "dist", "index.html")), "web client built");
  assert.ok(!existsSync(join(app, "src")) && !existsSync(join(app, "test")), "no sources in the release");

  // EXPOSE: the HTTP port and the UDP range the image's STATIC_PORTS configures.
  assert.ok(img.expose.includes(`${img.env.PORT_NUMBER}/tcp`), img.expose.join(" "));
  assert.ok(img.expose.includes(`${img.env.STATIC_PORTS}/udp`), img.expose.join(" "));
  assert.equal(img.stopSignal, "SIGTERM");

  // Start the CMD with the image's ENV (production), overriding only what the test needs.
  const cmd = img.cmd ?? [];
  assert.equal(cmd[0], "node");
  release = await spawnServer(
    {
      ...img.env,
      PORT_NUMBER: "0",
      BIND_ADDRESS: "127.0.0.1",
      PUBLIC_IPV4: "127.0.0.1",
      JWT_SECRET: SECRET,
      OPS_TOKEN,
    },
    { entry: cmd.at(-1) ?? "", nodeArgs: cmd.slice(1, -1), cwd: app },
  );
  assert.equal(release.logs.find((l) => l.msg === "listening")?.mode, "mcu");
  const health = await fetch(`${release.httpUrl}/healthz`);
  assert.equal(health.status, 200);
  assert.deepEqual(await health.json(), { status: "ok" });
  assert.equal((await fetch(`${release.httpUrl}/readyz`)).status, 200);
  const page = await fetch(`${release.httpUrl}/`);
  assert.equal(page.status, 200);
  assert.match(await page.text(), /<html/i);
  const metrics = await fetch(`${release.httpUrl}/metrics`, {
    headers: { authorization: `Bearer ${OPS_TOKEN}` },
  });
  const scrape = parsePrometheusText(await metrics.text());
  assert.equal(scrape.types.get("webrtcsignaling_process_cpu_seconds_total"), "counter", "process metrics");

  // A member joins with a real token (production refuses development bearers).
  const bearer = await new SignJWT({ userId: "release-user" })
    .setProtectedHeader({ alg: "HS256" })
    .setIssuedAt()
    .setExpirationTime("5m")
    .sign(new TextEncoder().encode(SECRET));
  const member = await TestClient.connect(release.wsUrl);
  await member.join("release-room", bearer);

  // The HEALTHCHECK command, as Docker runs it in the container.
  const check = img.healthcheck ?? [];
  assert.equal(check[0], "node");
  const healthEnv = runEnv({ ...img.env, PORT_NUMBER: String(release.port), BIND_ADDRESS: "127.0.0.1" });
  await exec(process.execPath, check.slice(1), { cwd: app, env: healthEnv, timeout: 10_000 });

  // docker stop: SIGTERM drains.
  release.signal("SIGTERM");
  assert.equal((await member.waitClosed()).code, 1001);
  assert.equal((await release.exited).code, 0);
  // And the HEALTHCHECK fails once nothing answers.
  await assert.rejects(exec(process.execPath, check.slice(1), { cwd: app, env: healthEnv, timeout: 10_000 }));
  assert.ok(relative(root, app).startsWith("stage-release"));
});
