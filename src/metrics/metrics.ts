import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

/**
 * Every metric of the server, in one place, with base units and bounded labels
 * (never a socketId or roomId). One instance per server so tests can run several.
 */
export function newMetrics(options: { processMetrics?: boolean } = {}) {
  const registry = new Registry();
  if (options.processMetrics ?? true)
    collectDefaultMetrics({ register: registry, prefix: "webrtcsignaling_" });
  const r = [registry];
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
    rtpPacketsIn: new Counter({
      name: "webrtcsignaling_media_rtp_packets_received_total",
      help: "RTP packets received from publishers",
      labelNames: ["kind"],
      registers: r,
    }),
    rtpBytesIn: new Counter({
      name: "webrtcsignaling_media_rtp_received_bytes_total",
      help: "RTP payload bytes received",
      labelNames: ["kind"],
      registers: r,
    }),
    rtpPacketsOut: new Counter({
      name: "webrtcsignaling_media_rtp_packets_sent_total",
      help: "RTP packets forwarded to listeners",
      labelNames: ["kind"],
      registers: r,
    }),
    rtpBytesOut: new Counter({
      name: "webrtcsignaling_media_rtp_sent_bytes_total",
      help: "RTP payload bytes forwarded",
      labelNames: ["kind"],
      registers: r,
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
