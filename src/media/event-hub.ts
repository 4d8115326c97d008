import type { Logger } from "../lib/logger.ts";
import type { MediaEvent } from "./media-port.ts";

/** Fan-out of MediaEvents to subscribers; a throwing listener is logged, never breaks the media plane. */
export class EventHub {
  readonly #listeners = new Set<(event: MediaEvent) => void>();
  readonly #log: Logger;

  constructor(log: Logger) {
    this.#log = log;
  }

  subscribe(listener: (event: MediaEvent) => void): () => void {
    // Wrap so the same function can subscribe twice and each disposer removes only its own entry.
    const entry = (event: MediaEvent) => listener(event);
    this.#listeners.add(entry);
    return () => {
      this.#listeners.delete(entry);
    };
  }

  emit(event: MediaEvent): void {
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch (err) {
        this.#log.error({ err, event: event.type }, "media event listener threw");
      }
    }
  }

  clear(): void {
    this.#listeners.clear();
  }
}
