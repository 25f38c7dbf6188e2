/**
 * Prometheus metrics (`app.metrics`, served by routes/metrics.ts). Job counters and durations,
 * the queue and the dataset are read from Redis at each scrape (shared/metrics.ts), so every
 * API instance shows the same totals, the workers' included, and a restart loses nothing. HTTP
 * request durations are this process' own: Prometheus scrapes each API instance.
 */
import fp from 'fastify-plugin';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { type Redis, DATASET_STATES, JOB_DURATION_BUCKETS, JOB_EVENTS, readMetrics, type ServiceMetrics } from '@meteorites/shared';

declare module 'fastify' {
  interface FastifyInstance {
    metrics: ApiMetrics;
  }
}

const HTTP_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

const JOB_EVENT_HELP: Record<(typeof JOB_EVENTS)[number], string> = {
  submitted: 'Jobs created by POST /jobs',
  deduplicated: 'POST /jobs answered with an existing job (same analysis and params on the same dataset version)',
  finished: 'Jobs that ended with a result',
  failed: 'Jobs that ended with an error (including "worker lost" after the last attempt)',
  cancelled: 'Jobs cancelled while queued or running',
};

interface HistogramSeries {
  labels: Record<string, string>;
  /** Cumulative counts, one per bucket bound. */
  buckets: number[];
  sum: number;
  count: number;
}

/**
 * A histogram whose counts this module keeps (prom-client's Histogram can only observe), in the
 * shape Histogram#get has, for the registry to format: the job durations the scripts write to
 * Redis, and the HTTP durations (HttpDurations).
 */
class StoredHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly bounds: readonly number[],
    private readonly values: () => readonly HistogramSeries[],
  ) {}

  async get() {
    const values = this.values().flatMap(({ labels, buckets, sum, count }) => [
      ...this.bounds.map((le, i) => ({ metricName: `${this.name}_bucket`, labels: { ...labels, le }, value: buckets[i]! })),
      { metricName: `${this.name}_bucket`, labels: { ...labels, le: '+Inf' }, value: count },
      { metricName: `${this.name}_sum`, labels, value: sum },
      { metricName: `${this.name}_count`, labels, value: count },
    ]);
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }
}

/**
 * This process' request durations by method, route pattern and status code. Every response is
 * counted here, so a series is found by one string key: prom-client's Histogram#observe checks
 * and hashes a labels object each time, about 1.5 µs against 0.1.
 */
export class HttpDurations {
  readonly #series = new Map<string, HistogramSeries>();

  observe(method: string, route: string, statusCode: number, seconds: number): void {
    const key = `${method} ${statusCode} ${route}`;
    let s = this.#series.get(key);
    if (!s) {
      s = { labels: { method, route, status_code: String(statusCode) }, buckets: HTTP_BUCKETS.map(() => 0), sum: 0, count: 0 };
      this.#series.set(key, s);
    }
    for (let i = HTTP_BUCKETS.length - 1; i >= 0 && seconds <= HTTP_BUCKETS[i]!; i--) s.buckets[i]!++;
    s.sum += seconds;
    s.count++;
  }

  series(): HistogramSeries[] {
    return [...this.#series.values()];
  }
}

export class ApiMetrics {
  readonly registry = new Registry();
  readonly httpDurations = new HttpDurations();
  /** Set by scrape() just before the registry formats; every collect() reads it synchronously. */
  #state: ServiceMetrics | undefined;

  constructor(
    private readonly redis: Redis,
    /** Analyses shown with zeros before their first job, so rate() has a start. */
    private readonly analyses: readonly string[],
  ) {
    const registers = [this.registry];
    this.registry.registerMetric(
      new StoredHistogram(
        'meteorites_http_request_duration_seconds',
        'HTTP requests by method, route pattern and status code (this API process)',
        HTTP_BUCKETS,
        () => this.httpDurations.series(),
      ) as unknown as Histogram,
    );

    for (const event of JOB_EVENTS) {
      const counter: Counter<'analysis'> = new Counter({
        name: `meteorites_jobs_${event}_total`,
        help: JOB_EVENT_HELP[event],
        labelNames: ['analysis'],
        registers,
        collect: () => {
          counter.reset();
          const jobs = this.#current.jobs;
          for (const analysis of this.#analysisNames(jobs)) counter.inc({ analysis }, jobs.get(analysis)?.[event] ?? 0);
        },
      });
    }
    this.registry.registerMetric(
      new StoredHistogram(
        'meteorites_job_duration_seconds',
        'Run time of finished jobs (started to finished), by analysis',
        JOB_DURATION_BUCKETS,
        () => {
          const durations = this.#current.durations;
          return this.#analysisNames(durations).map((analysis) => ({
            labels: { analysis },
            ...(durations.get(analysis) ?? { buckets: JOB_DURATION_BUCKETS.map(() => 0), sum: 0, count: 0 }),
          }));
        },
      ) as unknown as Histogram,
    );

    const gauge = (name: string, help: string, set: (g: Gauge<string>, m: ServiceMetrics) => void, labelNames: string[] = []) => {
      const g: Gauge<string> = new Gauge({ name, help, labelNames, registers, collect: () => set(g, this.#current) });
    };
    gauge(
      'meteorites_queue_depth',
      'Queued jobs: ready in jobs:queue, or waiting out a retry backoff (delayed)',
      (g, m) => {
        g.set({ state: 'ready' }, m.queued.ready);
        g.set({ state: 'delayed' }, m.queued.delayed);
      },
      ['state'],
    );
    gauge('meteorites_jobs_running', 'Jobs holding a lease (running on some worker)', (g, m) => g.set(m.running));
    gauge('meteorites_workers', 'Worker processes with a live heartbeat', (g, m) => g.set(m.workers));
    gauge('meteorites_dataset_records', 'Records in the loaded dataset', (g, m) => g.set(m.dataset.records));
    gauge('meteorites_dataset_version', 'Dataset version (increments on every load and delete)', (g, m) => g.set(m.dataset.version));
    gauge(
      'meteorites_dataset_state',
      'The dataset state: 1 for the current one',
      (g, m) => {
        for (const state of DATASET_STATES) g.set({ state }, m.dataset.state === state ? 1 : 0);
      },
      ['state'],
    );
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The Prometheus text: one Redis round trip, then the registry formats it. */
  async scrape(): Promise<string> {
    this.#state = await readMetrics(this.redis);
    return this.registry.metrics();
  }

  get #current(): ServiceMetrics {
    if (!this.#state) throw new Error('metrics read outside scrape()');
    return this.#state;
  }

  #analysisNames(seen: Map<string, unknown>): string[] {
    return [...new Set([...this.analyses, ...seen.keys()])].sort();
  }
}

export default fp(
  async (app) => {
    const metrics = new ApiMetrics(app.redis, [...app.analyses.analyses.keys()]);
    app.decorate('metrics', metrics);
    // A callback hook: an async one costs a promise per request for work that never waits.
    app.addHook('onResponse', (request, reply, done) => {
      // The route pattern (`/meteorites/:id`), never the URL: one series per route, not per id.
      const route = request.routeOptions.url ?? 'unmatched';
      metrics.httpDurations.observe(request.method, route, reply.statusCode, reply.elapsedTime / 1000);
      done();
    });
  },
  { name: 'metrics', dependencies: ['redis', 'queue'], fastify: '5.x' },
);
