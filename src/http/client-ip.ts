import type { IncomingMessage } from "node:http";

/** The client's address: the socket's, or the proxy header's when the peer is a trusted proxy. */
export function clientIp(req: IncomingMessage, trustedProxies: readonly string[]): string {
  const peer = normalise(req.socket.remoteAddress ?? "");
  if (!trustedProxies.includes(peer)) return peer;
  const real = header(req, "x-real-ip");
  if (real) return normalise(real.trim());
  const forwarded = header(req, "x-forwarded-for");
  const first = forwarded?.split(",")[0]?.trim();
  return first ? normalise(first) : peer;
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function normalise(ip: string): string {
  return ip.startsWith("::ffff:") ? ip.slice(7) : ip;
}
