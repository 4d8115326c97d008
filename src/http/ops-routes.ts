import { timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Metrics } from "../metrics/metrics.ts";

export interface OpsView {
  ready(): boolean;
  state(): unknown;
}

/** Operational endpoints. /healthz and /readyz are open; the others need OPS_TOKEN when it is set. */
export function newOpsRoutes(metrics: Metrics, view: OpsView, token: string | undefined) {
  const guarded: Record<string, (res: ServerResponse) => Promise<void> | void> = {
    "/state": (res) => json(res, 200, view.state()),
    "/memstats": (res) => json(res, 200, memstats()),
    "/metrics": async (res) => {
      const text = await metrics.registry.metrics();
      res.writeHead(200, { "content-type": metrics.registry.contentType }).end(text);
    },
  };
  return async function route(req: IncomingMessage, res: ServerResponse, path: string): Promise<boolean> {
    if (path === "/healthz") {
      json(res, 200, { status: "ok" });
      return true;
    }
    if (path === "/readyz") {
      const ready = view.ready();
      json(res, ready ? 200 : 503, { status: ready ? "ready" : "not ready" });
      return true;
    }
    const handler = guarded[path];
    if (!handler) return false;
    if (!authorised(req, token)) {
      json(res, 401, { error: "ops token required" });
      return true;
    }
    await handler(res);
    return true;
  };
}

/** True when OPS_TOKEN is unset or the request carries `Authorization: Bearer <OPS_TOKEN>`. */
export function authorised(req: IncomingMessage, token: string | undefined): boolean {
  if (!token) return true;
  const header = req.headers.authorization ?? "";
  const given = Buffer.from(header.startsWith("Bearer ") ? header.slice(7) : "");
  const want = Buffer.from(token);
  return given.length === want.length && timingSafeEqual(given, want);
}

function memstats() {
  const m = process.memoryUsage();
  return { ...m, uptimeSeconds: process.uptime(), activeResources: process.getActiveResourcesInfo().length };
}

export function json(res: ServerResponse, status: number, body: unknown): void {
  res
    .writeHead(status, { "content-type": "application/json", "cache-control": "no-store" })
    .end(JSON.stringify(body));
}
