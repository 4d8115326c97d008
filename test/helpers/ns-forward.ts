/**
 * A TCP forwarder between two network namespaces that have no route to each other, through Unix
 * sockets (a filesystem path is reachable from every network namespace). Run one copy inside each
 * namespace:
 *   node ns-forward.ts listen-tcp  <port>=<socket path> ...   (client side: 127.0.0.1:<port> -> socket)
 *   node ns-forward.ts listen-unix <socket path>=<port> ...   (server side: socket -> 127.0.0.1:<port>)
 * Only TCP crosses; UDP cannot. Prints "ready" once every listener is up.
 */
import { rmSync } from "node:fs";
import { connect, createServer, type Socket } from "node:net";

const [mode, ...maps] = process.argv.slice(2);
if ((mode !== "listen-tcp" && mode !== "listen-unix") || maps.length === 0) {
  process.stderr.write("usage: ns-forward.ts listen-tcp <port>=<path> ... | listen-unix <path>=<port> ...\n");
  process.exit(2);
}

function relay(client: Socket, upstream: Socket): void {
  const drop = () => {
    client.destroy();
    upstream.destroy();
  };
  client.on("error", drop).on("close", drop);
  upstream.on("error", drop).on("close", drop);
  client.pipe(upstream);
  upstream.pipe(client);
}

let pending = maps.length;
for (const map of maps) {
  const [from, to] = map.split("=") as [string, string];
  const server = createServer((client) => {
    client.setNoDelay?.(true);
    const upstream = mode === "listen-tcp" ? connect(to) : connect(Number(to), "127.0.0.1");
    relay(client, upstream);
  });
  server.on("error", (err) => {
    process.stderr.write(`ns-forward ${map}: ${err.message}\n`);
    process.exit(1);
  });
  const done = () => {
    if (--pending === 0) process.stdout.write("ready\n");
  };
  if (mode === "listen-tcp") server.listen(Number(from), "127.0.0.1", done);
  else {
    rmSync(from, { force: true });
    server.listen(from, done);
  }
}
process.on("SIGTERM", () => process.exit(0));
