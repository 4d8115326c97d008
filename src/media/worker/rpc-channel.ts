import { MediaError } from "../media-error.ts";
import { fromWireError, type WireError, type WorkerRequest } from "./protocol.ts";

interface Pending {
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
}

export interface RequestOptions {
  /** Rejects with MediaError "unavailable" when no result came in time. */
  timeoutMs?: number;
  /** The caller's deadline or cancellation: same rejection. */
  signal?: AbortSignal;
}

/**
 * Typed request/result over one worker's message port: request ids, per-call deadlines, and one
 * place that fails every call in flight when the worker goes away. A late result for a call that
 * already failed is dropped.
 */
export class RpcChannel {
  readonly #post: (message: { id: number } & WorkerRequest) => void;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;

  constructor(post: (message: { id: number } & WorkerRequest) => void) {
    this.#post = post;
  }

  get inFlight(): number {
    return this.#pending.size;
  }

  request<T>(body: WorkerRequest, options: RequestOptions = {}): Promise<T> {
    const { signal, timeoutMs } = options;
    if (signal?.aborted) return Promise.reject(new MediaError("unavailable", `${body.t}: deadline passed`));
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const onAbort = () => fail(new MediaError("unavailable", `${body.t}: deadline passed`));
      const done = () => {
        if (timer) clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        this.#pending.delete(id);
      };
      const fail = (err: Error) => {
        done();
        reject(err);
      };
      this.#pending.set(id, {
        resolve: (v) => {
          done();
          resolve(v as T);
        },
        reject: fail,
      });
      if (timeoutMs !== undefined) {
        timer = setTimeout(
          () => fail(new MediaError("unavailable", `media worker did not answer ${body.t} in time`)),
          timeoutMs,
        );
      }
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#post({ id, ...body });
    });
  }

  /** A `result` from the worker. */
  settle(id: number, result: { ok: true; value?: unknown } | { ok: false; error: WireError }): void {
    const p = this.#pending.get(id);
    if (!p) return;
    if (result.ok) p.resolve(result.value);
    else p.reject(fromWireError(result.error));
  }

  /** The worker is gone: every call in flight fails with `unavailable`. */
  failAll(why: string): void {
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    for (const p of pending) p.reject(new MediaError("unavailable", why));
  }
}
