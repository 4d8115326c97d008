import type { Logger } from "./logger.ts";

/**
 * What a call knows about the connection it serves. It informs logs and metrics;
 * no function changes its behaviour because of it.
 */
export interface ConnectionContext {
  readonly log: Logger;
  readonly socketId: string;
  readonly ip: string;
  roomId?: string;
  userId?: string;
}

export function withMember(ctx: ConnectionContext, roomId: string, userId: string): ConnectionContext {
  return { ...ctx, roomId, userId, log: ctx.log.child({ roomId, userId }) };
}
