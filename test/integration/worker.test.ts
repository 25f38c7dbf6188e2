/**
 * Real worker processes against real Redis servers: crashes (SIGKILL) are recovered through
 * leases, SIGTERM drains, timeouts and failures are recorded, and the startup check warns about
 * an unsafe Redis. Jobs are `test-sleep` (ENABLE_TEST_ANALYSES) on an empty dataset.
 *
 * Worker processes take seconds to start on a busy machine, so every scenario gets its own
 * Redis and its workers, all started at once before the tests.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, type TestRedis } from '@meteorites/test-utils/redis';
import { killAllWorkers, spawnWorker, type WorkerProcess } from '@meteorites/test-utils/worker';
import { type Redis, keys, JobQueue, type Job } from '@meteorites/shared';

const POLL = { timeout: 20_000, interval: 50 };

interface Scenario {
  redis: TestRedis;
  r: Redis;
  q: JobQueue;
  workers: WorkerProcess[];
  job(id: string): Promise<Job>;
  sleepJob(steps: number, stepMs: number, extra?: Record<string, unknown>): Promise<Job>;
  results(): Promise<number>;
}

/** Every Redis started here, closed after the suite even when starting the workers failed. */
const started: TestRedis[] = [];

async function scenario(workerEnvs: Record<string, string>[], redisArgs: string[] = []): Promise<Scenario> {
  const redis = await startRedis({ extraArgs: redisArgs });
  started.push(redis);
  const r = await redis.client();
  const q = new JobQueue(r);
  const workers = await Promise.all(workerEnvs.map((env) => spawnWorker(redis.url, env)));
  return {
    redis,
    r,
    q,
    workers,
    job: async (id) => (await q.get(id))!,
    sleepJob: async (steps, stepMs, extra = {}) => (await q.enqueue('test-sleep', { steps, step_ms: stepMs, ...extra })).job,
    results: async () => (await r.keys('result:*')).length,
  };
}

describe('worker processes', () => {
  let basic: Scenario;
  let crash: Scenario;
  let lost: Scenario;
  let drain: Scenario;
  let handBack: Scenario;
  let unsafe: Scenario;
  let outage: Scenario;

  beforeAll(async () => {
    [basic, crash, lost, drain, handBack, unsafe, outage] = await Promise.all([
      scenario([{ JOB_TIMEOUT_MS: '2000' }]),
      scenario([{ WORKER_CONCURRENCY: '1' }, { WORKER_CONCURRENCY: '1' }]),
      scenario([
        { WORKER_CONCURRENCY: '1', JOB_MAX_ATTEMPTS: '1' },
        { WORKER_CONCURRENCY: '1', JOB_MAX_ATTEMPTS: '1' },
      ]),
      scenario([{ WORKER_SHUTDOWN_GRACE_MS: '10000' }]),
      scenario([{ WORKER_SHUTDOWN_GRACE_MS: '300' }]),
      scenario([{}], ['--maxmemory-policy', 'allkeys-lru', '--appendonly', 'no', '--save', '']),
      scenario([{ WORKER_CONCURRENCY: '1' }]),
    ]);
  });
  afterAll(async () => {
    await killAllWorkers();
    await Promise.all(started.map((redis) => redis.close()));
  });

  it('runs a job to its result, which names the dataset version', async () => {
    const s = basic;
    const { id } = await s.sleepJob(2, 10);
    await expect.poll(async () => (await s.job(id)).status, POLL).toBe('finished');
    expect(await s.job(id)).toMatchObject({ attempts: 1, progress: 1, dataset_version: 0, error: null });
    expect(JSON.parse((await s.r.get(keys.result(id)))!)).toMatchObject({ analysis: 'test-sleep', dataset_version: 0, records: 0 });
    const ended = await s.workers[0]!.waitForLog((l) => l.msg === 'job ended' && l.job === id);
    expect(ended).toMatchObject({ status: 'finished', attempt: 1, level: 30 });
  });

  it('a worker killed mid-job: another worker finishes it, attempt 2, exactly one result', async () => {
    const s = crash;
    const { id } = await s.sleepJob(20, 100);
    await expect.poll(async () => (await s.job(id)).status, POLL).toBe('running');
    const runner = await s.r.hGet(keys.job(id), 'worker');
    const dies = s.workers.find((w) => w.id === runner)!;
    const lives = s.workers.find((w) => w.id !== runner)!;
    await dies.kill();
    await expect.poll(async () => (await s.job(id)).status, POLL).toBe('finished');
    expect(await s.job(id)).toMatchObject({ attempts: 2 });
    expect(await s.r.hGet(keys.job(id), 'worker')).toBe(lives.id);
    expect(await s.results()).toBe(1);
    // Recovery also dropped the dead worker's processing list and heartbeat.
    await expect.poll(() => s.r.exists(keys.processing(dies.id)), POLL).toBe(0);
    expect(await s.r.zScore(keys.jobsWorkers, dies.id)).toBeNull();
    expect(await s.r.zCard(keys.jobsLeases)).toBe(0);
  });

  it('fails a job with "worker lost" once its worker died JOB_MAX_ATTEMPTS times', async () => {
    const s = lost;
    const { id } = await s.sleepJob(100, 100);
    await expect.poll(async () => (await s.job(id)).status, POLL).toBe('running');
    const runner = await s.r.hGet(keys.job(id), 'worker');
    await s.workers.find((w) => w.id === runner)!.kill();
    await expect.poll(async () => (await s.job(id)).status, POLL).toBe('failed');
    expect(await s.job(id)).toMatchObject({ error: 'worker lost', attempts: 1 });
    expect(await s.results()).toBe(0);
  });

  it('SIGTERM lets a running job finish within the grace period and exits 0', async () => {
    const s = drain;
    const w = s.workers[0]!;
    const { id } = await s.sleepJob(8, 100);
    await expect.poll(async () => (await s.job(id)).status, POLL).toBe('running');
    expect((await w.stop()).code).toBe(0);
    expect(await s.job(id)).toMatchObject({ status: 'finished', attempts: 1 });
    expect(await s.r.exists(keys.processing(w.id))).toBe(0);
    expect(await s.r.zScore(keys.jobsWorkers, w.id)).toBeNull();
  });

  it('SIGTERM hands back a job that outlives the grace period, refunding its attempt', async () => {
    const s = handBack;
    const w = s.workers[0]!;
    const { id } = await s.sleepJob(30, 100);
    await expect.poll(async () => (await s.job(id)).status, POLL).toBe('running');
    const t0 = Date.now();
    expect((await w.stop()).code).toBe(0);
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(await s.job(id)).toMatchObject({ status: 'queued', attempts: 0, started_at: null, progress: 0 });
    expect(await s.r.lRange(keys.jobsQueue, 0, -1)).toEqual([id]);
    expect(await s.r.exists(keys.processing(w.id))).toBe(0);
    expect(await s.results()).toBe(0);
    expect(w.logs.some((l) => l.msg.startsWith('grace period over'))).toBe(true);
  });

  it('fails a job that runs past JOB_TIMEOUT_MS, and one whose analysis throws, with their messages', async () => {
    const s = basic;
    const slow = await s.sleepJob(40, 100);
    const broken = await s.sleepJob(1, 0, { fail: 'boom on purpose' });
    await expect.poll(async () => (await s.job(broken.id)).status, POLL).toBe('failed');
    expect(await s.job(broken.id)).toMatchObject({ error: 'boom on purpose', attempts: 1 });
    await expect.poll(async () => (await s.job(slow.id)).status, POLL).toBe('failed');
    expect(await s.job(slow.id)).toMatchObject({ error: 'timed out after 2000 ms', attempts: 1 });
    expect(await s.r.exists([keys.result(slow.id), keys.result(broken.id)])).toBe(0);
  });

  it('cancels a running job at its next checkpoint', async () => {
    const s = basic;
    const { id } = await s.sleepJob(100, 50, { tag: 'cancel' });
    await expect.poll(async () => (await s.job(id)).status, POLL).toBe('running');
    expect((await s.q.cancel(id))?.outcome).toBe('requested');
    const t0 = Date.now();
    await expect.poll(async () => (await s.job(id)).status, POLL).toBe('cancelled');
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(await s.r.exists(keys.result(id))).toBe(0);
  });

  it('keeps a job waiting, without spending attempts, while the dataset is loading', async () => {
    const s = basic;
    await s.r.hSet(keys.dataset, { version: '3', state: 'loading' });
    const { id } = await s.sleepJob(1, 0, { tag: 'loading' });
    await s.workers[0]!.waitForLog((l) => l.msg === 'job deferred' && l.job === id);
    expect(await s.job(id)).toMatchObject({ status: 'queued', attempts: 0 });
    await s.r.hSet(keys.dataset, { state: 'empty', version: '4' });
    await expect.poll(async () => (await s.job(id)).status, POLL).toBe('finished');
    expect(await s.job(id)).toMatchObject({ attempts: 1, dataset_version: 4 });
  });

  it('loses no job when Redis restarts mid-job: it runs again and ends with exactly one result', async (ctx) => {
    const s = outage;
    if (!s.redis.controllable) ctx.skip();
    const { id } = await s.sleepJob(20, 100);
    const queued = await s.sleepJob(1, 0, { tag: 'queued behind it' });
    await expect.poll(async () => (await s.job(id)).status, POLL).toBe('running');
    await s.redis.stop();
    await new Promise((resolve) => setTimeout(resolve, 500));
    await s.redis.start();
    const r = await s.redis.client();
    const q = new JobQueue(r);
    await expect.poll(async () => (await q.get(id))?.status, POLL).toBe('finished');
    await expect.poll(async () => (await q.get(queued.id))?.status, POLL).toBe('finished');
    expect((await q.get(id))!.attempts).toBeGreaterThanOrEqual(1);
    expect((await r.keys('result:*')).length).toBe(2);
    expect(await r.zCard(keys.jobsLeases)).toBe(0);
  });

  it('warns at startup when Redis may evict keys or does not persist, and not otherwise', async () => {
    const warnings = (w: WorkerProcess) => w.logs.filter((l) => l.level === 40).map((l) => l.msg);
    expect(warnings(basic.workers[0]!).filter((m) => /noeviction|persistence/.test(m))).toEqual([]);
    const w = unsafe.workers[0]!;
    expect(warnings(w).some((m) => m.includes('maxmemory-policy is not noeviction'))).toBe(true);
    expect(warnings(w).some((m) => m.includes('persistence is off'))).toBe(true);
  });
});
