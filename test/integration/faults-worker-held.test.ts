/**
 * Jobs a worker holds ahead (claimed, leased, waiting for a slot) when it is SIGKILLed never
 * started: recovery gives them back without charging an attempt. Only runs the worker had started
 * (shown by their "job started" log line or their first write to Redis) are charged, plus at most
 * one job per slot claimed for a free slot, which counts as started at its claim. So a poison job
 * that kills every worker that runs it ends failed, and its neighbours never fail "worker lost".
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, type TestRedis } from '@meteorites/test-utils/redis';
import { killAllWorkers, spawnWorker } from '@meteorites/test-utils/worker';
import { type Redis, keys, JobQueue, WorkerQueue } from '@meteorites/shared';

describe('faults: a worker killed while it holds jobs ahead', () => {
  let redis: TestRedis;
  let r: Redis;
  let q: JobQueue;
  let wq: WorkerQueue;

  beforeAll(async () => {
    redis = await startRedis();
    r = await redis.client();
    q = new JobQueue(r);
    wq = new WorkerQueue(r);
  });
  afterAll(async () => {
    await killAllWorkers();
    await redis?.close();
  });

  it('charges an attempt only to the jobs it had started', async () => {
    const worker = await spawnWorker(
      redis.url,
      { LOG_LEVEL: 'debug', WORKER_CONCURRENCY: '2', JOB_LEASE_MS: '1000', WORKER_PREFETCH_BELOW_MS: '200' },
      { bundled: true },
    );
    const ids = await Promise.all(
      Array.from({ length: 400 }, (_, i) => q.enqueue('test-sleep', { steps: 1, step_ms: 2, tag: `n ${i}` }).then((e) => e.job.id)),
    );
    // Mid-stream, while it claims ahead.
    await expect.poll(async () => r.zCard(keys.jobsByStatus('finished')), { timeout: 30_000, interval: 20 }).toBeGreaterThanOrEqual(40);
    await worker.kill();
    const held = await r.lRange(keys.processing(worker.id), 0, -1);
    // A run's first write (test-sleep's begin: the dataset version) shows it started even when its
    // log line was lost with the process (pino writes asynchronously).
    const began = (
      await Promise.all(held.map(async (id) => ((await r.hGet(keys.job(id), 'dataset_version')) !== null ? id : null)))
    ).filter((id): id is string => id !== null);
    // Its leases run out; recovery (run here: no other worker) takes the jobs back. Meanwhile the
    // last lines it wrote reach us (the exit can come before the pipe is read out).
    await sleep(1200);
    const ended = new Set(worker.logs.filter((l) => l.msg === 'job ended').map((l) => String(l.job)));
    const started = new Set([
      ...began,
      ...worker.logs.filter((l) => l.msg === 'job started' && !ended.has(String(l.job))).map((l) => String(l.job)),
    ]);
    await expect.poll(async () => (await wq.recover(3), r.zCard(keys.jobsLeases)), { timeout: 10_000, interval: 200 }).toBe(0);
    const jobs = await Promise.all(held.map(async (id) => (await q.get(id))!));
    const charged = jobs.filter((j) => j.status === 'queued' && j.attempts > 0).map((j) => j.id);
    console.log(`killed holding ${held.length} jobs, ${started.size} of them started; ${charged.length} charged an attempt`);
    expect(held.length).toBeGreaterThan(started.size + 2);
    // A job claimed for a free slot (not ahead) counts as started at its claim: at most one per
    // slot (WORKER_CONCURRENCY 2) may be charged before its run shows, in the log or in Redis.
    expect(charged.filter((id) => !started.has(id)).length).toBeLessThanOrEqual(2);
    // The rest of the work goes on: every job ends finished.
    await spawnWorker(redis.url, {}, { bundled: true });
    await expect.poll(async () => r.zCard(keys.jobsByStatus('finished')), { timeout: 60_000, interval: 200 }).toBe(ids.length);
  });

  it('a poison job that kills its workers ends failed, and its neighbours held with it are never charged', async () => {
    await killAllWorkers();
    await r.flushAll();
    // One slot: when the poison runs, every other job the worker holds is a neighbour that never started.
    const env = { WORKER_CONCURRENCY: '1', JOB_LEASE_MS: '1000', JOB_MAX_ATTEMPTS: '2', WORKER_PREFETCH_BELOW_MS: '200' };
    const params = Array.from({ length: 40 }, (_, i) => ({ steps: 1, step_ms: 2, tag: `neighbour ${i}` }));
    params.splice(20, 0, { steps: 50, step_ms: 20, tag: 'poison' });
    const ids = await Promise.all(params.map((p) => q.enqueue('test-sleep', p).then((e) => e.job.id)));
    const poison = ids[20]!;
    let kills = 0;
    // The poison "crashes" each worker that starts it: the test kills that worker once the start is written.
    while ((await q.get(poison))!.status !== 'failed') {
      if (kills > 6) throw new Error(`the poison job survived ${kills} crashes`);
      const w = await spawnWorker(redis.url, env, { bundled: true });
      await expect
        .poll(async () => (await r.hmGet(keys.job(poison), ['status', 'worker', 'started_at'])).join(' '), {
          timeout: 30_000,
          interval: 10,
        })
        .toMatch(new RegExp(`^running ${w.id} \\S+$`));
      await w.kill();
      kills++;
      await sleep(1100); // past its lease
      await expect.poll(async () => (await wq.recover(2), r.zCard(keys.jobsLeases)), { timeout: 10_000, interval: 100 }).toBe(0);
    }
    expect((await q.get(poison))!).toMatchObject({ status: 'failed', error: 'worker lost', attempts: 2 });
    await spawnWorker(redis.url, env, { bundled: true });
    const neighbours = ids.filter((id) => id !== poison);
    const ended = async () => (await r.zCard(keys.jobsByStatus('finished'))) + (await r.zCard(keys.jobsByStatus('failed'))) - 1;
    await expect.poll(ended, { timeout: 60_000, interval: 200 }).toBe(neighbours.length);
    const notFinished = (await Promise.all(neighbours.map(async (id) => (await q.get(id))!))).filter((j) => j.status !== 'finished');
    expect(notFinished.map((j) => `${j.params.tag}: ${j.status} ${j.error} after ${j.attempts} attempts`)).toEqual([]);
  });
});
