import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "../lib/logger.ts";
import { json } from "./ops-routes.ts";

/** A route answers a request it knows (true) or passes it on (false). */
export type Route = (req: IncomingMessage, res: ServerResponse, path: string) => Promise<boolean>;

/** Tries each route in order; 404 when none answers, 500 (logged) when one throws. */
export function newRequestHandler(routes: readonly Route[], log: Logger) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    const path = new URL(req.url ?? "/", "http://x").pathname;
    (async () => {
      for (const route of routes) if (await route(req, res, path)) return;
      json(res, 404, { error: "not found" });
    })().catch((err: unknown) => {
      log.error({ err, path }, "http handler failed");
      if (!res.headersSent) json(res, 500, { error: "internal" });
    });
  };
}
