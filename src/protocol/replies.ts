import type { ErrorCodeValue } from "../lib/errors.ts";

/** Everything the server writes on a socket. */
export type ServerMessage =
  | { a: string; s: true; d?: unknown }
  | { a: string; s: false; e: ErrorCodeValue }
  | { a: string; d?: unknown };

export function okReply(action: string, data?: unknown): ServerMessage {
  return data === undefined ? { a: `${action}R`, s: true } : { a: `${action}R`, s: true, d: data };
}

export function errorReply(action: string, code: ErrorCodeValue): ServerMessage {
  return { a: `${action}R`, s: false, e: code };
}
