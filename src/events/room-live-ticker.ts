import type { EventSink } from "./event-sink.ts";
import type { RoomLivePayload } from "./event-types.ts";

export interface RoomLiveTickerOptions {
  /** Period; 0 (or less) disables the ticker. */
  readonly intervalMs: number;
  readonly sink: EventSink;
  /** A snapshot of every non-empty room, taken at each tick. */
  readonly rooms: () => readonly RoomLivePayload[];
  /** Aborting it stops the ticker, like `close()`. */
  readonly signal?: AbortSignal;
  /** Told when `rooms()` throws; the ticker keeps running. */
  readonly onError?: (err: unknown) => void;
}

export interface RoomLiveTicker {
  /** Publishes one `room.live` per room now (the timer keeps its rhythm). */
  tick(): void;
  /** Stops the timer. Idempotent. */
  close(): void;
}

/** Publishes one `room.live` event per room every `intervalMs`. */
export function newRoomLiveTicker(options: RoomLiveTickerOptions): RoomLiveTicker {
  let timer: NodeJS.Timeout | undefined;
  const tick = (): void => {
    let rooms: readonly RoomLivePayload[];
    try {
      rooms = options.rooms();
    } catch (err) {
      options.onError?.(err);
      return;
    }
    for (const room of rooms) {
      options.sink.publish({
        key: "room.live",
        payload: {
          roomId: room.roomId,
          roomSize: room.roomSize,
          sessions: room.sessions.map((s) => ({ socketId: s.socketId, userId: s.userId })),
        },
      });
    }
  };
  const close = (): void => {
    clearInterval(timer);
    timer = undefined;
    options.signal?.removeEventListener("abort", close);
  };
  if (options.intervalMs > 0 && !options.signal?.aborted) {
    timer = setInterval(tick, options.intervalMs);
    timer.unref();
    options.signal?.addEventListener("abort", close, { once: true });
  }
  return { tick, close };
}
