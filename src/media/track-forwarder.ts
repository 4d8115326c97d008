import { randomInt } from "node:crypto";
import {
  GenericNack,
  PictureLossIndication,
  ReceiverEstimatedMaxBitrate,
  type RTCRtpSender,
  type RtcpPacket,
  RtcpPayloadSpecificFeedback,
  RtcpRrPacket,
  RtcpTransportLayerFeedback,
  RtpHeader,
  RtpPacket,
  wrapRtx,
} from "werift";
import type { Metrics } from "../metrics/metrics.ts";
import { PacketHistory } from "./packet-history.ts";
import type { PublishedTrack } from "./published-track.ts";

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

export interface TrackForwarderOptions {
  source: PublishedTrack;
  sender: RTCRtpSender;
  /** RTX payload type negotiated with the listener, if any. */
  rtxPayloadType: number | undefined;
  clockRate: number;
  nackHistoryMs: number;
  metrics: Metrics;
  feedback: ForwarderFeedback;
  now?: () => number;
}

/** RTCP PSFB FMT of a Full Intra Request (werift does not export its class). */
const FIR_COUNT = 4;
const U16 = 0x10000;
const U32 = 0x100000000;

/** True when a is newer than b in 16-bit serial-number arithmetic. */
function seqNewer(a: number, b: number): boolean {
  const d = (a - b + U16) % U16;
  return d !== 0 && d < 0x8000;
}

/**
 * Forwards one published track to one listener's sender, rewriting each packet so that the listener
 * sees a single continuous stream: its own SSRC and payload type, and sequence numbers and
 * timestamps that continue across the publisher's re-publish (new SSRC). Answers the listener's
 * NACKs from a NACK_HISTORY_MS history (werift's sender keeps only 128 packets, so its own NACK
 * handling is bypassed), turns PLI/FIR into keyframe requests and passes REMB/RR loss upstream.
 */
export class TrackForwarder {
  readonly #o: TrackForwarderOptions;
  readonly #history: PacketHistory<RtpPacket>;
  readonly #now: () => number;
  readonly #kind: "audio" | "video";
  #unsubscribe: (() => void) | undefined;
  #restoreRtcp: (() => void) | undefined;
  #inSsrc: number | undefined;
  #seqOffset = 0;
  #tsOffset = 0;
  #lastOutSeq = 0;
  #lastOutTs = 0;
  #lastOutAtMs = 0;
  #rtxSeq = randomInt(U16);
  #packetsOut = 0;
  /** Label-bound counter children, resolved once (prom-client hashes labels on every inc otherwise). */
  readonly #countPacket: { inc: (v?: number) => void };
  readonly #countBytes: { inc: (v?: number) => void };

  constructor(options: TrackForwarderOptions) {
    this.#o = options;
    this.#kind = options.source.kind;
    this.#now = options.now ?? performance.now.bind(performance);
    this.#history = new PacketHistory<RtpPacket>(
      options.nackHistoryMs,
      options.source.kind === "video" ? 4096 : 512,
    );
    this.#countPacket = options.metrics.rtpPacketsOut.labels({ kind: this.#kind });
    this.#countBytes = options.metrics.rtpBytesOut.labels({ kind: this.#kind });
    this.#unsubscribe = options.source.subscribe((packet) => this.#forward(packet));
    this.#interceptRtcp();
  }

  get packetsOut(): number {
    return this.#packetsOut;
  }

  close(): void {
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    this.#restoreRtcp?.();
    this.#restoreRtcp = undefined;
    this.#history.clear();
  }

  #forward(input: RtpPacket): void {
    const { sender } = this.#o;
    const payloadType = sender.codec?.payloadType;
    if (payloadType === undefined || sender.stopped) return;
    const now = this.#now();
    const h = input.header;
    if (this.#inSsrc === undefined) {
      this.#inSsrc = h.ssrc;
      this.#seqOffset = (randomInt(U16) - h.sequenceNumber + U16) % U16;
      this.#tsOffset = (randomInt(U32) - h.timestamp + U32) % U32;
      this.#remember(h.sequenceNumber, h.timestamp, now);
    } else if (h.ssrc !== this.#inSsrc) {
      // A new source (re-publish): continue right after the last packet sent, with a timestamp gap
      // matching the wall-clock gap so that the listener's jitter buffer sees no jump.
      this.#inSsrc = h.ssrc;
      const elapsed = Math.max(1, Math.round(((now - this.#lastOutAtMs) * this.#o.clockRate) / 1000));
      this.#seqOffset = (this.#lastOutSeq + 1 - h.sequenceNumber + 2 * U16) % U16;
      this.#tsOffset = (this.#lastOutTs + elapsed - h.timestamp + 2 * U32) % U32;
      if (this.#kind === "video") this.#o.feedback.keyframeNeeded();
    }
    const seq = (h.sequenceNumber + this.#seqOffset) % U16;
    const timestamp = (h.timestamp + this.#tsOffset) % U32;
    if (seqNewer(seq, this.#lastOutSeq) || this.#packetsOut === 0) {
      this.#lastOutSeq = seq;
      this.#lastOutTs = timestamp;
      this.#lastOutAtMs = now;
    }
    const out = new RtpPacket(
      new RtpHeader({
        marker: h.marker,
        padding: h.padding,
        paddingSize: h.paddingSize,
        payloadType,
        sequenceNumber: seq,
        timestamp,
        ssrc: sender.ssrc,
        csrc: h.csrc,
        csrcLength: h.csrcLength,
      }),
      input.payload,
    );
    this.#history.add(seq, out, now);
    this.#packetsOut++;
    this.#countPacket.inc();
    this.#countBytes.inc(input.payload.length);
    sender.sendRtp(out).catch(() => undefined);
  }

  #remember(inSeq: number, inTs: number, now: number): void {
    this.#lastOutSeq = (inSeq + this.#seqOffset) % U16;
    this.#lastOutTs = (inTs + this.#tsOffset) % U32;
    this.#lastOutAtMs = now;
  }

  /** Takes over the sender's RTCP handling for NACKs; everything else still reaches werift first. */
  #interceptRtcp(): void {
    const sender = this.#o.sender;
    const original = sender.handleRtcpPacket;
    sender.handleRtcpPacket = (packet: RtcpPacket) => {
      if (packet instanceof RtcpTransportLayerFeedback && packet.feedback instanceof GenericNack) {
        this.#answerNack(packet.feedback);
        return;
      }
      original.call(sender, packet);
      this.#onRtcp(packet);
    };
    this.#restoreRtcp = () => {
      sender.handleRtcpPacket = original;
    };
  }

  #onRtcp(packet: RtcpPacket): void {
    const { sender, feedback } = this.#o;
    if (packet instanceof RtcpPayloadSpecificFeedback) {
      const f = packet.feedback;
      if (f instanceof PictureLossIndication || f.count === FIR_COUNT) feedback.keyframeNeeded();
      else if (f instanceof ReceiverEstimatedMaxBitrate) feedback.remb(Number(f.bitrate));
    } else if (packet instanceof RtcpRrPacket) {
      for (const report of packet.reports) {
        if (report.ssrc === sender.ssrc) feedback.loss(report.fractionLost / 256);
      }
    }
  }

  /** The sender's smoothed RTT from receiver reports (werift keeps it, in seconds), 0 until known. */
  #resendIntervalMs(): number {
    const rtt = (this.#o.sender as unknown as { rtt?: number }).rtt;
    return typeof rtt === "number" && rtt > 0 ? Math.min(rtt * 1000, NACK_RESEND_MAX_INTERVAL_MS) : 0;
  }

  #answerNack(nack: GenericNack): void {
    const { sender, metrics, rtxPayloadType } = this.#o;
    const now = this.#now();
    for (const seq of nack.lost) {
      const packet = this.#history.takeForResend(seq, now, this.#resendIntervalMs());
      if (packet === "miss" || packet === "suppressed") {
        metrics.nacks.inc({ result: packet });
        continue;
      }
      metrics.nacks.inc({ result: "hit" });
      let resend = packet;
      if (rtxPayloadType !== undefined) {
        resend = wrapRtx(packet, rtxPayloadType, this.#rtxSeq, sender.rtxSsrc);
        this.#rtxSeq = (this.#rtxSeq + 1) % U16;
      }
      sender.dtlsTransport.sendRtp(resend.payload, resend.header).catch(() => undefined);
    }
  }
}
