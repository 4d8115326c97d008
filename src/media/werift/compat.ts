import type { Socket } from "node:dgram";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import {
  type RTCDtlsTransport,
  type RTCPeerConnection,
  type RTCRtpReceiver,
  type RTCRtpSender,
  type RtcpPacket,
  RtpHeader,
  RtpPacket,
  SrtcpSession,
  SrtpAuthenticationError,
  SrtpSession,
} from "werift";
import type { Logger } from "../../lib/logger.ts";
import { tolerateLateConsentResponses } from "./consent-timeout.ts";
import {
  isSrtpProfile,
  RocState,
  SRTP_REJECT_REPLAY,
  SrtcpUnprotector,
  type SrtpProfile,
  SrtpProtector,
  SrtpUnprotector,
  srtpKeyLengths,
} from "./srtp-context.ts";
import { installSrtpKeyCache, type SrtpKeyCacheStatus } from "./srtp-key-cache.ts";
import { installUdpGuard } from "./udp-guard.ts";

/**
 * Every place where this project reaches into werift beyond its public API, in one module. Each is
 * written for exactly WERIFT_VERSION (package.json pins it), checked at start and listed in
 * docs/media.md with the upstream change that would remove it:
 * 1. No default STUN server: werift's fallback to a public STUN server is cleared (withoutDefaultStun).
 * 2. SRTP key cache: the cipher classes' per-packet key import (srtp-key-cache.ts, self-tested).
 * 3. UDP guard: the ICE connection's UDP transport `onData` (udp-guard.ts).
 * 4. Sender RTCP: `RTCRtpSender.handleRtcpPacket` taken over for NACKs, and its private `rtt`.
 * 5. Dropped BUNDLE transports: `transceiver.dtlsTransport` read to stop what a re-offer drops
 *    (peer-link.ts, `releaseDroppedTransports`).
 * 6. Consent freshness that survives a starved event loop: the STUN protocol's `request` for consent
 *    checks (consent-timeout.ts).
 * 7. The own forwarding path: the DTLS transport's SRTP keys and selected pair's socket
 *    (srtpProtectorFor, datagramPath, udpSockets), and the publisher's SRTP decrypt (ownSrtpReceive).
 * 8. The own RTP ingress: datagrams of streams werift has routed once go from the UDP socket to the
 *    werift track (RtpIngress), skipping werift's STUN parse, event chain, RTP parsing and router.
 * Installed once per thread by the media plane's owner; test and bench peers in the same thread
 * choose explicitly (`installWeriftCompat({ srtpKeyCache })`).
 */
export const WERIFT_VERSION = "0.25.2";

export interface WeriftCompatStatus {
  version: string;
  /** False when the installed werift is not WERIFT_VERSION: only the self-tested SRTP cache may run then. */
  versionMatches: boolean;
  srtpKeyCache: SrtpKeyCacheStatus;
}

let installed: WeriftCompatStatus | undefined;
let installLog: Logger | undefined;

/** The logger of the first installWeriftCompat in this thread (for warnings from the hooks). */
export function compatLog(): Logger | undefined {
  return installLog;
}

/** The version of the werift this process loads. */
export function weriftVersion(): string {
  const require = createRequire(import.meta.url);
  let dir = dirname(require.resolve("werift"));
  for (let i = 0; i < 6; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === "werift" && typeof pkg.version === "string") return pkg.version;
    } catch {
      // not here: one level up
    }
    dir = dirname(dir);
  }
  return "unknown";
}

/**
 * Checks the werift version and installs the process-wide interventions (today the SRTP key cache),
 * once per thread; later calls return the first result. `srtpKeyCache: false` leaves werift's SRTP as
 * it is (the bench's stock baseline).
 */
export function installWeriftCompat(
  log: Logger,
  options: { srtpKeyCache?: boolean } = {},
): WeriftCompatStatus {
  if (installed) return installed;
  installLog = log;
  const version = weriftVersion();
  const versionMatches = version === WERIFT_VERSION;
  if (!versionMatches) {
    log.warn(
      { expected: WERIFT_VERSION, found: version },
      "werift is not the version this server was written for: its internal hooks stay off where they cannot check themselves",
    );
  }
  const srtpKeyCache: SrtpKeyCacheStatus =
    options.srtpKeyCache === false ? { state: "disabled" } : installSrtpKeyCache(log);
  installed = { version, versionMatches, srtpKeyCache };
  log.info({ werift: version, srtpKeyCache: srtpKeyCache.state }, "werift compat installed");
  return installed;
}

/**
 * werift 0.25.2 falls back to stun.l.google.com:19302 when no STUN server is configured, and asks it
 * (a DNS lookup, then STUN) for a server-reflexive candidate on every connection with an IPv4 host
 * address. This server announces its own addresses (PUBLIC_IPV4) and must not contact anything else:
 * the fallback is cleared on every ICE transport just before each gathering (werift reads
 * `connection.stunServer` then). Upstream: treat `iceServers: []` as "no STUN server".
 */
export function withoutDefaultStun(pc: RTCPeerConnection): RTCPeerConnection {
  const setLocalDescription = pc.setLocalDescription.bind(pc);
  pc.setLocalDescription = ((description?: Parameters<RTCPeerConnection["setLocalDescription"]>[0]) => {
    for (const transport of pc.iceTransports) {
      (transport.connection as unknown as { stunServer?: unknown }).stunServer = undefined;
    }
    return setLocalDescription(description);
  }) as RTCPeerConnection["setLocalDescription"];
  return pc;
}

/**
 * Consent checks wait CONSENT_RESPONSE_TIMEOUT_MS for their answer and survive the next check, so a
 * starved event loop does not fail a live connection (consent-timeout.ts). Upstream: keep earlier
 * consent transactions open until the 30 s consent window ends, as browsers do.
 */
export function tolerateLateConsent(pc: RTCPeerConnection): void {
  if (installed?.versionMatches === false) return;
  tolerateLateConsentResponses(pc);
}

/** Drops and counts datagrams that cannot be STUN/DTLS/RTP/RTCP before werift parses them (idempotent). */
export function guardUdp(pc: RTCPeerConnection, onGarbage: () => void): void {
  if (installed?.versionMatches === false) return;
  installUdpGuard(pc, onGarbage);
}

/**
 * Routes the sender's incoming RTCP through `handle` first: when it returns true the packet is
 * consumed (werift never sees it), otherwise werift handles it and `after` runs. Returns the undo.
 */
export function interceptSenderRtcp(
  sender: RTCRtpSender,
  handle: (packet: RtcpPacket) => boolean,
  after: (packet: RtcpPacket) => void,
): () => void {
  const original = sender.handleRtcpPacket;
  sender.handleRtcpPacket = (packet: RtcpPacket) => {
    if (handle(packet)) return;
    original.call(sender, packet);
    after(packet);
  };
  return () => {
    sender.handleRtcpPacket = original;
  };
}

/** The sender's smoothed round-trip time from receiver reports, in ms (werift keeps it in seconds), 0 until known. */
export function senderRttMs(sender: RTCRtpSender): number {
  const rtt = (sender as unknown as { rtt?: number }).rtt;
  return typeof rtt === "number" && rtt > 0 ? rtt * 1000 : 0;
}

/** What PeerLink needs of a werift RTCDtlsTransport (which owns an ICE transport and its UDP sockets). */
export interface TransportLike {
  readonly state: string;
  stop(): Promise<void>;
}

/** Every DTLS transport the connection's transceivers (and SCTP) reference now. */
export function currentTransports(pc: RTCPeerConnection): Set<TransportLike> {
  const out = new Set<TransportLike>();
  for (const t of pc.getTransceivers()) {
    const transport = t.dtlsTransport as TransportLike | undefined;
    if (transport) out.add(transport);
  }
  const sctp = pc.sctpTransport?.dtlsTransport as TransportLike | undefined;
  if (sctp) out.add(sctp);
  return out;
}

/** The local (sending) SRTP master key material of a connected DTLS transport. */
export interface SrtpSendKeys {
  profile: SrtpProfile;
  masterKey: Buffer;
  masterSalt: Buffer;
}

interface DtlsSocketLike {
  srtp?: { srtpProfile?: number };
  extractSessionKeys?: (
    keyLength: number,
    saltLength: number,
  ) => { localKey?: Buffer; localSalt?: Buffer; remoteKey?: Buffer; remoteSalt?: Buffer };
}

/**
 * The sending side's SRTP protector for a connected transport, keyed from the master key and salt
 * its DTLS handshake exported (`dtls.extractSessionKeys`, the RFC 5764 exporter werift itself uses),
 * or the reason why not. Self-tested per connection: a probe packet (SSRC 0, which no stream of ours
 * uses) protected by ours must equal werift's own SRTP session output for the same keys.
 */
export function srtpProtectorFor(transport: RTCDtlsTransport): SrtpProtector | string {
  if (installed?.versionMatches === false) return `werift is not ${WERIFT_VERSION}`;
  if (transport.state !== "connected") return "DTLS transport not connected";
  const dtls = transport.dtls as unknown as DtlsSocketLike | undefined;
  const profile = dtls?.srtp?.srtpProfile;
  if (!dtls || !isSrtpProfile(profile)) return `no supported SRTP profile (${String(profile)})`;
  if (typeof dtls.extractSessionKeys !== "function") return "DTLS socket has no extractSessionKeys";
  const lengths = srtpKeyLengths(profile);
  const keys = dtls.extractSessionKeys(lengths.key, lengths.salt);
  if (!Buffer.isBuffer(keys.localKey) || !Buffer.isBuffer(keys.localSalt)) return "no local SRTP keys";
  const protector = SrtpProtector.fromMaster(profile, keys.localKey, keys.localSalt);
  try {
    const session = transport.srtp as unknown as { encrypt?: (payload: Buffer, header: RtpHeader) => Buffer };
    if (typeof session?.encrypt !== "function") return "transport has no SRTP session";
    const header = new RtpHeader({ payloadType: 96, sequenceNumber: 1, timestamp: 2, ssrc: 0, marker: true });
    const payload = Buffer.alloc(32, 0x5a);
    const theirs = session.encrypt(payload, header);
    const hdr = header.serialize(header.serializeSize);
    const ours = protector.protect(hdr, hdr.length, payload, 0, 1, new RocState().next(1));
    if (!ours.equals(theirs)) return "self-test: our SRTP output differs from werift's for this connection";
  } catch (err) {
    return `self-test failed: ${(err as Error).message}`;
  }
  return protector;
}

/** Sends datagrams on a connection's selected candidate pair (see datagramPath). */
export interface DatagramPath {
  /** False when the datagram was not sent: no selected pair, no consent, or the connection is closed. */
  send(datagram: Buffer): boolean;
}

interface IceConnectionLike {
  state?: string;
  nominated?: {
    protocol?: { transport?: { socket?: Socket; closed?: boolean } };
    remoteAddr?: [string, number];
  };
  canSendApplicationData?: () => boolean;
  send(data: Buffer): Promise<void>;
}

/**
 * A synchronous send on the transport's selected candidate pair: werift's
 * `iceTransport.connection.send` checks RFC 7675 consent and writes to the pair's UDP socket through
 * three async functions (three promises per packet); this does the same checks and one
 * `socket.send(datagram, port, address)`. The pair is read on every call (it may change); a pair that
 * is not UDP goes through werift's own send.
 */
export function datagramPath(transport: RTCDtlsTransport): DatagramPath | string {
  if (installed?.versionMatches === false) return `werift is not ${WERIFT_VERSION}`;
  const conn = transport.iceTransport.connection as unknown as IceConnectionLike;
  if (typeof conn.canSendApplicationData !== "function") return "ICE connection has no consent check";
  let pair: IceConnectionLike["nominated"];
  let socket: Socket | undefined;
  let port = 0;
  let address = "";
  let udp: { closed?: boolean } | undefined;
  return {
    send(datagram: Buffer): boolean {
      const current = conn.nominated;
      if (current === undefined || !(conn.canSendApplicationData as () => boolean).call(conn)) return false;
      if (current !== pair) {
        pair = current;
        const t = current.protocol?.transport;
        socket = t?.socket && typeof t.socket.send === "function" ? t.socket : undefined;
        udp = t;
        const addr = current.remoteAddr;
        port = addr?.[1] ?? 0;
        address = addr?.[0] ?? "";
        if (!socket || !address) socket = undefined;
      }
      if (!socket) {
        conn.send(datagram).catch(() => undefined);
        return true;
      }
      if (udp?.closed) return false;
      socket.send(datagram, port, address);
      return true;
    },
  };
}

/** The UDP sockets werift opened for a connection (ICE host candidates), for sizing and drop counts. */
export function udpSockets(pc: RTCPeerConnection): Socket[] {
  if (installed?.versionMatches === false) return [];
  const out: Socket[] = [];
  for (const ice of pc.iceTransports) {
    const connection = ice.connection as unknown as { protocols?: { transport?: { socket?: Socket } }[] };
    for (const protocol of connection.protocols ?? []) {
      const socket = protocol.transport?.socket;
      if (socket && typeof socket.setRecvBufferSize === "function") out.push(socket);
    }
  }
  return out;
}

interface NackHandlerLike {
  addPacket(packet: RtpPacket): void;
  close(): void;
}

const NACK_PER_SSRC = Symbol("nackPerSsrc");

/**
 * 5. Simulcast NACKs: werift 0.25.2's receiver keeps one NACK state (`receiver.nack`, private) for all
 * SSRCs, so the packets of several simulcast layers interleaved look like gaps of hundreds of
 * packets and it NACKs them every 5 ms. This gives each SSRC its own handler of werift's class
 * (the same logic, per stream). False when the receiver does not look as expected (then werift's
 * handler stays). Upstream: a NackHandler per SSRC in RTCRtpReceiver.
 */
export function nackPerSsrc(receiver: RTCRtpReceiver): boolean {
  if (installed?.versionMatches === false) return false;
  const r = receiver as unknown as { nack?: NackHandlerLike & { [NACK_PER_SSRC]?: true } };
  const original = r.nack;
  if (!original || typeof original.addPacket !== "function" || typeof original.close !== "function")
    return false;
  if (original[NACK_PER_SSRC]) return true;
  const Handler = original.constructor as new (receiver: RTCRtpReceiver) => NackHandlerLike;
  const bySsrc = new Map<number, NackHandlerLike>();
  const split = Object.assign(Object.create(original) as NackHandlerLike, {
    [NACK_PER_SSRC]: true as const,
    addPacket(packet: RtpPacket): void {
      const ssrc = packet.header.ssrc;
      let handler = bySsrc.get(ssrc);
      if (!handler) {
        handler = new Handler(receiver);
        bySsrc.set(ssrc, handler);
      }
      handler.addPacket(packet);
    },
    close(): void {
      original.close();
      for (const h of bySsrc.values()) h.close();
      bySsrc.clear();
    },
  });
  r.nack = split;
  return true;
}

/** What ownSrtpReceive reports about rejected packets (PeerLink counts them). */
export interface SrtpReceiveCounts {
  rejected(reason: "auth" | "replay"): void;
}

interface SessionLike {
  decrypt: (buf: Buffer) => Buffer;
  /** The unprotector that replaced werift's decrypt (shared with the connection's RtpIngress). */
  [OWN_RECEIVE]?: SrtpUnprotector | SrtcpUnprotector;
}

const OWN_RECEIVE = Symbol("webrtcsignaling.ownSrtpReceive");
/** Thrown (one instance, no stack per packet) to make werift drop a rejected packet, as it does its own. */
const REJECTED = new SrtpAuthenticationError("SRTP packet rejected (authentication or replay)");

/**
 * The receive side of the own media path: a connected transport's incoming SRTP and SRTCP are
 * unprotected by our SrtpUnprotector / SrtcpUnprotector (keyed once from the remote master key and
 * salt of werift's DTLS exporter, replay windows, KeyObjects, in place in the received datagram)
 * instead of werift's SrtpSession/SrtcpSession, whose ciphers import their key Buffers on every
 * packet. werift's `decrypt` is an instance property of each session (an arrow function), replaced
 * on these two objects only; its RtpPacket/RTCP parsing, routing and receiver (NACKs to the
 * publisher, receiver reports, rid mapping) stay as they are. A rejected packet is counted and
 * dropped the way werift drops one that fails authentication. Self-tested per connection: probe
 * packets (SSRC 0) protected with the remote keys by werift must decrypt to the same bytes with ours
 * and with werift's sessions of this transport, else werift's decrypt stays. Returns why not, or
 * undefined. Idempotent per session.
 */
export function ownSrtpReceive(transport: RTCDtlsTransport, counts: SrtpReceiveCounts): string | undefined {
  if (installed?.versionMatches === false) return `werift is not ${WERIFT_VERSION}`;
  if (transport.state !== "connected") return "DTLS transport not connected";
  const srtp = transport.srtp as unknown as SessionLike | undefined;
  const srtcp = (transport as unknown as { srtcp?: SessionLike }).srtcp;
  if (typeof srtp?.decrypt !== "function" || typeof srtcp?.decrypt !== "function")
    return "transport has no SRTP/SRTCP session";
  if (srtp[OWN_RECEIVE] && srtcp[OWN_RECEIVE]) return undefined;
  const dtls = transport.dtls as unknown as DtlsSocketLike | undefined;
  const profile = dtls?.srtp?.srtpProfile;
  if (!dtls || !isSrtpProfile(profile)) return `no supported SRTP profile (${String(profile)})`;
  if (typeof dtls.extractSessionKeys !== "function") return "DTLS socket has no extractSessionKeys";
  const lengths = srtpKeyLengths(profile);
  const keys = dtls.extractSessionKeys(lengths.key, lengths.salt);
  if (!Buffer.isBuffer(keys.remoteKey) || !Buffer.isBuffer(keys.remoteSalt)) return "no remote SRTP keys";
  const remoteKey = keys.remoteKey;
  const remoteSalt = keys.remoteSalt;
  try {
    // What the remote peer sends: werift's own encrypt with the remote keys as its local ones.
    const peerKeys = {
      localMasterKey: remoteKey,
      localMasterSalt: remoteSalt,
      remoteMasterKey: remoteKey,
      remoteMasterSalt: remoteSalt,
    };
    const header = new RtpHeader({ payloadType: 96, sequenceNumber: 1, timestamp: 2, ssrc: 0, marker: true });
    const rtp = new SrtpSession({ profile, keys: peerKeys }).encrypt(Buffer.alloc(32, 0x5a), header);
    const testRtp = SrtpUnprotector.fromMaster(profile, remoteKey, remoteSalt);
    const rtpCopy = Buffer.from(rtp);
    const n = testRtp.unprotect(rtpCopy);
    if (n < 0 || !rtpCopy.subarray(0, n).equals(srtp.decrypt(Buffer.from(rtp))))
      return "self-test: our SRTP unprotect differs from werift's for this connection";
    const rr = Buffer.from([0x80, 201, 0, 1, 0, 0, 0, 0]);
    const rtcp = new SrtcpSession({ profile, keys: peerKeys }).encrypt(rr);
    const testRtcp = SrtcpUnprotector.fromMaster(profile, remoteKey, remoteSalt);
    const rtcpCopy = Buffer.from(rtcp);
    const m = testRtcp.unprotect(rtcpCopy);
    if (m < 0 || !rtcpCopy.subarray(0, m).equals(srtcp.decrypt(Buffer.from(rtcp))))
      return "self-test: our SRTCP unprotect differs from werift's for this connection";
  } catch (err) {
    return `self-test failed: ${(err as Error).message}`;
  }
  const rtpUnprotector = SrtpUnprotector.fromMaster(profile, remoteKey, remoteSalt);
  const rtcpUnprotector = SrtcpUnprotector.fromMaster(profile, remoteKey, remoteSalt);
  srtp[OWN_RECEIVE] = rtpUnprotector;
  srtp.decrypt = (buf: Buffer): Buffer => {
    const n = rtpUnprotector.unprotect(buf);
    if (n >= 0) return buf.subarray(0, n);
    counts.rejected(n === SRTP_REJECT_REPLAY ? "replay" : "auth");
    throw REJECTED;
  };
  srtcp[OWN_RECEIVE] = rtcpUnprotector;
  srtcp.decrypt = (buf: Buffer): Buffer => {
    const n = rtcpUnprotector.unprotect(buf);
    if (n >= 0) return buf.subarray(0, n);
    counts.rejected(n === SRTP_REJECT_REPLAY ? "replay" : "auth");
    throw REJECTED;
  };
  return undefined;
}

interface UdpTransportLike {
  onData: (data: Buffer, addr: [string, number]) => void;
}

interface StreamStatisticsLike {
  add(packet: RtpPacket): void;
}

interface CodecLike {
  name: string;
  payloadType: number;
  rtcpFeedback?: { type: string }[];
}

/** The parts of werift 0.25.2's RTCRtpReceiver that its `handleRTP` uses for a plain media packet. */
interface ReceiverLike {
  type?: string;
  stopped: boolean;
  codecs: Record<number, CodecLike | undefined>;
  ssrcByRtx: Record<number, number | undefined>;
  remoteStreams: Record<number, StreamStatisticsLike | undefined>;
  trackBySSRC: Record<
    number,
    { kind: string; stopped: boolean; onReceiveRtp: { execute(...a: unknown[]): void } } | undefined
  >;
  nack: { addPacket(packet: RtpPacket): void };
  receiverTWCC?: unknown;
  rtcpRunning: boolean;
  runRtcp(): Promise<void>;
}

interface RouterLike {
  ssrcTable: Record<number, unknown>;
  ridTable: Record<string, unknown>;
}

/** One routed SSRC: where werift's router and receiver sent its packets. */
interface IngressRoute {
  receiver: ReceiverLike;
  track: NonNullable<ReceiverLike["trackBySSRC"][number]>;
  video: boolean;
  /** Cache of the last payload type's codec lookup (codecs are replaced on renegotiation). */
  codec: CodecLike | undefined;
  /** That codec is a plain media codec (not RTX or RED) and the receiver NACKs it. */
  plain: boolean;
  nack: boolean;
}

const INGRESS = Symbol("webrtcsignaling.rtpIngress");

/** What RtpIngress reports: rejected packets, routed packets, and errors thrown by the track's subscribers. */
export interface IngressCounts extends SrtpReceiveCounts {
  routed(): void;
  failed(err: unknown): void;
}
type Taken = 0 | 1 | 2;
const NOT_OURS: Taken = 0;
const TAKEN: Taken = 1;
/** RTP of an SSRC not routed here (yet). */
const UNROUTED: Taken = 2;

function isReceiver(v: unknown): v is ReceiverLike {
  const r = v as Partial<ReceiverLike> | undefined;
  return (
    r !== undefined &&
    r !== null &&
    r.type === "receiver" &&
    typeof r.codecs === "object" &&
    typeof r.remoteStreams === "object" &&
    typeof r.trackBySSRC === "object" &&
    typeof r.nack?.addPacket === "function" &&
    typeof r.runRtcp === "function"
  );
}

/**
 * 8. The own RTP ingress of one connection (MEDIA_RECEIVE=own). werift hands each datagram through
 * its STUN parser, three events, `RtpPacket.deSerialize` (bit by bit, extensions into objects), the
 * router (header extensions parsed again) and the receiver (codec getters, a clone) before the
 * track's `onReceiveRtp`. For an SSRC werift has routed once, this does the same from the UDP
 * socket on: the SSRC and payload type are read from the clear header, the packet is unprotected
 * in place by the same SrtpUnprotector werift's session uses (one replay window), its header read
 * into a werift RtpHeader field by field, and the receiver's own statistics (for its receiver
 * reports) and NACK state get it before the track does, as in werift's `handleRTP`. Anything else
 * goes to werift unchanged: unknown SSRCs, RTX, RED, TWCC, RTCP, STUN, DTLS, a stopped receiver.
 * Installed on the UDP transports of the connection's ICE connection when the connection is up;
 * `close()` sends everything back to werift.
 */
export class RtpIngress {
  readonly #router: RouterLike;
  readonly #unprotector: SrtpUnprotector;
  readonly #counts: IngressCounts;
  readonly #routes = new Map<number, IngressRoute>();
  readonly #stats: { bytesReceived: number; packetsReceived: number };
  #closed = false;

  private constructor(
    router: RouterLike,
    unprotector: SrtpUnprotector,
    counts: IngressCounts,
    stats: { bytesReceived: number; packetsReceived: number },
  ) {
    this.#router = router;
    this.#unprotector = unprotector;
    this.#counts = counts;
    this.#stats = stats;
  }

  /**
   * The ingress for a connection whose transport is on our SRTP receive (ownSrtpReceive first), or
   * why not. Idempotent per UDP transport.
   */
  static install(
    pc: RTCPeerConnection,
    transport: RTCDtlsTransport,
    counts: IngressCounts,
  ): RtpIngress | string {
    if (installed?.versionMatches === false) return `werift is not ${WERIFT_VERSION}`;
    const router = (pc as unknown as { router?: Partial<RouterLike> }).router;
    if (typeof router?.ssrcTable !== "object" || typeof router.ridTable !== "object")
      return "connection has no RTP router";
    const unprotector = (transport.srtp as unknown as SessionLike | undefined)?.[OWN_RECEIVE];
    if (!(unprotector instanceof SrtpUnprotector)) return "transport is not on the own SRTP receive";
    const stats = transport as unknown as { bytesReceived?: number; packetsReceived?: number };
    if (typeof stats.bytesReceived !== "number" || typeof stats.packetsReceived !== "number")
      return "transport has no receive statistics";
    const connection = transport.iceTransport.connection as unknown as {
      protocols?: { transport?: Partial<UdpTransportLike> & { type?: string; [INGRESS]?: RtpIngress } }[];
    };
    // UDP only: a stream transport (ICE-TCP, off today) hands over chunks, not datagrams.
    const udp = (connection.protocols ?? [])
      .map((p) => p.transport)
      .filter(
        (t): t is UdpTransportLike & { [INGRESS]?: RtpIngress } =>
          t?.type === "udp" && typeof t.onData === "function",
      );
    if (udp.length === 0) return "no UDP transport";
    const ingress = new RtpIngress(
      router as RouterLike,
      unprotector,
      counts,
      stats as { bytesReceived: number; packetsReceived: number },
    );
    for (const t of udp) {
      if (t[INGRESS]) continue;
      t[INGRESS] = ingress;
      const next = t.onData;
      t.onData = (data, addr) => {
        const taken = ingress.#take(data);
        if (taken === TAKEN) return;
        next(data, addr);
        // werift routed it synchronously: learn the stream from the state it left.
        if (taken === UNROUTED) ingress.#register(data.readUInt32BE(8));
      };
    }
    return ingress;
  }

  close(): void {
    this.#closed = true;
    this.#routes.clear();
  }

  /** TAKEN when the datagram was ours (delivered, or dropped and counted); else werift's. */
  #take(data: Buffer): Taken {
    if (this.#closed || data.length < 12) return NOT_OURS;
    const b0 = data[0] as number;
    const b1 = data[1] as number;
    // RTP by werift's own tests (isMedia, not isRtcp), so both paths classify alike.
    if (b0 < 128 || b0 > 191 || (b1 >= 192 && b1 <= 208)) return NOT_OURS;
    const ssrc = data.readUInt32BE(8);
    const route = this.#routes.get(ssrc);
    if (route === undefined) return UNROUTED;
    const r = route.receiver;
    if (r.stopped || route.track.stopped) {
      this.#routes.delete(ssrc);
      return NOT_OURS;
    }
    const pt = b1 & 0x7f;
    const codec = r.codecs[pt];
    if (codec !== route.codec) this.#recheck(route, codec);
    if (!route.plain) return NOT_OURS;
    const n = this.#unprotector.unprotect(data);
    if (n < 0) {
      this.#counts.rejected(n === SRTP_REJECT_REPLAY ? "replay" : "auth");
      return TAKEN;
    }
    // The unprotector checked that header, extension and padding fit the packet (else: rejected).
    const cc = b0 & 0x0f;
    let offset = 12 + cc * 4;
    if ((b0 & 0x10) !== 0) offset += 4 + data.readUInt16BE(offset + 2) * 4;
    const end = (b0 & 0x20) !== 0 ? n - (data[n - 1] as number) : n;
    const header = new RtpHeader();
    header.marker = (b1 & 0x80) !== 0;
    header.payloadType = pt;
    header.sequenceNumber = data.readUInt16BE(2);
    header.timestamp = data.readUInt32BE(4);
    header.ssrc = ssrc;
    if (cc > 0) {
      header.csrcLength = cc;
      header.csrc = [];
      for (let i = 0; i < cc; i++) header.csrc.push(data.readUInt32BE(12 + i * 4));
    }
    header.payloadOffset = offset;
    const packet = new RtpPacket(header, data.subarray(offset, end));
    // What werift's ICE connection and DTLS transport count per datagram (getStats).
    this.#stats.bytesReceived += data.length;
    this.#stats.packetsReceived++;
    this.#counts.routed();
    // werift's handleRTP for a plain packet, minus what only RTX/RED/TWCC need.
    try {
      (r.remoteStreams[ssrc] as StreamStatisticsLike).add(packet);
      if (route.nack) r.nack.addPacket(packet);
      route.track.onReceiveRtp.execute(packet, EMPTY_EXTENSIONS);
      if (!r.rtcpRunning) r.runRtcp().catch(() => undefined);
    } catch (err) {
      // A bug downstream (werift's UDP handler would swallow it): counted, and the next packet goes on.
      this.#counts.failed(err);
    }
    return TAKEN;
  }

  #recheck(route: IngressRoute, codec: CodecLike | undefined): void {
    route.codec = codec;
    const name = codec?.name.toLowerCase();
    route.plain = codec !== undefined && name !== "rtx" && name !== "red";
    const first = Object.values(route.receiver.codecs).sort(
      (a, b) => (a?.payloadType ?? 0) - (b?.payloadType ?? 0),
    )[0];
    route.nack = route.video && first?.rtcpFeedback?.some((f) => f.type === "nack") === true;
  }

  /**
   * After werift routed a packet of an SSRC not routed here: when its router and receiver now know
   * the stream as a plain media SSRC of a live track (not RTX, no transport-cc), the next are ours.
   */
  #register(ssrc: number): void {
    if (this.#closed || this.#routes.has(ssrc)) return;
    let receiver: unknown = this.#router.ssrcTable[ssrc];
    if (!isReceiver(receiver) || receiver.trackBySSRC[ssrc] === undefined)
      receiver = Object.values(this.#router.ridTable).find((r) => isReceiver(r) && r.trackBySSRC[ssrc]);
    if (!isReceiver(receiver) || receiver.stopped) return;
    const track = receiver.trackBySSRC[ssrc];
    if (!track || track.stopped || typeof track.onReceiveRtp?.execute !== "function") return;
    if (receiver.ssrcByRtx[ssrc] !== undefined || receiver.receiverTWCC !== undefined) return;
    const codecs = Object.values(receiver.codecs);
    if (codecs.some((c) => c?.rtcpFeedback?.some((f) => f.type === "transport-cc"))) return;
    if (receiver.remoteStreams[ssrc] === undefined) return;
    const route: IngressRoute = {
      receiver,
      track,
      video: track.kind === "video",
      codec: undefined,
      plain: false,
      nack: false,
    };
    this.#recheck(route, undefined);
    this.#routes.set(ssrc, route);
  }
}

const EMPTY_EXTENSIONS = Object.freeze({});
