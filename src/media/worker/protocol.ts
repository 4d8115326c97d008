/**
 * Messages between the main thread (worker-media-plane.ts) and a media worker (media-worker.ts).
 * Everything is structured-clone data: MediaPort arguments and events as they are, errors as
 * {name, message, code} so that a ProtocolError keeps its numeric code across the boundary.
 */
import type { MediaConfig } from "../../config/media-config.ts";
import { ErrorCode, type ErrorCodeValue, ProtocolError } from "../../lib/errors.ts";
import type {
  IceCandidate,
  MediaEvent,
  MediaMember,
  MediaTarget,
  SessionDescription,
} from "../media-port.ts";

export interface WorkerInit {
  config: MediaConfig;
  /** pino level of the parent's logger; records at or above it are forwarded. */
  logLevel: string;
  index: number;
}

export interface PlaneStats {
  rooms: number;
  members: number;
  publishers: number;
  listeners: number;
}

/** A call that is answered with a `result` carrying the same id. */
export type WorkerRequest =
  | { t: "signal"; roomId: string; socketId: string; target: MediaTarget; sdp: SessionDescription }
  | { t: "candidate"; roomId: string; socketId: string; target: MediaTarget; candidate: IceCandidate }
  | { t: "metrics" }
  | { t: "stats" }
  | { t: "close" };

export type ToWorker =
  | ({ id: number } & WorkerRequest)
  | { t: "addMember"; member: MediaMember }
  | { t: "removeMember"; roomId: string; socketId: string }
  /** Testing aid: throw an uncaught exception in the worker (a real crash, not a terminate). */
  | { t: "crash" };

export interface WireError {
  name: string;
  message: string;
  code?: number;
}

export type FromWorker =
  | { t: "result"; id: number; ok: true; value?: unknown }
  | { t: "result"; id: number; ok: false; error: WireError }
  | { t: "event"; event: MediaEvent }
  /** One pino JSON line written in the worker. */
  | { t: "log"; line: string };

const codes = new Set<number>(Object.values(ErrorCode));

export function toWireError(err: unknown): WireError {
  if (err instanceof ProtocolError) return { name: err.name, message: err.message, code: err.code };
  if (err instanceof Error) return { name: err.name, message: err.message };
  return { name: "Error", message: String(err) };
}

/** A ProtocolError again when the worker threw one (same code), a plain Error otherwise (answered 1280). */
export function fromWireError(e: WireError): Error {
  if (e.code !== undefined && codes.has(e.code))
    return new ProtocolError(e.code as ErrorCodeValue, e.message);
  const err = new Error(e.message);
  err.name = e.name;
  return err;
}
