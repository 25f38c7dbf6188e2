/**
 * Ended jobs do not pile up: their keys and every index and dedup entry that names them go by
 * age (RESULT_TTL_SECONDS, JOB_RETENTION_SECONDS) and by count (JOB_RETENTION_COUNT), pruned by
 * the settle script and by the workers' recovery passes. First the queue driven directly, then
 * the whole service: 2,000 jobs through the API and a real worker with RESULT_TTL_SECONDS=1.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startRedis, type TestRedis } from '@meteorites/test-utils/redis';
import { buildTestApp } from '@meteorites/test-utils/app';
import { killAllWorkers, spawnWorker } from '@meteorites/test-utils/worker';
import type { App } from '@meteorites/api';
import { type Redis, keys, columnsFromRecords, type Job, JobQueue, WorkerQueue } from '@meteorites/shared';
import { storeDataset } from '@meteorites/dataset';

const LEASE = 60_000;

/** Queues n distinct jobs; their ids in order. */
async function enqueueMany(q: JobQueue, n: number, tag: string): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i += 100) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(100, n - i) }, (_, k) => q.enqueue('test-sleep', { tag: `${tag} ${i + k}` })),
    );
    out.push(...batch.map((b) => b.job.id));
  }
  return out;
}

/** Claims and finishes every queued job, 50 a step, as a worker would. */
async function finishAll(q: WorkerQueue, worker: string): Promise<number> {
  let done = 0;
  for (;;) {
    const held = await q.claim(worker, LEASE, 50);
    if (held.length === 0) return done;
    const res = await q.settle(
      worker,
      held.map((job) => ({ job, settlement: { status: 'finished' as const, result: '{}', datasetVersion: 0 } })),
    );
    expect(res.outcomes.filter((o) => o !== 'finished')).toEqual([]);
    done += held.length;
  }
}

describe('retention of ended jobs (the queue driven directly)', () => {
  let redis: TestRedis;
  let r: Redis;

  beforeAll(async () => {
    redis = await startRedis();
    r = await redis.client();
  });
  afterAll(async () => {
    await redis?.close();
  });
  beforeEach(async () => {
    await r.flushAll();
  });

  const entries = async () => ({
    all: await r.zCard(keys.jobsAll),
    finished: await r.zCard(keys.jobsByStatus('finished')),
    dedup: await r.hLen(keys.jobsDedup),
  });

  it('RESULT_TTL_SECONDS=1: once 500 finished jobs expired, the next settle leaves no index or dedup entry of theirs', async () => {
    const q = new JobQueue(r, { resultTtlSeconds: 1 });
    const w = new WorkerQueue(r, { resultTtlSeconds: 1 });
    const ids = await enqueueMany(q, 500, 'ttl');
    expect(await finishAll(w, 'w1')).toBe(500);
    expect(await entries()).toEqual({ all: 500, finished: 500, dedup: 500 });
    // The TTL is the point of the test: wait until the last job's keys have expired.
    await expect.poll(() => r.exists([keys.job(ids.at(-1)!), keys.result(ids.at(-1)!)]), { timeout: 10_000, interval: 100 }).toBe(0);

    const [last] = await enqueueMany(q, 1, 'one more');
    expect(await finishAll(w, 'w1')).toBe(1);
    expect(await entries()).toEqual({ all: 1, finished: 1, dedup: 1 });
    expect(await r.zRange(keys.jobsAll, 0, -1)).toEqual([last]);
  });

  it('JOB_RETENTION_COUNT: keeps the newest ended jobs, and their keys and dedup entries only', async () => {
    const q = new JobQueue(r, { retentionCount: 100 });
    const w = new WorkerQueue(r, { retentionCount: 100 });
    const ids = await enqueueMany(q, 300, 'count');
    for (const id of ids.slice(0, 3)) await r.set(keys.chart(id, 'svg'), '<svg/>');
    expect(await finishAll(w, 'w1')).toBe(300);
    expect(await entries()).toEqual({ all: 100, finished: 100, dedup: 100 });
    expect((await r.zRange(keys.jobsAll, 0, -1)).sort()).toEqual(ids.slice(200).sort());
    expect(await r.exists(ids.slice(0, 200).flatMap((id) => [keys.job(id), keys.result(id)]))).toBe(0);
    expect(await r.exists(ids.slice(0, 3).map((id) => keys.chart(id, 'svg')))).toBe(0);
    expect(await r.exists(ids.slice(200).flatMap((id) => [keys.job(id), keys.result(id)]))).toBe(200);
    // An old request is computed afresh, a recent one is answered by its job.
    expect((await q.enqueue('test-sleep', { tag: 'count 0' })).deduplicated).toBe(false);
    expect(await q.enqueue('test-sleep', { tag: 'count 299' })).toMatchObject({ deduplicated: true, job: { id: ids[299] } });
  });

  it('JOB_RETENTION_SECONDS: ended jobs without a TTL of their own go by age, also while no job settles (recovery prunes)', async () => {
    const q = new JobQueue(r, { retentionSeconds: 1 });
    const w = new WorkerQueue(r, { retentionSeconds: 1 });
    const ids = await enqueueMany(q, 20, 'age');
    expect(await finishAll(w, 'w1')).toBe(20);
    const cancelled = (await q.enqueue('test-sleep', { tag: 'cancelled' })).job.id;
    await q.cancel(cancelled);
    expect(await r.ttl(keys.job(ids[0]!))).toBe(-1);
    expect((await entries()).all).toBe(21);
    // Nothing settles from here on: the recovery pass, which every worker runs, prunes.
    await expect.poll(async () => (await w.recover(3), r.zCard(keys.jobsAll)), { timeout: 15_000, interval: 200 }).toBe(0);
    expect(await entries()).toEqual({ all: 0, finished: 0, dedup: 0 });
    expect(await r.zCard(keys.jobsByStatus('cancelled'))).toBe(0);
    expect(await r.exists([...ids, cancelled].flatMap((id) => [keys.job(id), keys.result(id)]))).toBe(0);
  });

  it('what an older version left in the ended zset is moved into the list in order and pruned from there', async () => {
    const q = new JobQueue(r, { retentionCount: 3 });
    const w = new WorkerQueue(r, { retentionCount: 3 });
    const ids = await enqueueMany(q, 5, 'legacy');
    const older = new WorkerQueue(r);
    expect(await finishAll(older, 'w1')).toBe(5);
    // As the zset version kept them: <id>:<digest> scored by the ms they ended.
    const log = await r.lRange(keys.jobsEnded, 0, -1);
    await r.del(keys.jobsEnded);
    await r.zAdd(
      keys.jobsEndedLegacy,
      log.map((e, i) => ({ score: Number(e.split(':')[0]) + i, value: e.slice(e.indexOf(':') + 1) })),
    );
    expect(await w.prune()).toBe(2);
    expect(await r.exists(keys.jobsEndedLegacy)).toBe(0);
    expect((await r.lRange(keys.jobsEnded, 0, -1)).map((e) => e.split(':')[1])).toEqual(ids.slice(2));
    expect((await r.zRange(keys.jobsAll, 0, -1)).sort()).toEqual(ids.slice(2).sort());
    expect(await r.exists(ids.slice(0, 2).map((id) => keys.job(id)))).toBe(0);
  });
});

/**
 * Every key but the dataset's, each counted once, and the entries of the queue's collections and
 * counters (`jobs:*`, `metrics:*`: members, fields, items). A job's or a result's own fields are
 * not entries: each such key counts once.
 */
async function footprint(r: Redis): Promise<{ total: number; byKey: Record<string, number> }> {
  const byKey: Record<string, number> = {};
  for await (const batch of r.scanIterator({ COUNT: 1000 })) {
    for (const key of batch) {
      if (/^(meteorite:|meteorites:|dataset$|dataset:)/.test(key)) continue;
      let entries = 0;
      if (/^(jobs|metrics):/.test(key)) {
        const type = await r.type(key);
        entries =
          type === 'zset'
            ? await r.zCard(key)
            : type === 'hash'
              ? await r.hLen(key)
              : type === 'list'
                ? await r.lLen(key)
                : type === 'set'
                  ? await r.sCard(key)
                  : 0;
      }
      byKey[key] = 1 + entries;
    }
  }
  return { total: Object.values(byKey).reduce((a, b) => a + b, 0), byKey };
}

/** "A few dozen": the one job left, its indexes, the counters and the histogram of one analysis. */
const FEW_DOZEN = 36;

describe('retention end to end: 2,000 jobs with RESULT_TTL_SECONDS=1', () => {
  let redis: TestRedis;
  let app: App;
  let r: Redis;

  beforeAll(async () => {
    redis = await startRedis();
    r = await redis.client();
    app = await buildTestApp(redis.url, { ENABLE_TEST_ANALYSES: true, RESULT_TTL_SECONDS: 1 });
  });
  afterAll(async () => {
    await killAllWorkers();
    await app?.close();
    await redis?.close();
  });

  it('leaves no more than a few dozen keys and index entries beyond the dataset once the jobs expired and one more job ran', async () => {
    const records = Array.from({ length: 5 }, (_, i) => ({
      id: String(i + 1),
      name: `L${i + 1}`,
      recclass: 'L5',
      mass_g: 10 * (i + 1),
      year: 1900 + i,
    }));
    await storeDataset(r, { columns: columnsFromRecords(records), skipped: [] }, { source: 'five' });
    await spawnWorker(redis.url, { RESULT_TTL_SECONDS: '1', WORKER_CONCURRENCY: '4', JOB_RECOVERY_INTERVAL_MS: '500' }, { bundled: true });
    const post = (tag: string) =>
      app.inject({ method: 'POST', url: '/jobs', payload: { analysis: 'test-sleep', params: { steps: 1, step_ms: 0, tag } } });

    const JOBS = 2000;
    let accepted = 0;
    for (let i = 0; i < JOBS; i += 100) {
      const replies = await Promise.all(Array.from({ length: 100 }, (_, k) => post(`job ${i + k}`)));
      for (const res of replies) expect(res.statusCode, res.body).toBe(202);
      accepted += replies.length;
    }
    expect(accepted).toBe(JOBS);
    await expect.poll(async () => sumBuckets(await r.hGetAll(keys.jobDurations)), { timeout: 120_000, interval: 500 }).toBe(JOBS);

    // The jobs expire a second after they ended; the workers' recovery passes prune what names them.
    await expect.poll(async () => (await footprint(r)).total, { timeout: 60_000, interval: 500 }).toBeLessThanOrEqual(FEW_DOZEN);
    const one = await post('one more');
    expect(one.statusCode).toBe(202);
    expect((await app.inject(`/jobs/${one.json<Job>().id}?wait=30`)).json<Job>().status).toBe('finished');
    const after = await footprint(r);
    console.log(
      `retention: after ${JOBS + 1} jobs with RESULT_TTL_SECONDS=1, ${after.total} keys and entries beyond the dataset: ${JSON.stringify(after.byKey)}`,
    );
    expect(after.total, JSON.stringify(after.byKey)).toBeLessThanOrEqual(FEW_DOZEN);
    expect(await r.zCard(keys.jobsAll)).toBeLessThanOrEqual(2);
    expect(await r.hLen(keys.jobsDedup)).toBeLessThanOrEqual(2);
  });
});

/** Finished jobs counted by the duration histogram: its buckets' total. */
function sumBuckets(h: Record<string, string>): number {
  let n = 0;
  for (const [field, v] of Object.entries(h)) if (field.startsWith('test-sleep:') && field !== 'test-sleep:sum_ms') n += Number(v);
  return n;
}
