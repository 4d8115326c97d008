/**
 * Why a media call failed, in the media plane's own terms; the MCU adapter (src/mcu/) maps each
 * kind to a wire code. Plain data (`kind`, `message`), so it crosses the worker boundary as is.
 */
export type MediaErrorKind =
  /** The client's SDP or candidate cannot be used (wire 1320). */
  | "invalid-sdp"
  /** No such connection: no publisher connection yet, or no listener connection from that publisher (1298). */
  | "no-such-connection"
  /** An answer with no offer waiting for it (1330). */
  | "already-negotiated"
  /** The member is not (or no longer) in this room's media (1297). */
  | "not-member"
  /** The media plane cannot serve the call: closed, a worker restarting, or the deadline passed (1328). */
  | "unavailable";

export class MediaError extends Error {
  readonly kind: MediaErrorKind;
  constructor(kind: MediaErrorKind, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "MediaError";
    this.kind = kind;
  }
}

const KINDS: ReadonlySet<string> = new Set<MediaErrorKind>([
  "invalid-sdp",
  "no-such-connection",
  "already-negotiated",
  "not-member",
  "unavailable",
]);

export function isMediaErrorKind(kind: unknown): kind is MediaErrorKind {
  return typeof kind === "string" && KINDS.has(kind);
}

/** Rejects with `unavailable` when `signal` aborts first (a media call's deadline). */
export function withDeadline<T>(work: Promise<T>, signal: AbortSignal | undefined, what: string): Promise<T> {
  if (!signal) return work;
  if (signal.aborted) return Promise.reject(new MediaError("unavailable", `${what}: deadline passed`));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new MediaError("unavailable", `${what}: deadline passed`));
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(
      (v) => {
        signal.removeEventListener("abort", onAbort);
        resolve(v);
      },
      (err: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(err);
      },
    );
  });
}
