import type { TokenVerifier } from "../../auth/token-verifier.ts";
import type { EventSink } from "../../events/event-sink.ts";
import type { Metrics } from "../../metrics/metrics.ts";
import type { RoomManager } from "../../rooms/room-manager.ts";
import type { SignalRouter } from "../../rooms/signal-router.ts";

/** What every handler may use. */
export interface HandlerDeps {
  rooms: RoomManager;
  router: SignalRouter;
  verifier: TokenVerifier;
  events: EventSink;
  metrics: Metrics;
}
