/**
 * A private coturn (Debian's `turnserver`) for one test: its own config, self-signed certificate,
 * SQLite file and log in a temporary folder, free ports, never the machine's default instance or
 * /etc/turnserver.conf. It relays only to `allowedPeers` (every other IPv4/IPv6 address is a
 * denied-peer-ip), so it cannot be used to reach anything but the test's own addresses.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createSocket } from "node:dgram";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stunBinding } from "./turn-client.ts";
import { waitFor } from "./wait-for.ts";

/** Debian's coturn binary; TURNSERVER_PATH overrides. */
export const TURNSERVER_PATH = process.env.TURNSERVER_PATH ?? "/usr/bin/turnserver";

/** Why coturn cannot run here, or undefined when it can. */
export function coturnUnavailable(): string | undefined {
  try {
    execFileSync(TURNSERVER_PATH, ["-h"], { stdio: "ignore" });
  } catch (err) {
    // `turnserver -h` exits non-zero after printing its help; only a missing binary is a failure.
    if ((err as NodeJS.ErrnoException).code === "ENOENT") {
      return `${TURNSERVER_PATH} not found: apt-get install coturn (.ci/run does)`;
    }
  }
  return undefined;
}

export interface CoturnOptions {
  /** Address coturn listens on and relays from; default 127.0.0.1. */
  readonly ip?: string;
  /** Peers it may relay to (allowed-peer-ip); default [ip]. Everything else is denied. */
  readonly allowedPeers?: readonly string[];
  /** Shared secret (static-auth-secret); default random. */
  readonly secret?: string;
  /** Fixed ports (e.g. inside a fresh network namespace); default: free ports on 127.0.0.1. */
  readonly ports?: {
    readonly plain: number;
    readonly tls: number;
    readonly relay: readonly [number, number];
  };
  /** Starts the command instead of spawning it directly (e.g. `ip netns exec <ns> ...`). */
  readonly spawn?: (argv: string[]) => ChildProcess;
}

export interface Coturn {
  readonly ip: string;
  readonly secret: string;
  readonly realm: string;
  /** TURN over UDP and TCP. */
  readonly port: number;
  /** TURN over TLS (TCP). */
  readonly tlsPort: number;
  readonly urls: { readonly udp: string; readonly tcp: string; readonly tls: string };
  /** base64 SHA-256 of the TLS certificate's public key (Chromium's --ignore-certificate-errors-spki-list). */
  readonly spkiSha256: string;
  /** coturn's log so far (its stdout). */
  log(): string;
  close(): Promise<void>;
}

async function freeTcpUdpPort(): Promise<number> {
  for (let i = 0; i < 20; i++) {
    const port = await new Promise<number>((resolve, reject) => {
      const s = createServer();
      s.once("error", reject);
      s.listen(0, "127.0.0.1", () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    const udpFree = await new Promise<boolean>((resolve) => {
      const u = createSocket("udp4");
      u.once("error", () => resolve(false));
      u.bind(port, "127.0.0.1", () => u.close(() => resolve(true)));
    });
    if (udpFree) return port;
  }
  throw new Error("no port free for both TCP and UDP");
}

/** Starts coturn and waits until it answers STUN on UDP, TCP and TLS. */
export async function startCoturn(options: CoturnOptions = {}): Promise<Coturn> {
  const ip = options.ip ?? "127.0.0.1";
  const secret = options.secret ?? randomBytes(24).toString("base64url");
  const realm = "webrtcsignaling.test";
  const dir = mkdtempSync(join(tmpdir(), "wrs-coturn-"));
  const plain = options.ports?.plain ?? (await freeTcpUdpPort());
  let tls = options.ports?.tls ?? (await freeTcpUdpPort());
  while (tls === plain) tls = await freeTcpUdpPort();
  // A random 100-port relay range; coturn skips ports that are taken.
  const base = 50_000 + Math.floor(Math.random() * 90) * 100;
  const relay = options.ports?.relay ?? [base, base + 99];
  const cert = join(dir, "cert.pem");
  const key = join(dir, "key.pem");
  execFileSync(
    "openssl",
    ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost"].concat([
      "-addext",
      `subjectAltName=IP:${ip},DNS:localhost`,
      "-keyout",
      key,
      "-out",
      cert,
    ]),
    { stdio: "ignore" },
  );
  const spkiSha256 = execFileSync("sh", [
    "-c",
    `openssl x509 -in '${cert}' -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | openssl base64 -A`,
  ])
    .toString()
    .trim();
  const allowed = options.allowedPeers ?? [ip];
  const conf = [
    `listening-ip=${ip}`,
    `relay-ip=${ip}`,
    `listening-port=${plain}`,
    `tls-listening-port=${tls}`,
    `min-port=${relay[0]}`,
    `max-port=${relay[1]}`,
    "use-auth-secret",
    `static-auth-secret=${secret}`,
    `realm=${realm}`,
    `cert=${cert}`,
    `pkey=${key}`,
    "no-tlsv1",
    "no-tlsv1_1",
    "no-dtls",
    "no-cli",
    "no-rfc5780",
    "no-stun-backward-compatibility",
    "no-multicast-peers",
    "fingerprint",
    // Loopback peers are refused by default; allow them, then deny every address but the test's own.
    "allow-loopback-peers",
    "denied-peer-ip=0.0.0.0-255.255.255.255",
    "denied-peer-ip=::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
    ...allowed.map((a) => `allowed-peer-ip=${a}`),
    `userdb=${join(dir, "turndb")}`,
    `pidfile=${join(dir, "turnserver.pid")}`,
    "log-file=stdout",
    "simple-log",
    "verbose",
  ];
  const confPath = join(dir, "turnserver.conf");
  writeFileSync(confPath, `${conf.join("\n")}\n`);
  const argv = [TURNSERVER_PATH, "-c", confPath];
  const child = options.spawn
    ? options.spawn(argv)
    : spawn(argv[0] ?? TURNSERVER_PATH, argv.slice(1), { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout?.on("data", (c: Buffer) => {
    output += c.toString();
  });
  child.stderr?.on("data", (c: Buffer) => {
    output += c.toString();
  });
  let exited = false;
  const gone = new Promise<void>((resolve) => {
    child.once("exit", () => {
      exited = true;
      resolve();
    });
  });
  const close = async () => {
    if (!exited) {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 2000);
      await gone;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const probeReady = !options.spawn;
  try {
    await waitFor(
      "coturn answers STUN on UDP, TCP and TLS",
      async () => {
        if (exited) throw new Error(`coturn exited:\n${output.slice(-3000)}`);
        // Inside a namespace the test cannot probe: trust coturn's own log lines.
        if (!probeReady)
          return (
            output.includes(`UDP listener opened on: ${ip}:${plain}`) &&
            output.includes(`TCP listener opened on : ${ip}:${tls}`)
          );
        try {
          await stunBinding("udp", ip, plain, 300);
          await stunBinding("tcp", ip, plain, 300);
          await stunBinding("tls", ip, tls, 1000);
          return true;
        } catch {
          return false;
        }
      },
      10_000,
    );
  } catch (err) {
    await close();
    throw err;
  }
  return {
    ip,
    secret,
    realm,
    port: plain,
    tlsPort: tls,
    urls: {
      udp: `turn:${ip}:${plain}?transport=udp`,
      tcp: `turn:${ip}:${plain}?transport=tcp`,
      tls: `turns:${ip}:${tls}?transport=tcp`,
    },
    spkiSha256,
    log: () => output,
    close,
  };
}
