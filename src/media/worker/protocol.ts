/**
 * Messages between the main thread (worker-media-plane.ts) and a media worker (media-worker.ts).
 * Everything is structured-clone data: MediaPort arguments and events as they are, errors as
 * {name, message, kind} so that a MediaError keeps its kind across the boundary.
 */
import type { MediaConfig } from "../../config/media-config.ts";
import { isMediaErrorKind, MediaError, type MediaErrorKind } from "../media-error.ts";
import type {
  IceCandidate,
  MediaEvent,
  MediaMember,
  MediaTarget,
  SessionDescription,
  VideoQuality,
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
  | { t: "videoQuality"; roomId: string; socketId: string; publisher: string; quality: VideoQuality }
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
  kind?: MediaErrorKind;
}

export type FromWorker =
  | { t: "result"; id: number; ok: true; value?: unknown }
  | { t: "result"; id: number; ok: false; error: WireError }
  | { t: "event"; event: MediaEvent }
  /** One pino JSON line written in the worker. */
  | { t: "log"; line: string };

export function toWireError(err: unknown): WireError {
  if (err instanceof MediaError) return { name: err.name, message: err.message, kind: err.kind };
  if (err instanceof Error) return { name: err.name, message: err.message };
  return { name: "Error", message: String(err) };
}

/** A MediaError again when the worker threw one (same kind), a plain Error otherwise (a bug: answered 1280). */
export function fromWireError(e: WireError): Error {
  if (isMediaErrorKind(e.kind)) return new MediaError(e.kind, e.message);
  const err = new Error(e.message);
  err.name = e.name;
  return err;
}
