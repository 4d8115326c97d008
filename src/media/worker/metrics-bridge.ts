import { Counter, Gauge, type MetricObjectWithValues, type MetricValue } from "prom-client";
import type { Metrics } from "../../metrics/metrics.ts";

type Snapshot = MetricObjectWithValues<MetricValue<string>>[];
type Labels = Record<string, string | number>;

/** What the parent has seen of one worker incarnation (a restarted worker starts from zero). */
export class WorkerMetricsState {
  /** Last counter values taken from this worker, by series key. */
  readonly counters = new Map<string, number>();
  /** Its current gauge values, by series key. */
  readonly gauges = new Map<string, { name: string; labels: Labels; value: number }>();
}

const key = (name: string, labels: Labels): string =>
  `${name}${JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : 1)))}`;

/**
 * Makes the parent's /metrics include the workers' media metrics: the parent's own
 * `webrtcsignaling_media_*` counters and gauges get a `collect` hook that, once per scrape, reads
 * every worker's `getMetricsAsJSON()`; counters grow by what each worker added since the last read,
 * gauges are the sum over the live workers. Increments a worker made after the last scrape and
 * before it crashed are lost.
 */
export class MetricsBridge {
  readonly #metrics: Metrics;
  readonly #read: () => Promise<Array<{ state: WorkerMetricsState; snapshot: Snapshot | undefined }>>;
  readonly #hooked: Array<Counter | Gauge> = [];
  /** Gauge series the parent has set, so that a series no worker reports any more goes back to 0. */
  readonly #gaugeSeries = new Map<string, { gauge: Gauge; labels: Labels }>();
  #inFlight: Promise<void> | undefined;

  constructor(
    metrics: Metrics,
    read: () => Promise<Array<{ state: WorkerMetricsState; snapshot: Snapshot | undefined }>>,
    skip: readonly string[],
  ) {
    this.#metrics = metrics;
    this.#read = read;
    const refresh = () => this.refresh();
    for (const m of metrics.registry.getMetricsAsArray()) {
      const name = (m as { name: string }).name;
      if (!name.startsWith("webrtcsignaling_media_") || skip.includes(name)) continue;
      if (!(m instanceof Counter || m instanceof Gauge)) continue;
      (m as { collect?: () => Promise<void> }).collect = refresh;
      this.#hooked.push(m);
    }
  }

  /** One read of every worker per scrape: concurrent collect hooks share it. */
  refresh(): Promise<void> {
    this.#inFlight ??= this.#apply().finally(() => {
      this.#inFlight = undefined;
    });
    return this.#inFlight;
  }

  async #apply(): Promise<void> {
    const reads = await this.#read();
    const sums = new Map<string, { gauge: Gauge; labels: Labels; value: number }>();
    for (const { state, snapshot } of reads) {
      for (const metric of snapshot ?? []) {
        const parent = this.#metrics.registry.getSingleMetric(metric.name);
        if (!parent || !this.#hooked.includes(parent as Counter | Gauge)) continue;
        for (const v of metric.values) {
          const labels = v.labels as Labels;
          const k = key(metric.name, labels);
          if (parent instanceof Counter) {
            const delta = v.value - (state.counters.get(k) ?? 0);
            state.counters.set(k, v.value);
            if (delta > 0) parent.inc(labels, delta);
          } else if (parent instanceof Gauge) {
            state.gauges.set(k, { name: metric.name, labels, value: v.value });
          }
        }
      }
      for (const [k, g] of state.gauges) {
        const gauge = this.#metrics.registry.getSingleMetric(g.name) as Gauge;
        const s = sums.get(k) ?? { gauge, labels: g.labels, value: 0 };
        s.value += g.value;
        sums.set(k, s);
      }
    }
    for (const [k, s] of sums) {
      s.gauge.set(s.labels, s.value);
      this.#gaugeSeries.set(k, { gauge: s.gauge, labels: s.labels });
    }
    for (const [k, s] of this.#gaugeSeries) {
      if (sums.has(k)) continue;
      s.gauge.set(s.labels, 0);
      this.#gaugeSeries.delete(k);
    }
  }

  /** Removes the hooks (the values stay as last read). */
  dispose(): void {
    for (const m of this.#hooked) delete (m as { collect?: unknown }).collect;
    this.#hooked.length = 0;
  }
}
