import type { Socket } from "node:dgram";
import type { RTCPeerConnection } from "werift";
import type { Metrics } from "../../metrics/metrics.ts";
import { compatLog, udpSockets } from "./compat.ts";

/**
 * Receive buffer asked for on every media UDP socket. A publisher's keyframe arrives as a burst of
 * packets while the server may still be busy forwarding the previous ones to every listener; the
 * Linux default (net.core.rmem_default, 208 KiB, ~90 datagrams of 1,100 bytes counted at their
 * kernel size) then overflows at 50 listeners (issue 11: 5-15 % loss). 1 MiB holds about 2 s of a
 * 1 Mbit/s stream. The kernel caps it at net.core.rmem_max (docs/media.md: raise it to at least this);
 * memory is only used while datagrams wait.
 */
export const UDP_RECEIVE_BUFFER_BYTES = 1024 * 1024;

const adopted = new WeakSet<Socket>();
let warned = false;

/**
 * Sizes the receive buffers of the connection's UDP sockets (once per socket) and registers their
 * local ports (in `owned` and the metrics) for the drop metric (`webrtcsignaling_media_udp_socket_drops`);
 * safe to call after every negotiation. The first socket capped below the size asked logs one warning.
 */
export function adoptUdpSockets(pc: RTCPeerConnection, metrics: Metrics, owned: Set<number>): void {
  for (const socket of udpSockets(pc)) {
    if (adopted.has(socket)) continue;
    adopted.add(socket);
    let port: number;
    try {
      port = socket.address().port;
      socket.setRecvBufferSize(UDP_RECEIVE_BUFFER_BYTES);
    } catch {
      continue; // not bound (yet) or closed: nothing to size
    }
    if (!warned && socket.getRecvBufferSize() < UDP_RECEIVE_BUFFER_BYTES) {
      warned = true;
      compatLog()?.warn(
        { asked: UDP_RECEIVE_BUFFER_BYTES, got: socket.getRecvBufferSize() },
        "UDP receive buffers are capped by net.core.rmem_max: keyframe bursts may be dropped with many listeners (docs/media.md)",
      );
    }
    owned.add(port);
    metrics.mediaUdpPorts.set(port, (metrics.mediaUdpPorts.get(port) ?? 0) + 1);
  }
}

/** Forgets the ports registered by adoptUdpSockets for a closed connection. */
export function releaseUdpPorts(metrics: Metrics, owned: Set<number>): void {
  for (const port of owned) {
    const n = (metrics.mediaUdpPorts.get(port) ?? 1) - 1;
    if (n > 0) metrics.mediaUdpPorts.set(port, n);
    else metrics.mediaUdpPorts.delete(port);
  }
  owned.clear();
}
