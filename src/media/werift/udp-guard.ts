import type { RTCPeerConnection } from "werift";

/**
 * Drops datagrams that cannot be STUN, DTLS or (S)RTP/RTCP before werift parses them, and counts them
 * (RFC 7983 demultiplexing by first byte, plus minimum lengths and the STUN magic cookie).
 * werift silently ignores most garbage itself; this makes it visible in `udpGarbage` and skips the
 * parsing work. werift's UDP transport is reached through internals (no public hook), hence the
 * narrow structural types below; `install` is idempotent per socket.
 */
interface UdpTransportLike {
  onData: (data: Buffer, addr: [string, number]) => void;
}
interface StunProtocolLike {
  transport?: UdpTransportLike;
}
interface IceConnectionLike {
  protocols?: StunProtocolLike[];
}

const guarded = new WeakSet<UdpTransportLike>();

export function isPlausibleDatagram(data: Buffer): boolean {
  const first = data[0];
  if (first === undefined) return false;
  if (first <= 3) return data.length >= 20 && data.readUInt32BE(4) === 0x2112a442; // STUN
  if (first >= 20 && first <= 63) return data.length >= 13; // DTLS record
  if (first >= 128 && first <= 191) return data.length >= 8; // RTP (12) / RTCP (8)
  return false;
}

export function installUdpGuard(pc: RTCPeerConnection, onGarbage: () => void): void {
  for (const ice of pc.iceTransports) {
    const connection = ice.connection as unknown as IceConnectionLike;
    for (const protocol of connection.protocols ?? []) {
      const transport = protocol.transport;
      if (!transport || guarded.has(transport)) continue;
      guarded.add(transport);
      const deliver = transport.onData;
      transport.onData = (data, addr) => {
        if (isPlausibleDatagram(data)) deliver(data, addr);
        else onGarbage();
      };
    }
  }
}
