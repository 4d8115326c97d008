import { readFileSync } from "node:fs";
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

/**
 * Per-packet counts of the media hot path, kept as plain integers (an increment is a field add, no
 * label lookup) and folded into the prom-client counters when they are read (scrape, worker bridge).
 */
export class MediaPacketCounts {
  audioPacketsIn = 0;
  audioBytesIn = 0;
  videoPacketsIn = 0;
  videoBytesIn = 0;
  audioPacketsOut = 0;
  audioBytesOut = 0;
  videoPacketsOut = 0;
  videoBytesOut = 0;
  /** RTP packets from publishers that the project's own ingress routed (compat.RtpIngress). */
  packetsInOwnRoute = 0;
}

type CountField = keyof MediaPacketCounts;

/** A counter by kind whose value is folded from MediaPacketCounts on every read. */
function foldedByKind(
  counts: MediaPacketCounts,
  audio: CountField,
  video: CountField,
  config: { name: string; help: string; registers: Registry[] },
): Counter<"kind"> {
  const folded = { audio: 0, video: 0 };
  return new Counter({
    ...config,
    labelNames: ["kind"],
    collect(this: Counter<"kind">) {
      const a = counts[audio] - folded.audio;
      const v = counts[video] - folded.video;
      folded.audio += a;
      folded.video += v;
      if (a > 0) this.inc({ kind: "audio" }, a);
      if (v > 0) this.inc({ kind: "video" }, v);
    },
  });
}

/** The `RcvbufErrors` of /proc/net/snmp's Udp line (the whole network namespace), or undefined. */
export function udpRcvbufErrors(snmp = "/proc/net/snmp"): number | undefined {
  try {
    const lines = readFileSync(snmp, "utf8")
      .split("\n")
      .filter((l) => l.startsWith("Udp:"));
    const names = lines[0]?.split(/\s+/) ?? [];
    const values = lines[1]?.split(/\s+/) ?? [];
    const i = names.indexOf("RcvbufErrors");
    const v = i > 0 ? Number(values[i]) : Number.NaN;
    return Number.isFinite(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Datagrams dropped by the kernel on the given local UDP ports (the `drops` column of /proc/net/udp
 * and /proc/net/udp6: full receive buffer), summed.
 */
export function udpSocketDrops(ports: ReadonlySet<number>): number {
  let total = 0;
  for (const file of ["/proc/net/udp", "/proc/net/udp6"]) {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      const local = f[1];
      if (!local) continue;
      const port = Number.parseInt(local.slice(local.lastIndexOf(":") + 1), 16);
      if (ports.has(port)) total += Number(f[f.length - 1]) || 0;
    }
  }
  return total;
}

/** CPU seconds (user + system) a process has used, from /proc/<pid>/stat (USER_HZ 100), or undefined. */
export function processCpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name (which may hold spaces) start at ") ": state is field 3, utime 14, stime 15.
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const ticks = Number(f[11]) + Number(f[12]);
    return Number.isFinite(ticks) ? ticks / 100 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Every metric of the server, in one place, with base units and bounded labels
 * (never a socketId or roomId). One instance per server so tests can run several.
 */
export function newMetrics(options: { processMetrics?: boolean } = {}) {
  const registry = new Registry();
  if (options.processMetrics ?? true)
    collectDefaultMetrics({ register: registry, prefix: "webrtcsignaling_" });
  const r = [registry];
  const packetCounts = new MediaPacketCounts();
  let foldedOwnRoute = 0;
  /** Local ports of the media plane's open UDP sockets (for the per-socket drop count). */
  const mediaUdpPorts = new Map<number, number>();
  const rcvbufBase = udpRcvbufErrors();
  const transcoderPids = new Map<number, number>();
  const m = {
    registry,
    wsConnections: new Gauge({
      name: "webrtcsignaling_ws_connections",
      help: "Open WebSocket connections",
      registers: r,
    }),
    wsConnectionsOpened: new Counter({
      name: "webrtcsignaling_ws_connections_opened_total",
      help: "WebSocket connections accepted",
      registers: r,
    }),
    wsClosed: new Counter({
      name: "webrtcsignaling_ws_closed_total",
      help: "WebSocket connections closed, by reason",
      labelNames: ["reason"],
      registers: r,
    }),
    wsRejected: new Counter({
      name: "webrtcsignaling_ws_upgrades_rejected_total",
      help: "WebSocket upgrades refused, by reason",
      labelNames: ["reason"],
      registers: r,
    }),
    rooms: new Gauge({ name: "webrtcsignaling_rooms", help: "Rooms with at least one member", registers: r }),
    members: new Gauge({
      name: "webrtcsignaling_members",
      help: "Room members, including those in reconnect grace",
      registers: r,
    }),
    messagesIn: new Counter({
      name: "webrtcsignaling_messages_received_total",
      help: "Client messages received, by action",
      labelNames: ["action"],
      registers: r,
    }),
    messagesOut: new Counter({
      name: "webrtcsignaling_messages_sent_total",
      help: "Messages sent to clients",
      registers: r,
    }),
    errors: new Counter({
      name: "webrtcsignaling_errors_total",
      help: "Error replies and closes, by protocol code",
      labelNames: ["code"],
      registers: r,
    }),
    programmerErrors: new Counter({
      name: "webrtcsignaling_programmer_errors_total",
      help: "Bugs: impossible states and wrong calls",
      registers: r,
    }),
    authFailures: new Counter({
      name: "webrtcsignaling_auth_failures_total",
      help: "Rejected bearers",
      registers: r,
    }),
    reconnects: new Counter({
      name: "webrtcsignaling_reconnects_total",
      help: "Reconnects, by result",
      labelNames: ["result"],
      registers: r,
    }),
    signalsIgnored: new Counter({
      name: "webrtcsignaling_signals_ignored_total",
      help: "Signaling messages answered with success and dropped: end of candidates, or for a member who just left",
      labelNames: ["reason"],
      registers: r,
    }),
    replacedMembers: new Counter({
      name: "webrtcsignaling_replaced_members_total",
      help: "Members removed because the same user joined the room again (ghost in grace, or a live socket)",
      labelNames: ["state"],
      registers: r,
    }),
    graceExpired: new Counter({
      name: "webrtcsignaling_reconnect_grace_expired_total",
      help: "Members removed after the reconnect grace",
      registers: r,
    }),
    queuedDropped: new Counter({
      name: "webrtcsignaling_member_queue_dropped_total",
      help: "Messages dropped from a full reconnect queue",
      registers: r,
    }),
    heartbeatTimeouts: new Counter({
      name: "webrtcsignaling_heartbeat_timeouts_total",
      help: "Connections closed for missing pongs",
      registers: r,
    }),
    rateLimited: new Counter({
      name: "webrtcsignaling_rate_limited_total",
      help: "Messages refused by the per-socket rate limit",
      registers: r,
    }),
    joinSeconds: new Histogram({
      name: "webrtcsignaling_join_duration_seconds",
      help: "Time to handle a join",
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers: r,
    }),
    // media plane
    peerConnections: new Gauge({
      name: "webrtcsignaling_media_peer_connections",
      help: "Server peer connections, by state",
      labelNames: ["state"],
      registers: r,
    }),
    /** The media hot path counts here; the four rtp* counters below fold these in when read. */
    packetCounts,
    rtpPacketsIn: foldedByKind(packetCounts, "audioPacketsIn", "videoPacketsIn", {
      name: "webrtcsignaling_media_rtp_packets_received_total",
      help: "RTP packets received from publishers",
      registers: r,
    }),
    rtpBytesIn: foldedByKind(packetCounts, "audioBytesIn", "videoBytesIn", {
      name: "webrtcsignaling_media_rtp_received_bytes_total",
      help: "RTP payload bytes received",
      registers: r,
    }),
    rtpPacketsOut: foldedByKind(packetCounts, "audioPacketsOut", "videoPacketsOut", {
      name: "webrtcsignaling_media_rtp_packets_sent_total",
      help: "RTP packets forwarded to listeners",
      registers: r,
    }),
    rtpBytesOut: foldedByKind(packetCounts, "audioBytesOut", "videoBytesOut", {
      name: "webrtcsignaling_media_rtp_sent_bytes_total",
      help: "RTP payload bytes forwarded",
      registers: r,
    }),
    mediaEgress: new Gauge({
      name: "webrtcsignaling_media_listener_egress",
      help: "Connected listener connections by forwarding path: own (project SRTP + direct send) or werift (its RTCRtpSender)",
      labelNames: ["path"],
      registers: r,
    }),
    mediaIngress: new Gauge({
      name: "webrtcsignaling_media_srtp_receive",
      help: "Connected peer connections by SRTP/SRTCP receive path: own (project unprotect) or werift (its sessions)",
      labelNames: ["path"],
      registers: r,
    }),
    rtpPacketsInOwnRoute: new Counter({
      name: "webrtcsignaling_media_rtp_routed_own_total",
      help: "RTP packets from publishers routed from the socket to their track by the project's own ingress (MEDIA_RECEIVE=own); the rest of rtp_packets_received_total went through werift's router and receiver",
      registers: r,
      collect(this: Counter) {
        const n = packetCounts.packetsInOwnRoute - foldedOwnRoute;
        foldedOwnRoute += n;
        if (n > 0) this.inc(n);
      },
    }),
    srtpRejected: new Counter({
      name: "webrtcsignaling_media_srtp_rejected_total",
      help: "Incoming SRTP/SRTCP packets dropped on the own receive path: failed authentication (or malformed) or replayed",
      labelNames: ["reason"],
      registers: r,
    }),
    /** Open media UDP sockets by local port (value: how many), maintained by the media plane. */
    mediaUdpPorts,
    udpSocketDrops: new Gauge({
      name: "webrtcsignaling_media_udp_socket_drops",
      help: "Datagrams the kernel dropped on the media plane's open UDP sockets (receive buffer full; /proc/net/udp drops)",
      registers: r,
      collect(this: Gauge) {
        this.set(udpSocketDrops(new Set(mediaUdpPorts.keys())));
      },
    }),
    udpRcvbufErrors: new Gauge({
      name: "webrtcsignaling_udp_rcvbuf_errors",
      help: "UDP datagrams dropped for a full receive buffer in this network namespace since the server started (/proc/net/snmp RcvbufErrors; other processes included)",
      registers: r,
      collect(this: Gauge) {
        const v = udpRcvbufErrors();
        if (v !== undefined && rcvbufBase !== undefined) this.set(v - rcvbufBase);
      },
    }),
    nacks: new Counter({
      name: "webrtcsignaling_media_nacks_total",
      help: "NACKed packets, by result",
      labelNames: ["result"],
      registers: r,
    }),
    plis: new Counter({
      name: "webrtcsignaling_media_plis_total",
      help: "Keyframe requests sent to publishers",
      registers: r,
    }),
    keyframeRequests: new Counter({
      name: "webrtcsignaling_media_keyframe_requests_total",
      help: "Keyframe requests for publishers' video before throttling, by reason: connect (a listener connection came up), forwarder (a listener's PLI/FIR or a new source), listener (a simulcast listener's PLI/FIR, for its layer), layer-switch (a simulcast listener waits for the keyframe of its new layer)",
      labelNames: ["reason"],
      registers: r,
    }),
    simulcastListeners: new Gauge({
      name: "webrtcsignaling_media_simulcast_listeners",
      help: "Listener connections of simulcast publishers, by the layer forwarded to them (0 = lowest; none = paused or waiting for a keyframe)",
      labelNames: ["layer"],
      registers: r,
    }),
    layerSwitches: new Counter({
      name: "webrtcsignaling_media_layer_switches_total",
      help: "Simulcast layer changes of a listener, by direction (start, up, down, pause) and the selector's reason (start, preference, bandwidth, probe, layer-stopped, paused)",
      labelNames: ["direction", "reason"],
      registers: r,
    }),
    forwardedStreams: new Gauge({
      name: "webrtcsignaling_media_forwarded_streams",
      help: "Publisher-to-listener connections",
      registers: r,
    }),
    freezes: new Counter({
      name: "webrtcsignaling_media_freezes_total",
      help: "Video freezes, by source",
      labelNames: ["source"],
      registers: r,
    }),
    mediaWorkerRestarts: new Counter({
      name: "webrtcsignaling_media_worker_restarts_total",
      help: "Media worker threads that exited unexpectedly and were restarted",
      registers: r,
    }),
    udpGarbage: new Counter({
      name: "webrtcsignaling_media_udp_dropped_total",
      help: "Unparseable or unexpected UDP datagrams dropped",
      registers: r,
    }),
    // transcoding (src/media/transcode/)
    /** Running transcoder processes by pid (value: CPU seconds already counted), for the CPU counter. */
    transcoderPids,
    transcoders: new Gauge({
      name: "webrtcsignaling_media_transcoders",
      help: "Running transcoder processes (GStreamer children making a lower video layer)",
      registers: r,
    }),
    transcodersStarted: new Counter({
      name: "webrtcsignaling_media_transcoders_started_total",
      help: "Transcoder processes started",
      registers: r,
    }),
    transcoderKeyframes: new Counter({
      name: "webrtcsignaling_media_transcoder_keyframes_total",
      help: "Keyframes asked of a transcoder for its listeners (PLI/FIR, a listener switching onto the server layer), by result: sent, throttled (one asked for less than 300 ms before, KEYFRAME_ON_DEMAND_MIN_MS), unsupported (gst-launch-1.0: periodic keyframes only)",
      labelNames: ["result"],
      registers: r,
    }),
    transcoderFailures: new Counter({
      name: "webrtcsignaling_media_transcoder_failures_total",
      help: "Transcoder processes that exited without being asked to (crash, killed, pipeline error) or could not start",
      registers: r,
    }),
    transcodeRefused: new Counter({
      name: "webrtcsignaling_media_transcode_refused_total",
      help: "Transcoded layers refused, by reason: max (TRANSCODE_MAX reached), unavailable (no GStreamer), codec (no decoder for the publisher's codec)",
      labelNames: ["reason"],
      registers: r,
    }),
    transcodeAvailable: new Gauge({
      name: "webrtcsignaling_media_transcode_available",
      help: "1 when GStreamer and every element transcoding needs were found at start (summed over media workers)",
      registers: r,
    }),
    transcoderCpu: new Counter({
      name: "webrtcsignaling_media_transcoder_cpu_seconds_total",
      help: "CPU time (user + system) used by transcoder processes, read from /proc when scraped",
      registers: r,
      collect(this: Counter) {
        for (const [pid, counted] of transcoderPids) {
          const now = processCpuSeconds(pid);
          if (now === undefined || now <= counted) continue;
          transcoderPids.set(pid, now);
          this.inc(now - counted);
        }
      },
    }),
    // event bus
    eventsPublished: new Counter({
      name: "webrtcsignaling_events_published_total",
      help: "Events written to the broker",
      labelNames: ["key"],
      registers: r,
    }),
    eventsConfirmed: new Counter({
      name: "webrtcsignaling_events_confirmed_total",
      help: "Events confirmed by the broker",
      registers: r,
    }),
    eventsFailed: new Counter({
      name: "webrtcsignaling_events_failed_total",
      help: "Publish attempts that failed (will be retried)",
      registers: r,
    }),
    eventsDropped: new Counter({
      name: "webrtcsignaling_events_dropped_total",
      help: "Events given up on: outbox overflow, unconfirmed at shutdown, published after close, unserialisable",
      registers: r,
    }),
    eventsOutbox: new Gauge({
      name: "webrtcsignaling_events_outbox",
      help: "Events waiting for the broker",
      registers: r,
    }),
    eventBusConnected: new Gauge({
      name: "webrtcsignaling_event_bus_connected",
      help: "1 when the broker connection is up",
      registers: r,
    }),
  };
  return m;
}

export type Metrics = ReturnType<typeof newMetrics>;
