import type { MediaConfig } from "../config/media-config.ts";
import type { MediaPort } from "./media-port.ts";
import { type MediaPlaneDeps, newWeriftMediaPlane } from "./werift/werift-media-plane.ts";
import { newWorkerMediaPlane } from "./worker/worker-media-plane.ts";

/** The media plane MEDIA_WORKERS asks for: in the main thread (0) or spread over N worker threads. */
export function createMediaPlane(config: MediaConfig, deps: MediaPlaneDeps): MediaPort {
  return config.workers > 0
    ? newWorkerMediaPlane(config, deps, { workers: config.workers })
    : newWeriftMediaPlane(config, deps);
}
