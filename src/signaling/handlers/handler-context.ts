import type { TokenVerifier } from "../../auth/token-verifier.ts";
import type { IceServer } from "../../auth/turn-credentials.ts";
import type { EventSink } from "../../events/event-sink.ts";
import type { Metrics } from "../../metrics/metrics.ts";
import type { RoomManager } from "../../rooms/room-manager.ts";
import type { SignalRouter } from "../../rooms/signal-router.ts";
import type { MemberChannels } from "../member-channels.ts";

/** What every handler may use. */
export interface HandlerDeps {
  rooms: RoomManager;
  /** Each member's numbered, replayable event stream (outlives its connections). */
  channels: MemberChannels;
  router: SignalRouter;
  verifier: TokenVerifier;
  events: EventSink;
  metrics: Metrics;
  /** TURN servers with fresh credentials for a member (joinR, reconnectR); absent without TURN_URLS. */
  iceServers?: (userId: string) => IceServer[];
}
