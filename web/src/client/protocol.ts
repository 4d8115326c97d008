/**
 * The JSON protocol spoken on `ws://host/api`: requests `{a, d}`, replies `{a: a+"R", s, d | e}`,
 * and server events `{a: "event…", d}`. Types only, plus the numeric error codes.
 */

/** Error codes carried in `e` of a failed reply: the server's own table, bundled in. */
export { ErrorCode } from "../../../src/lib/errors.ts";

import type { JoinData } from "../../../src/protocol/messages.ts";
import { errorMessage, LOCAL_MESSAGES, type LocalFailure } from "./error-messages.ts";

export type {
  CandidateInit,
  IceServerInit,
  JoinReply,
  MemberRef,
  ReconnectReply,
  SdpInit,
  ServerEvent,
  ServerEventName,
  ServerEvents,
  UserMediaConfiguration,
} from "../../../src/protocol/wire.ts";
export { PUBLISHER } from "../../../src/protocol/wire.ts";

/**
 * What a client tells about itself when joining: the server's join schema (src/protocol), without
 * roomId and bearer (given per join) and capabilities (the client declares its own).
 */
export type JoinInfo = Omit<JoinData, "roomId" | "bearer" | "capabilities">;

/** A reply to a request: `a` is the request's action plus "R". */
export type Reply = { a: string; s: true; d?: unknown } | { a: string; s: false; e: number };

/**
 * A failed request or connection. `code` is the server's error code (1316 room full, ...) or 0 for a
 * local failure, whose `reason` then says what happened (server unreachable, camera denied, ...).
 * `message` is a sentence for people (errorMessage / LOCAL_MESSAGES).
 */
export class SignalingError extends Error {
  readonly code: number;
  readonly action: string;
  readonly reason: LocalFailure | undefined;

  constructor(action: string, code: number, message?: string, reason?: LocalFailure) {
    super(message ?? (reason ? LOCAL_MESSAGES[reason] : code ? errorMessage(code) : `${action} failed`));
    this.name = "SignalingError";
    this.action = action;
    this.code = code;
    this.reason = reason;
  }
}
