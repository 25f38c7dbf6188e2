/**
 * The service's counters live in Redis, not in a process: the queue's Lua scripts count every
 * job transition (`metrics:jobs`; finished jobs by their histogram bucket) and every finished
 * job's run time (`metrics:job_duration`) in
 * the same atomic step as the transition itself, so any number of workers on any number of
 * machines add to the same numbers, and an API restart loses none of them. GET /metrics reads
 * them, with the queue's and the dataset's current state, in one pipeline (readMetrics).
 */
import { keys } from './keys.ts';
import type { Redis } from './redis.ts';

/** Upper bounds (seconds) of the job duration histogram; the scripts compile them in. */
export const JOB_DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300] as const;

/** What the scripts count per analysis (`<analysis>:<event>` in `metrics:jobs`). */
export const JOB_EVENTS = ['submitted', 'deduplicated', 'finished', 'failed', 'cancelled'] as const;
export type JobEvent = (typeof JOB_EVENTS)[number];

export const DATASET_STATES = ['empty', 'loading', 'ready'] as const;

export interface DurationHistogram {
  /** Cumulative counts, one per JOB_DURATION_BUCKETS bound. */
  buckets: number[];
  /** Seconds. */
  sum: number;
  count: number;
}

export interface ServiceMetrics {
  /** Job counters by analysis. */
  jobs: Map<string, Record<JobEvent, number>>;
  durations: Map<string, DurationHistogram>;
  /** Ids waiting in `jobs:queue`, and queued jobs waiting out a retry backoff. */
  queued: { ready: number; delayed: number };
  running: number;
  /** Worker processes whose heartbeat has not expired. */
  workers: number;
  dataset: { version: number; records: number; state: string };
}

const zeroCounts = (): Record<JobEvent, number> => ({ submitted: 0, deduplicated: 0, finished: 0, failed: 0, cancelled: 0 });

/** `<analysis>:<rest>`: analysis names never hold a colon, bucket names never do either. */
function splitField(field: string): [string, string] {
  const at = field.lastIndexOf(':');
  return [field.slice(0, at), field.slice(at + 1)];
}

export function parseJobCounters(hash: Record<string, string>): Map<string, Record<JobEvent, number>> {
  const out = new Map<string, Record<JobEvent, number>>();
  for (const [field, value] of Object.entries(hash)) {
    const [analysis, event] = splitField(field);
    if (!(JOB_EVENTS as readonly string[]).includes(event)) continue;
    let counts = out.get(analysis);
    if (!counts) out.set(analysis, (counts = zeroCounts()));
    counts[event as JobEvent] = Number(value);
  }
  return out;
}

/**
 * Buckets are stored one count each (a job increments one field); they are summed up here, and
 * their total is the count (no field of its own: one write less per job). A bound no longer in
 * JOB_DURATION_BUCKETS (written by an older version) counts in the next larger one, so the
 * histogram stays cumulative and its count stays right.
 */
export function parseDurations(hash: Record<string, string>): Map<string, DurationHistogram> {
  const raw = new Map<string, { own: number[]; sumMs: number; count: number }>();
  for (const [field, value] of Object.entries(hash)) {
    const [analysis, name] = splitField(field);
    let h = raw.get(analysis);
    if (!h) raw.set(analysis, (h = { own: JOB_DURATION_BUCKETS.map(() => 0), sumMs: 0, count: 0 }));
    if (name === 'sum_ms') h.sumMs = Number(value);
    else if (name !== 'count') {
      h.count += Number(value);
      const i = JOB_DURATION_BUCKETS.findIndex((b) => b >= Number(name));
      if (i >= 0) h.own[i]! += Number(value);
    }
  }
  const out = new Map<string, DurationHistogram>();
  for (const [analysis, h] of raw) {
    let total = 0;
    out.set(analysis, { buckets: h.own.map((n) => (total += n)), sum: h.sumMs / 1000, count: h.count });
  }
  return out;
}

/** Everything GET /metrics shows from Redis, in one round trip. */
export async function readMetrics(redis: Redis): Promise<ServiceMetrics> {
  const [jobs, durations, ready, delayed, running, workers, time, dataset] = (await redis
    .multi()
    .hGetAll(keys.jobsMetrics)
    .hGetAll(keys.jobDurations)
    .lLen(keys.jobsQueue)
    .zCard(keys.jobsDelayed)
    .zCard(keys.jobsLeases)
    .zRangeWithScores(keys.jobsWorkers, 0, -1)
    .time()
    .hmGet(keys.dataset, ['version', 'records', 'state'])
    .execAsPipeline()) as unknown as [
    Record<string, string>,
    Record<string, string>,
    number,
    number,
    number,
    { value: string; score: number }[],
    [string, string],
    (string | null)[],
  ];
  // Heartbeats are scored in Redis server time; a dead worker's entry stays until recovery drops it.
  const nowMs = Number(time[0]) * 1000 + Math.floor(Number(time[1]) / 1000);
  const counters = parseJobCounters(jobs);
  const histograms = parseDurations(durations);
  // Finished jobs are counted by the histogram alone (see the settle script).
  for (const [analysis, h] of histograms) {
    let counts = counters.get(analysis);
    if (!counts) counters.set(analysis, (counts = zeroCounts()));
    counts.finished = h.count;
  }
  return {
    jobs: counters,
    durations: histograms,
    queued: { ready, delayed },
    running,
    workers: workers.filter((w) => w.score > nowMs).length,
    dataset: { version: Number(dataset[0] ?? 0), records: Number(dataset[1] ?? 0), state: dataset[2] ?? 'empty' },
  };
}
