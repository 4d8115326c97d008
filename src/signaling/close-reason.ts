/** Why a connection ended: a closed set, logged and counted. */
export type CloseReason =
  | "client-leave"
  | "dropped"
  | "heartbeat-timeout"
  | "rate-limited"
  | "too-big"
  | "binary-frame"
  | "slow-consumer"
  | "replaced"
  | "superseded"
  | "shutdown";

/** WebSocket close status and text for the reasons the server initiates. */
export const CLOSE_STATUS: Record<
  Exclude<CloseReason, "client-leave" | "dropped" | "heartbeat-timeout">,
  [number, string]
> = {
  "rate-limited": [1008, "rate limit exceeded"],
  "too-big": [1009, "message too big"],
  "binary-frame": [1003, "binary frames are not supported"],
  "slow-consumer": [1013, "send buffer full"],
  replaced: [4000, "replaced by a reconnect"],
  superseded: [4001, "the same user joined this room again"],
  shutdown: [1001, "server shutting down"],
};

/** A close that ends the membership at once; any other drop keeps it for the reconnect grace. */
export function leavesRoom(reason: CloseReason): boolean {
  return reason === "client-leave" || reason === "rate-limited" || reason === "binary-frame";
}
