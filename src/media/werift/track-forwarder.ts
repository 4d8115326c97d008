import { randomInt } from "node:crypto";
import {
  GenericNack,
  PictureLossIndication,
  ReceiverEstimatedMaxBitrate,
  type RTCRtpSender,
  type RtcpPacket,
  RtcpPayloadSpecificFeedback,
  RtcpRrPacket,
  RtcpSenderInfo,
  RtcpSrPacket,
  RtcpTransportLayerFeedback,
  RtpHeader,
  RtpPacket,
  wrapRtx,
} from "werift";
import type { MediaPacketCounts, Metrics } from "../../metrics/metrics.ts";
import type { LayerSwitch } from "../layer-switch.ts";
import { PacketHistory } from "../packet-history.ts";
import { type DatagramPath, interceptSenderRtcp, senderRttMs } from "./compat.ts";
import type { PublishedTrack } from "./published-track.ts";
import { RtpRewriter } from "./rtp-rewriter.ts";
import { RocState, type SrtpProtector } from "./srtp-context.ts";

/**
 * A packet is resent at most once per round trip (as libwebrtc does), however often it is NACKed;
 * capped so that a stale, inflated RTT never stops repair.
 */
const NACK_RESEND_MAX_INTERVAL_MS = 250;
/** What a forwarder reports upstream: keyframe needs and the listener's bandwidth feedback. */
export interface ForwarderFeedback {
  keyframeNeeded(): void;
  remb(bitrate: number): void;
  loss(fractionLost: number): void;
}

/**
 * The project's own egress for one listener connection: its SRTP protector (keys from the DTLS
 * handshake) and the selected candidate pair's socket. Shared by the connection's forwarders.
 */
export interface Egress {
  protector: SrtpProtector;
  path: DatagramPath;
}

export interface TrackForwarderOptions {
  /** What the forwarder subscribes to: a published track, or TranscodeLayers.source (it uses nothing else). */
  source: Pick<PublishedTrack, "kind" | "subscribe">;
  sender: RTCRtpSender;
  /** RTX payload type negotiated with the listener, if any. */
  rtxPayloadType: number | undefined;
  clockRate: number;
  nackHistoryMs: number;
  metrics: Metrics;
  feedback: ForwarderFeedback;
  /** The negotiated MID header extension (one-byte id and the transceiver's mid), written on every packet. */
  mid?: { id: number; value: string };
  /** Simulcast video: the listener's layer gate (which layer passes, VP8 picture ID rewrite). */
  layers?: LayerSwitch;
  now?: () => number;
}

/** RTCP PSFB FMT of a Full Intra Request (werift does not export its class). */
const FIR_COUNT = 4;
const U16 = 0x10000;
const U32 = 0x100000000;
/** Seconds from 1900 (NTP epoch) to 1970. */
const NTP_EPOCH_OFFSET_S = 2208988800;

/** Wall-clock time as NTP seconds (float). */
function ntpSeconds(): number {
  return (performance.timeOrigin + performance.now()) / 1000 + NTP_EPOCH_OFFSET_S;
}

/** The middle 32 bits of an NTP timestamp (RFC 3550 LSR/DLSR units: 1/65536 s). */
function compactNtp(ntp: number): number {
  return Math.floor(ntp * 65536) >>> 0;
}

/**
 * An RTP header written in place for every packet of one outgoing stream: fixed fields (version,
 * SSRC, the MID extension) once, marker/payload type, sequence number and timestamp per packet.
 */
export class HeaderTemplate {
  readonly bytes: Buffer;
  readonly #pt: number;

  constructor(payloadType: number, ssrc: number, mid: { id: number; value: string } | undefined) {
    const ext = mid ? extensionBlock(mid.id, Buffer.from(mid.value, "ascii")) : undefined;
    this.bytes = Buffer.alloc(12 + (ext?.length ?? 0));
    this.bytes[0] = 0x80 | (ext ? 0x10 : 0);
    this.bytes.writeUInt32BE(ssrc >>> 0, 8);
    ext?.copy(this.bytes, 12);
    this.#pt = payloadType & 0x7f;
  }

  write(marker: boolean, seq: number, timestamp: number): Buffer {
    const b = this.bytes;
    b[1] = (marker ? 0x80 : 0) | this.#pt;
    b.writeUInt16BE(seq, 2);
    b.writeUInt32BE(timestamp >>> 0, 4);
    return b;
  }
}

/** A one-byte-header extension block (RFC 8285) holding one element, padded to 32 bits. */
function extensionBlock(id: number, value: Buffer): Buffer {
  const body = 1 + value.length;
  const words = Math.ceil(body / 4);
  const out = Buffer.alloc(4 + words * 4);
  out.writeUInt16BE(0xbede, 0);
  out.writeUInt16BE(words, 2);
  out[4] = (id << 4) | (value.length - 1);
  value.copy(out, 5);
  return out;
}

/**
 * Forwards one published track to one listener, rewriting each packet so that the listener sees a
 * single continuous stream: its own SSRC and payload type, and sequence numbers and timestamps that
 * continue across the publisher's re-publish (new SSRC). Answers the listener's NACKs from a
 * NACK_HISTORY_MS history (werift's sender keeps only 128 packets, so its own NACK handling is
 * bypassed), turns PLI/FIR into keyframe requests and passes REMB/RR loss upstream.
 *
 * Two egress modes, chosen once per connection (MEDIA_FORWARDING):
 * - own (default): the header is written in place on a template, the packet protected with the
 *   connection's own SRTP context and sent on the selected pair's socket (useEgress); sender reports
 *   and the round-trip time are ours too. Until the connection is up packets are dropped, as werift
 *   does before DTLS.
 * - werift: an RtpPacket per packet through werift's RTCRtpSender.sendRtp (the previous path, kept
 *   for comparison and as the fallback when the own egress cannot be set up).
 */
export class TrackForwarder {
  readonly #o: TrackForwarderOptions;
  /** Source packets by outgoing seq, with the outgoing timestamp as aux (nothing copied per packet). */
  readonly #history: PacketHistory<RtpPacket>;
  readonly #now: () => number;
  readonly #kind: "audio" | "video";
  readonly #counts: MediaPacketCounts;
  #unsubscribe: (() => void) | undefined;
  #restoreRtcp: (() => void) | undefined;
  #mode: "werift" | "own-pending" | "own";
  #egress: Egress | undefined;
  #header: HeaderTemplate | undefined;
  #rtxHeader: HeaderTemplate | undefined;
  readonly #roc = new RocState();
  readonly #rtxRoc = new RocState();
  readonly #rewriter: RtpRewriter;
  #rtxSeq = randomInt(U16);
  #packetsOut = 0;
  #octetsOut = 0;
  /** Own mode: compact NTP of the last sender report and the smoothed round-trip time (ms, 0 = unknown). */
  #lastSrCompact = -1;
  #rttMs = 0;

  constructor(options: TrackForwarderOptions, mode: "werift" | "own" = "werift") {
    this.#o = options;
    this.#kind = options.source.kind;
    this.#counts = options.metrics.packetCounts;
    this.#now = options.now ?? performance.now.bind(performance);
    this.#history = new PacketHistory<RtpPacket>(
      options.nackHistoryMs,
      options.source.kind === "video" ? 4096 : 512,
    );
    this.#rewriter = new RtpRewriter(options.clockRate);
    this.#mode = mode === "own" ? "own-pending" : "werift";
    this.#unsubscribe = options.source.subscribe((packet, nowMs, layer) =>
      this.#forward(packet, nowMs, layer),
    );
    this.#interceptRtcp();
  }

  get kind(): "audio" | "video" {
    return this.#kind;
  }

  get packetsOut(): number {
    return this.#packetsOut;
  }

  /** "own" once the connection's own egress is in use, "werift" on werift's sender path. */
  get mode(): "werift" | "own-pending" | "own" {
    return this.#mode;
  }

  /** The smoothed round-trip time to the listener in ms (0 until known). */
  get rttMs(): number {
    return this.#mode === "werift" ? senderRttMs(this.#o.sender) : this.#rttMs;
  }

  /** Switches a pending own-mode forwarder to the connection's egress (connection up). */
  useEgress(egress: Egress): void {
    if (this.#mode !== "own-pending") return;
    const { sender, rtxPayloadType, mid } = this.#o;
    const payloadType = sender.codec?.payloadType;
    if (payloadType === undefined) {
      this.useWerift();
      return;
    }
    this.#header = new HeaderTemplate(payloadType, sender.ssrc, mid);
    if (rtxPayloadType !== undefined)
      this.#rtxHeader = new HeaderTemplate(rtxPayloadType, sender.rtxSsrc, mid);
    this.#egress = egress;
    this.#mode = "own";
  }

  /**
   * Padding for a bandwidth probe (simulcast layer selection, issue 12): up to `bytes` of the most
   * recent packets sent again over RTX, which the receiver drops as duplicates while its bandwidth
   * estimate counts them. Own mode with RTX only; returns the payload bytes sent.
   */
  probe(bytes: number): number {
    if (this.#mode !== "own" || !this.#rtxHeader || this.#packetsOut === 0) return 0;
    const now = this.#now();
    const last = this.#rewriter.seq;
    let sent = 0;
    for (let i = 0; i < 64 && sent < bytes; i++) {
      const seq = (last - i + U16) % U16;
      const packet = this.#history.get(seq, now);
      if (!packet) continue;
      this.#resendOwn(packet, seq, this.#history.aux(seq, now) ?? 0);
      sent += packet.payload.length;
    }
    return sent;
  }

  /** The own egress could not be set up: forward through werift's sender instead. */
  useWerift(): void {
    if (this.#mode === "own-pending") this.#mode = "werift";
  }

  close(): void {
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    this.#restoreRtcp?.();
    this.#restoreRtcp = undefined;
    this.#history.clear();
    this.#egress = undefined;
  }

  /**
   * Own mode: this stream's RTCP sender report (RFC 3550 6.4.1) for now, or undefined before the
   * first packet. The RTP timestamp is the last one sent, advanced by the wall-clock time since.
   */
  senderReport(): RtcpSrPacket | undefined {
    if (this.#mode !== "own" || this.#packetsOut === 0) return undefined;
    const ntp = ntpSeconds();
    const sinceMs = this.#now() - this.#rewriter.lastAtMs;
    const rtpTimestamp =
      (this.#rewriter.lastTimestamp + Math.round((sinceMs * this.#o.clockRate) / 1000)) % U32;
    const seconds = Math.floor(ntp);
    const fraction = Math.floor((ntp - seconds) * U32) >>> 0;
    this.#lastSrCompact = compactNtp(ntp);
    return new RtcpSrPacket({
      ssrc: this.#o.sender.ssrc,
      senderInfo: new RtcpSenderInfo({
        ntpTimestamp: (BigInt(seconds >>> 0) << 32n) | BigInt(fraction),
        rtpTimestamp,
        packetCount: this.#packetsOut % U32,
        octetCount: this.#octetsOut % U32,
      }),
    });
  }

  #forward(input: RtpPacket, now: number, layer: number): void {
    const mode = this.#mode;
    if (mode === "own-pending") return;
    const { sender } = this.#o;
    const h = input.header;
    const gate = this.#o.layers;
    // Simulcast: only the listener's layer passes; a new layer starts on its keyframe.
    if (gate !== undefined && !gate.admit(layer, h.ssrc, input.payload)) return;
    const rw = this.#rewriter;
    // A new source (re-publish) continues the numbering; video then needs a keyframe (a layer
    // switch starts on one).
    if (
      rw.rewrite(h.ssrc, h.sequenceNumber, h.timestamp, now) &&
      this.#kind === "video" &&
      gate === undefined
    )
      this.#o.feedback.keyframeNeeded();
    const seq = rw.seq;
    const timestamp = rw.timestamp;
    let payload = input.payload;
    if (mode === "own") {
      const egress = this.#egress as Egress;
      const header = (this.#header as HeaderTemplate).write(h.marker, seq, timestamp);
      // The picture ID rewrite is done in place on the shared payload and undone right after.
      const patched = gate?.rewriter.patch(payload, h.ssrc) === true;
      const datagram =
        h.csrcLength > 0
          ? this.#protectWithCsrc(egress, h, seq, payload)
          : egress.protector.protect(header, header.length, payload, sender.ssrc, seq, this.#roc.next(seq));
      if (patched) gate?.rewriter.restore(payload);
      if (!egress.path.send(datagram)) return;
    } else {
      if (gate !== undefined) {
        payload = Buffer.from(payload);
        gate.rewriter.patch(payload, h.ssrc);
      }
      const payloadType = sender.codec?.payloadType;
      if (payloadType === undefined || sender.stopped) return;
      const out = new RtpPacket(
        new RtpHeader({
          marker: h.marker,
          payloadType,
          sequenceNumber: seq,
          timestamp,
          ssrc: sender.ssrc,
          csrc: h.csrc,
          csrcLength: h.csrcLength,
        }),
        payload,
      );
      sender.sendRtp(out).catch(() => undefined);
    }
    this.#history.add(seq, input, now, timestamp);
    this.#packetsOut++;
    this.#octetsOut += payload.length;
    if (this.#kind === "video") {
      this.#counts.videoPacketsOut++;
      this.#counts.videoBytesOut += payload.length;
    } else {
      this.#counts.audioPacketsOut++;
      this.#counts.audioBytesOut += payload.length;
    }
  }

  /** Rare: a packet with contributing sources gets a header of its own (the template, already written, has none). */
  #protectWithCsrc(egress: Egress, h: RtpHeader, seq: number, payload: Buffer): Buffer {
    const template = (this.#header as HeaderTemplate).bytes;
    const cc = Math.min(15, h.csrc.length);
    const header = Buffer.alloc(template.length + cc * 4);
    template.copy(header, 0, 0, 12);
    header[0] = ((template[0] as number) & 0xf0) | cc;
    for (let i = 0; i < cc; i++) header.writeUInt32BE((h.csrc[i] as number) >>> 0, 12 + i * 4);
    template.copy(header, 12 + cc * 4, 12);
    const ssrc = this.#o.sender.ssrc;
    return egress.protector.protect(header, header.length, payload, ssrc, seq, this.#roc.next(seq));
  }

  /** Takes over the sender's RTCP handling for NACKs; everything else still reaches werift first. */
  #interceptRtcp(): void {
    this.#restoreRtcp = interceptSenderRtcp(
      this.#o.sender,
      (packet) => {
        if (!(packet instanceof RtcpTransportLayerFeedback && packet.feedback instanceof GenericNack))
          return false;
        this.#answerNack(packet.feedback);
        return true;
      },
      (packet) => this.#onRtcp(packet),
    );
  }

  #onRtcp(packet: RtcpPacket): void {
    const { sender, feedback } = this.#o;
    if (packet instanceof RtcpPayloadSpecificFeedback) {
      const f = packet.feedback;
      if (f instanceof PictureLossIndication || f.count === FIR_COUNT) feedback.keyframeNeeded();
      else if (f instanceof ReceiverEstimatedMaxBitrate) feedback.remb(Number(f.bitrate));
    } else if (packet instanceof RtcpRrPacket || packet instanceof RtcpSrPacket) {
      for (const report of packet.reports) {
        if (report.ssrc !== sender.ssrc) continue;
        feedback.loss(report.fractionLost / 256);
        if (this.#mode === "own") this.#updateRtt(report.lsr, report.dlsr);
      }
    }
  }

  /** RFC 3550 6.4.1: round trip = arrival - LSR - DLSR, for a report on our last sender report. */
  #updateRtt(lsr: number, dlsr: number): void {
    if (lsr === 0 || lsr !== this.#lastSrCompact) return;
    const rtt = (((compactNtp(ntpSeconds()) - lsr - dlsr) >>> 0) * 1000) / 65536;
    if (rtt > 10_000) return;
    this.#rttMs = this.#rttMs === 0 ? rtt : 0.85 * this.#rttMs + 0.15 * rtt;
  }

  /** One resend per round trip (the smoothed RTT), capped; 0 until the RTT is known. */
  #resendIntervalMs(): number {
    return Math.min(this.rttMs, NACK_RESEND_MAX_INTERVAL_MS);
  }

  #answerNack(nack: GenericNack): void {
    const { metrics } = this.#o;
    const now = this.#now();
    if (nack.lost.length > 0) this.#o.layers?.selector.nack(now);
    for (const seq of nack.lost) {
      const packet = this.#history.takeForResend(seq, now, this.#resendIntervalMs());
      if (packet === "miss" || packet === "suppressed") {
        metrics.nacks.inc({ result: packet });
        continue;
      }
      metrics.nacks.inc({ result: "hit" });
      const timestamp = this.#history.aux(seq, now) ?? 0;
      if (this.#mode === "own") this.#resendOwn(packet, seq, timestamp);
      else if (this.#mode === "werift") this.#resendWerift(packet, seq, timestamp);
    }
  }

  /** Own mode: the packet again (same seq, so the same SRTP index), or wrapped in RTX (RFC 4588). */
  #resendOwn(packet: RtpPacket, seq: number, timestamp: number): void {
    const gate = this.#o.layers;
    if (gate?.rewriter.patch(packet.payload, packet.header.ssrc, true)) {
      this.#resendOwnPatched(packet, seq, timestamp);
      gate.rewriter.restore(packet.payload);
      return;
    }
    this.#resendOwnPatched(packet, seq, timestamp);
  }

  #resendOwnPatched(packet: RtpPacket, seq: number, timestamp: number): void {
    const egress = this.#egress as Egress;
    const { sender } = this.#o;
    const marker = packet.header.marker;
    if (this.#rtxHeader) {
      const rtxSeq = this.#rtxSeq;
      this.#rtxSeq = (rtxSeq + 1) % U16;
      const payload = Buffer.allocUnsafe(2 + packet.payload.length);
      payload.writeUInt16BE(seq, 0);
      packet.payload.copy(payload, 2);
      const header = this.#rtxHeader.write(marker, rtxSeq, timestamp);
      const rtxSsrc = sender.rtxSsrc;
      egress.path.send(
        egress.protector.protect(header, header.length, payload, rtxSsrc, rtxSeq, this.#rtxRoc.next(rtxSeq)),
      );
      return;
    }
    const header = (this.#header as HeaderTemplate).write(marker, seq, timestamp);
    const ssrc = sender.ssrc;
    egress.path.send(
      egress.protector.protect(header, header.length, packet.payload, ssrc, seq, this.#roc.next(seq)),
    );
  }

  #resendWerift(packet: RtpPacket, seq: number, timestamp: number): void {
    const { sender, rtxPayloadType } = this.#o;
    const payloadType = sender.codec?.payloadType;
    if (payloadType === undefined) return;
    let payload = packet.payload;
    if (this.#o.layers) {
      // werift serialises later: a copy with the picture ID rewritten, as in #forward.
      payload = Buffer.from(payload);
      this.#o.layers.rewriter.patch(payload, packet.header.ssrc, true);
    }
    let resend = new RtpPacket(
      new RtpHeader({
        marker: packet.header.marker,
        payloadType,
        sequenceNumber: seq,
        timestamp,
        ssrc: sender.ssrc,
        csrc: packet.header.csrc,
        csrcLength: packet.header.csrcLength,
      }),
      payload,
    );
    if (rtxPayloadType !== undefined) {
      resend = wrapRtx(resend, rtxPayloadType, this.#rtxSeq, sender.rtxSsrc);
      this.#rtxSeq = (this.#rtxSeq + 1) % U16;
    }
    sender.dtlsTransport.sendRtp(resend.payload, resend.header).catch(() => undefined);
  }
}
