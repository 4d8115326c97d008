import type { ChannelModel } from "amqplib";

/**
 * The one place this project reaches into amqplib beyond its API (written for amqplib 2.x; guarded:
 * when the shape differs, nothing happens and the caller's timeout still stands). amqplib exposes no
 * abort, so a connection to a broker that never answers is ended by destroying its socket.
 */
/** Destroys the connection's socket (`connection.stream`). */
export function destroySocket(model: ChannelModel): void {
  const connection: unknown = model.connection;
  if (typeof connection !== "object" || connection === null || !("stream" in connection)) return;
  const stream: unknown = connection.stream;
  if (typeof stream === "object" && stream !== null && "destroy" in stream) {
    const destroy: unknown = stream.destroy;
    // With an error: amqplib then runs its close path (stops heartbeat timers, emits close).
    if (typeof destroy === "function")
      destroy.call(stream, new Error("broker did not answer: connection destroyed"));
  }
}
