/**
 * GET /metrics end to end: the API (in-process) and a real worker process against a real Redis
 * holding the sample dataset. The test keeps its own tally of what it did (jobs submitted,
 * finished, failed, cancelled, deduplicated) and checks the scraped counters against it; the
 * queue gauges against jobs it holds queued and running; the dataset gauges against the summary;
 * HTTP durations by route pattern; and that the totals, kept in Redis, outlive the API process.
 * A second suite drives the queue protocol directly to check that every way a job can end
 * (settle, cancel, hand-back while cancelling, recovery's "worker lost") counts exactly once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { startRedis, type TestRedis } from '@meteorites/test-utils/redis';
import { buildTestApp } from '@meteorites/test-utils/app';
import { killAllWorkers, spawnWorker } from '@meteorites/test-utils/worker';
import { parsePrometheus, sampleValue, samples, type Exposition } from '@meteorites/test-utils/prometheus';
import type { App } from '@meteorites/api';
import { type Redis, JobQueue, WorkerQueue, JOB_DURATION_BUCKETS, JOB_EVENTS, readMetrics, type JobEvent } from '@meteorites/shared';

const SAMPLE = fileURLToPath(new URL('../../data/sample.json', import.meta.url));
const POLL = { timeout: 20_000, interval: 50 };

type Tally = Map<string, Record<JobEvent, number>>;

function count(tally: Tally, analysis: string, event: JobEvent, n = 1): void {
  const counts = tally.get(analysis) ?? { submitted: 0, deduplicated: 0, finished: 0, failed: 0, cancelled: 0 };
  counts[event] += n;
  tally.set(analysis, counts);
}

/** The histogram of one analysis as scraped: cumulative buckets by `le`, sum and count. */
function histogram(exp: Exposition, analysis: string) {
  const buckets = samples(exp, 'meteorites_job_duration_seconds_bucket', { analysis });
  return {
    les: buckets.map((b) => b.labels.le),
    counts: buckets.map((b) => b.value),
    sum: sampleValue(exp, 'meteorites_job_duration_seconds_sum', { analysis }),
    count: sampleValue(exp, 'meteorites_job_duration_seconds_count', { analysis }),
  };
}

describe('GET /metrics with a worker, on the sample dataset', () => {
  let redis: TestRedis;
  let app: App;
  let analyses: string[];
  const tally: Tally = new Map();

  beforeAll(async () => {
    redis = await startRedis();
    [app] = await Promise.all([
      buildTestApp(redis.url, { ENABLE_TEST_ANALYSES: true }),
      spawnWorker(redis.url, { WORKER_CONCURRENCY: '2' }),
    ]);
    const loaded = await app.inject({
      method: 'POST',
      url: '/data',
      headers: { 'content-type': 'application/json' },
      payload: readFileSync(SAMPLE),
    });
    expect(loaded.statusCode).toBe(201);
    analyses = (await app.inject('/analyses')).json().map((a: { name: string }) => a.name);
  });
  afterAll(async () => {
    await killAllWorkers();
    await app?.close();
    await redis?.close();
  });

  async function scrape(from = app): Promise<Exposition> {
    const res = await from.inject('/metrics');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    return parsePrometheus(res.body);
  }

  /** POSTs a job and counts it as the test expects the service to. */
  async function submit(analysis: string, params: Record<string, unknown> = {}): Promise<string> {
    const res = await app.inject({ method: 'POST', url: '/jobs', payload: { analysis, params } });
    if (res.statusCode === 202) count(tally, analysis, 'submitted');
    else if (res.statusCode === 200) count(tally, analysis, 'deduplicated');
    else throw new Error(`POST /jobs ${res.statusCode}: ${res.body}`);
    return res.json().id;
  }

  async function waitEnd(id: string): Promise<string> {
    const job = (await app.inject(`/jobs/${id}?wait=30`)).json();
    expect(['finished', 'failed', 'cancelled']).toContain(job.status);
    return job.status;
  }

  function expectCounters(exp: Exposition): void {
    for (const analysis of analyses) {
      for (const event of JOB_EVENTS) {
        expect({ analysis, event, value: sampleValue(exp, `meteorites_jobs_${event}_total`, { analysis }) }).toEqual({
          analysis,
          event,
          value: tally.get(analysis)?.[event] ?? 0,
        });
      }
    }
  }

  it('starts with every offered analysis at zero, typed and documented', async () => {
    const exp = await scrape();
    expectCounters(exp);
    for (const event of JOB_EVENTS) expect(exp.types.get(`meteorites_jobs_${event}_total`)).toBe('counter');
    expect(exp.types.get('meteorites_job_duration_seconds')).toBe('histogram');
    expect(exp.types.get('meteorites_http_request_duration_seconds')).toBe('histogram');
    for (const name of [
      'meteorites_queue_depth',
      'meteorites_jobs_running',
      'meteorites_workers',
      'meteorites_dataset_records',
      'meteorites_dataset_version',
    ]) {
      expect(exp.types.get(name)).toBe('gauge');
    }
    for (const name of exp.types.keys()) expect(exp.help.get(name)?.length).toBeGreaterThan(10);
    for (const analysis of analyses) {
      const h = histogram(exp, analysis);
      expect(h.les).toEqual([...JOB_DURATION_BUCKETS.map(String), '+Inf']);
      expect([...h.counts, h.sum, h.count].every((v) => v === 0)).toBe(true);
    }
  });

  it('dataset gauges equal GET /data/summary', async () => {
    const summary = (await app.inject('/data/summary')).json();
    expect(summary).toMatchObject({ state: 'ready' });
    expect(summary.records).toBeGreaterThan(0);
    const exp = await scrape();
    expect(sampleValue(exp, 'meteorites_dataset_records')).toBe(summary.records);
    expect(sampleValue(exp, 'meteorites_dataset_version')).toBe(summary.version);
    expect(samples(exp, 'meteorites_dataset_state').map((s) => [s.labels.state, s.value])).toEqual([
      ['empty', 0],
      ['loading', 0],
      ['ready', 1],
    ]);
  });

  it('queue depth, running jobs and workers follow the queue; cancelling counts queued and running jobs alike', async () => {
    const tag = crypto.randomUUID();
    const busy = [
      await submit('test-sleep', { steps: 200, step_ms: 100, tag: `${tag}-1` }),
      await submit('test-sleep', { steps: 200, step_ms: 100, tag: `${tag}-2` }),
    ];
    for (const id of busy) await expect.poll(async () => (await app.inject(`/jobs/${id}`)).json().status, POLL).toBe('running');
    const waiting = [];
    for (let i = 0; i < 3; i++) waiting.push(await submit('test-sleep', { steps: 1, step_ms: 0, tag: `${tag}-w${i}` }));

    const exp = await scrape();
    expect(sampleValue(exp, 'meteorites_queue_depth', { state: 'ready' })).toBe(3);
    expect(sampleValue(exp, 'meteorites_queue_depth', { state: 'delayed' })).toBe(0);
    expect(sampleValue(exp, 'meteorites_jobs_running')).toBe(2);
    expect(sampleValue(exp, 'meteorites_workers')).toBe(1);

    for (const id of [...waiting, ...busy])
      expect((await app.inject({ method: 'DELETE', url: `/jobs/${id}` })).statusCode).toBeLessThan(300);
    for (const id of [...waiting, ...busy]) expect(await waitEnd(id)).toBe('cancelled');
    count(tally, 'test-sleep', 'cancelled', 5);

    const after = await scrape();
    expect(sampleValue(after, 'meteorites_queue_depth', { state: 'ready' })).toBe(0);
    expect(sampleValue(after, 'meteorites_jobs_running')).toBe(0);
    expectCounters(after);
  });

  it('counts finished, failed and deduplicated jobs by analysis, and times the finished ones', async () => {
    const tag = crypto.randomUUID();
    const ids = [
      await submit('mass-by-class'),
      await submit('mass-by-year', { bin: 10 }),
      await submit('test-sleep', { steps: 2, step_ms: 150, tag: `${tag}-slow` }),
      await submit('test-sleep', { steps: 1, step_ms: 0, tag: `${tag}-quick` }),
      await submit('test-sleep', { steps: 1, step_ms: 0, fail: 'on purpose', tag: `${tag}-fails` }),
    ];
    const ended = [];
    for (const id of ids) ended.push(await waitEnd(id));
    expect(ended).toEqual(['finished', 'finished', 'finished', 'finished', 'failed']);
    count(tally, 'mass-by-class', 'finished');
    count(tally, 'mass-by-year', 'finished');
    count(tally, 'test-sleep', 'finished', 2);
    count(tally, 'test-sleep', 'failed');
    // The same request on the same dataset version answers the finished job.
    expect(await submit('mass-by-class')).toBe(ids[0]);
    expect(tally.get('mass-by-class')!.deduplicated).toBe(1);

    const exp = await scrape();
    expectCounters(exp);
    for (const analysis of analyses) {
      const h = histogram(exp, analysis);
      expect(h.count).toBe(tally.get(analysis)?.finished ?? 0);
      expect(h.counts.at(-1)).toBe(h.count);
      for (let i = 1; i < h.counts.length; i++) expect(h.counts[i]).toBeGreaterThanOrEqual(h.counts[i - 1]!);
    }
    // The slow test-sleep ran two 150 ms steps: it is in no bucket below 0.25 s, and the sum holds it.
    const sleeps = histogram(exp, 'test-sleep');
    expect(sleeps.sum).toBeGreaterThanOrEqual(0.3);
    expect(sleeps.counts[sleeps.les.indexOf('0.25')]).toBeLessThan(2);
  });

  it('labels HTTP durations with the route pattern, never the URL', async () => {
    const id = readFileSync(SAMPLE, 'utf8').match(/"id"\s*:\s*"?(\d+)/)![1]!;
    expect((await app.inject(`/meteorites/${id}`)).statusCode).toBe(200);
    expect((await app.inject('/meteorites/999999999')).statusCode).toBe(404);
    expect((await app.inject('/no/such/route')).statusCode).toBe(404);

    const exp = await scrape();
    const counts = samples(exp, 'meteorites_http_request_duration_seconds_count');
    const by = (route: string, code: string) =>
      counts.find((s) => s.labels.route === route && s.labels.status_code === code && s.labels.method === 'GET');
    expect(by('/meteorites/:id', '200')?.value).toBeGreaterThanOrEqual(1);
    expect(by('/meteorites/:id', '404')?.value).toBeGreaterThanOrEqual(1);
    expect(by('/jobs/:id', '200')?.value).toBeGreaterThanOrEqual(1);
    expect(by('unmatched', '404')?.value).toBe(1);
    expect(counts.find((s) => s.labels.method === 'POST' && s.labels.route === '/jobs')).toBeDefined();
    for (const s of counts) {
      expect(s.labels.route).not.toMatch(/\/\d|[0-9a-f]{8}-|no\/such/);
      expect(Object.keys(s.labels).sort()).toEqual(['method', 'route', 'status_code']);
    }
  });

  it('keeps the job totals in Redis: a new API instance shows them all', async () => {
    const before = await scrape();
    await app.close();
    app = await buildTestApp(redis.url, { ENABLE_TEST_ANALYSES: true });
    const after = await scrape();
    expectCounters(after);
    const fromRedis = (exp: Exposition) => exp.samples.filter((s) => s.name.startsWith('meteorites_job'));
    expect(fromRedis(after)).toEqual(fromRedis(before));
    expect(fromRedis(after).length).toBeGreaterThan(analyses.length * JOB_EVENTS.length);
    // Request durations are the process' own: the new instance has served no /meteorites/:id yet.
    expect(samples(after, 'meteorites_http_request_duration_seconds_count', { route: '/meteorites/:id' })).toEqual([]);
  });
});

describe('the queue scripts count every way a job ends, exactly once', () => {
  let redis: TestRedis;
  let r: Redis;
  let q: JobQueue;
  let w: WorkerQueue;

  beforeAll(async () => {
    redis = await startRedis();
    r = await redis.client();
    q = new JobQueue(r);
    w = new WorkerQueue(r);
  });
  afterAll(async () => {
    await redis?.close();
  });

  const enqueue = async (tag: string) => (await q.enqueue('test-sleep', { tag })).job;
  const claimOne = async (leaseMs: number) => {
    const [job] = await w.claim('w1', leaseMs);
    expect(job).toBeDefined();
    return job!;
  };

  it('settle, dedup, cancel (queued and while handing back), recovery requeue and "worker lost"', async () => {
    await enqueue('finished');
    expect((await q.enqueue('test-sleep', { tag: 'finished' })).deduplicated).toBe(true);
    const finished = await claimOne(60_000);
    // A run's length is the worker's to time: the settle carries it.
    expect(
      (await w.settle('w1', [{ job: finished, settlement: { status: 'finished', result: '{}', datasetVersion: 0 }, runMs: 300 }])).outcomes,
    ).toEqual(['finished']);

    await enqueue('failed');
    const failed = await claimOne(60_000);
    await w.settle('w1', [{ job: failed, settlement: { status: 'failed', error: 'boom' } }]);

    const handedBack = await enqueue('handed back');
    const held = await claimOne(60_000);
    expect((await q.cancel(handedBack.id))!.outcome).toBe('requested');
    expect(await w.release('w1', held, { delayMs: 0, refund: true })).toBe('cancelled');

    const queued = await enqueue('cancelled while queued');
    expect((await q.cancel(queued.id))!.outcome).toBe('cancelled');

    await enqueue('lost');
    await claimOne(50);
    await sleep(100);
    expect(await w.recover(1)).toMatchObject({ lost: 1 });

    // Requeued by recovery (not an end), then run again: only the run that ended is timed.
    await enqueue('retried');
    await claimOne(50);
    await sleep(100);
    expect(await w.recover(3)).toMatchObject({ requeued: 1, lost: 0 });
    const retried = await claimOne(60_000);
    expect(retried.attempts).toBe(2);
    await w.settle('w1', [{ job: retried, settlement: { status: 'finished', result: '{}', datasetVersion: 0 }, runMs: 20.4 }]);

    const m = await readMetrics(r);
    expect(Object.fromEntries(m.jobs)).toEqual({ 'test-sleep': { submitted: 6, deduplicated: 1, finished: 2, failed: 2, cancelled: 2 } });
    const d = m.durations.get('test-sleep')!;
    expect(d.count).toBe(2);
    // 300 ms and 20 ms (whole ms), each in its bucket; the requeued run is not counted.
    expect(d.sum).toBeCloseTo(0.32, 6);
    expect(d.buckets[JOB_DURATION_BUCKETS.indexOf(0.25)]).toBe(1);
    expect(d.buckets.at(-1)).toBe(2);
    expect(m).toMatchObject({ queued: { ready: 0, delayed: 0 }, running: 0, dataset: { version: 0, records: 0, state: 'empty' } });
  });

  it('GET /metrics is a 503 while Redis is down, and the totals are back with it', async () => {
    const app = await buildTestApp(redis.url);
    try {
      const before = (await app.inject('/metrics')).body;
      await redis.stop();
      const down = await app.inject('/metrics');
      expect(down.statusCode).toBe(503);
      expect(down.json().error.code).toBe('redis_unavailable');
      await redis.start();
      await expect.poll(async () => (await app.inject('/metrics')).statusCode, POLL).toBe(200);
      const fromRedis = (text: string) => parsePrometheus(text).samples.filter((s) => s.name.startsWith('meteorites_jobs_'));
      expect(fromRedis((await app.inject('/metrics')).body)).toEqual(fromRedis(before));
    } finally {
      await app.close();
    }
  });
});
