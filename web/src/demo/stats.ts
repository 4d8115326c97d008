/** What the demo reads from a connection's getStats(). */
export interface InboundStats {
  framesDecoded: number;
  framesPerSecond: number;
  width: number;
  height: number;
  audioPacketsReceived: number;
  videoCodec: string | undefined;
  audioCodec: string | undefined;
}

export interface OutboundStats {
  videoCodec: string | undefined;
  audioCodec: string | undefined;
  /** outbound-rtp video frameWidth/frameHeight/framesPerSecond: what is sent. */
  width: number;
  height: number;
  framesPerSecond: number;
}

type Stat = Record<string, unknown> & { type: string; id: string };

function codecOf(report: RTCStatsReport, stat: Stat): string | undefined {
  const codec = typeof stat.codecId === "string" ? (report.get(stat.codecId) as Stat | undefined) : undefined;
  if (!codec) return undefined;
  const fmtp = typeof codec.sdpFmtpLine === "string" && codec.sdpFmtpLine ? ` ${codec.sdpFmtpLine}` : "";
  return `${String(codec.mimeType)}${fmtp}`;
}

const num = (v: unknown): number => (typeof v === "number" ? v : 0);

/** Receive-side numbers of a listener connection (video + audio inbound-rtp). */
export async function inboundStats(pc: RTCPeerConnection): Promise<InboundStats> {
  const report = await pc.getStats();
  const out: InboundStats = {
    framesDecoded: 0,
    framesPerSecond: 0,
    width: 0,
    height: 0,
    audioPacketsReceived: 0,
    videoCodec: undefined,
    audioCodec: undefined,
  };
  report.forEach((s: Stat) => {
    if (s.type !== "inbound-rtp") return;
    if (s.kind === "video") {
      out.framesDecoded += num(s.framesDecoded);
      out.framesPerSecond = num(s.framesPerSecond);
      out.width = num(s.frameWidth);
      out.height = num(s.frameHeight);
      out.videoCodec ??= codecOf(report, s);
    } else if (s.kind === "audio") {
      out.audioPacketsReceived += num(s.packetsReceived);
      out.audioCodec ??= codecOf(report, s);
    }
  });
  return out;
}

/** Codecs the publishing connection sends with. */
export async function outboundStats(pc: RTCPeerConnection): Promise<OutboundStats> {
  const report = await pc.getStats();
  const out: OutboundStats = {
    videoCodec: undefined,
    audioCodec: undefined,
    width: 0,
    height: 0,
    framesPerSecond: 0,
  };
  report.forEach((s: Stat) => {
    if (s.type !== "outbound-rtp") return;
    if (s.kind === "video") {
      out.videoCodec ??= codecOf(report, s);
      out.width = num(s.frameWidth);
      out.height = num(s.frameHeight);
      out.framesPerSecond = num(s.framesPerSecond);
    } else if (s.kind === "audio") out.audioCodec ??= codecOf(report, s);
  });
  return out;
}
