import type { ClientMessage } from "../protocol/messages.ts";
import type { CloseReason } from "../signaling/close-reason.ts";

/**
 * Frames between nodes, through the receiving node's inbox. `s` is always the socketId of the
 * member's WebSocket on its edge node; `n` names the sender where the receiver checks it.
 *
 * edge -> home: `in` (a client message the edge parsed and rate-limited), `closed` (the socket ended).
 * home -> edge: `out` (text to write verbatim), `end` (close the socket), `done` (one `in` was handled;
 * after a join or reconnect, `v` says whether the socket now has a member there), `home` (the member's room moved to node `h`), `redirect` (that room's home
 * is `h`: send `m` there).
 * node -> node: `restore` (the room's lease is yours: restore it from its member records).
 */
export type Frame =
  | { t: "in"; e: string; s: string; ip: string; m: ClientMessage }
  | { t: "closed"; e: string; s: string; r: CloseReason }
  | { t: "out"; n: string; s: string; x: string }
  | { t: "end"; n: string; s: string; r: EndReason }
  | { t: "done"; n: string; s: string; v?: boolean }
  | { t: "home"; n: string; s: string; h: string }
  | { t: "redirect"; n: string; s: string; h: string; m: ClientMessage }
  | { t: "restore"; room: string };

export type EndReason = "replaced" | "superseded" | "shutdown";

const str = (v: unknown): v is string => typeof v === "string" && v.length > 0 && v.length <= 256;

/**
 * Frames come from other nodes of the same cluster (trusted code), but through Redis: anything
 * malformed (another version, a stray publish) is refused here instead of crashing a handler.
 */
export function readFrame(v: unknown): Frame | undefined {
  if (typeof v !== "object" || v === null) return undefined;
  const f = v as Record<string, unknown>;
  switch (f.t) {
    case "in":
      return str(f.e) && str(f.s) && typeof f.ip === "string" && isMessage(f.m) ? (f as Frame) : undefined;
    case "closed":
      return str(f.e) && str(f.s) && typeof f.r === "string" ? (f as Frame) : undefined;
    case "out":
      return str(f.n) && str(f.s) && typeof f.x === "string" ? (f as Frame) : undefined;
    case "end":
      return str(f.n) && str(f.s) && (f.r === "replaced" || f.r === "superseded" || f.r === "shutdown")
        ? (f as Frame)
        : undefined;
    case "done":
      return str(f.n) && str(f.s) && (f.v === undefined || typeof f.v === "boolean")
        ? (f as Frame)
        : undefined;
    case "home":
      return str(f.n) && str(f.s) && str(f.h) ? (f as Frame) : undefined;
    case "redirect":
      return str(f.n) && str(f.s) && str(f.h) && isMessage(f.m) ? (f as Frame) : undefined;
    case "restore":
      return str(f.room) ? (f as Frame) : undefined;
    default:
      return undefined;
  }
}

function isMessage(m: unknown): m is ClientMessage {
  return typeof m === "object" && m !== null && typeof (m as { a?: unknown }).a === "string";
}
