import type { IceServer } from "../../auth/turn-credentials.ts";
import type { HandlerDeps } from "./handler-context.ts";

/** `{iceServers}` for joinR / reconnectR when TURN is configured; `{}` otherwise (the reply is unchanged). */
export function iceServersOf(deps: HandlerDeps, userId: string): { iceServers?: IceServer[] } {
  const iceServers = deps.iceServers?.(userId);
  return iceServers ? { iceServers } : {};
}
