import { type ChildProcess, fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { MediaReply, MediaRequest, MediaStats, MemberSpec } from "./media-child.ts";

const CHILD = fileURLToPath(new URL("./media-child.ts", import.meta.url));

type Req = MediaRequest extends infer R ? (R extends { id: number } ? Omit<R, "id"> : never) : never;

/** A forked process of werift peers (bench/lib/media-child.ts) with a promise-based IPC call. */
export class MediaProc {
  readonly #child: ChildProcess;
  readonly #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  #next = 1;
  readonly #exited: Promise<void>;

  private constructor(child: ChildProcess) {
    this.#child = child;
    child.on("message", (m: MediaReply) => {
      if (m.type !== "reply") return;
      const p = this.#pending.get(m.id);
      this.#pending.delete(m.id);
      if (m.ok) p?.resolve(m.value);
      else p?.reject(new Error(m.error));
    });
    this.#exited = new Promise((r) => child.once("exit", () => r()));
    child.once("exit", (code) => {
      for (const p of this.#pending.values()) p.reject(new Error(`media child exited with ${code}`));
      this.#pending.clear();
    });
  }

  static async spawn(cpuProfDir?: string, env?: Record<string, string>): Promise<MediaProc> {
    const execArgv = cpuProfDir ? ["--cpu-prof", `--cpu-prof-dir=${cpuProfDir}`] : [];
    const child = fork(CHILD, [], {
      stdio: ["ignore", "inherit", "inherit", "ipc"],
      execArgv,
      ...(env ? { env: { ...process.env, ...env } } : {}),
    });
    await new Promise<void>((resolve, reject) => {
      child.once("message", () => resolve());
      child.once("exit", (code) => reject(new Error(`media child exited early with ${code}`)));
    });
    return new MediaProc(child);
  }

  call<T = unknown>(req: Req, timeoutMs = 120_000): Promise<T> {
    const id = this.#next++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`media child: ${req.type} timed out`));
      }, timeoutMs);
      this.#pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v as T);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.#child.send({ ...req, id });
    });
  }

  join(url: string, members: MemberSpec[], bitrate: number): Promise<void> {
    return this.call({ type: "join", url, members, bitrate }, 300_000);
  }

  stats(): Promise<MediaStats> {
    return this.call<MediaStats>({ type: "stats" });
  }

  async close(): Promise<void> {
    if (this.#child.exitCode === null) await this.call({ type: "close" }, 10_000).catch(() => undefined);
    const killer = setTimeout(() => this.#child.kill("SIGKILL"), 5000);
    await this.#exited;
    clearTimeout(killer);
  }
}

/** Sums the stats of several media processes. */
export async function sumStats(procs: readonly MediaProc[]): Promise<MediaStats> {
  const all = await Promise.all(procs.map((p) => p.stats()));
  return all.reduce(
    (a, s) => ({
      cpuUs: a.cpuUs + s.cpuUs,
      rss: a.rss + s.rss,
      videoSent: a.videoSent + s.videoSent,
      audioSent: a.audioSent + s.audioSent,
      received: a.received + s.received,
      listenerPcs: a.listenerPcs + s.listenerPcs,
      receivingPcs: a.receivingPcs + s.receivingPcs,
      connectedPcs: a.connectedPcs + s.connectedPcs,
      retries: a.retries + s.retries,
      states: Object.fromEntries(
        [...new Set([...Object.keys(a.states), ...Object.keys(s.states)])].map((k) => [
          k,
          (a.states[k] ?? 0) + (s.states[k] ?? 0),
        ]),
      ),
      errors: [...a.errors, ...s.errors],
    }),
    {
      cpuUs: 0,
      rss: 0,
      videoSent: 0,
      audioSent: 0,
      received: 0,
      listenerPcs: 0,
      receivingPcs: 0,
      connectedPcs: 0,
      retries: 0,
      states: {} as Record<string, number>,
      errors: [] as string[],
    },
  );
}
