/**
 * Jobs a worker holds ahead (claimed, leased, waiting for a slot) when it is SIGKILLed never
 * started: recovery gives them back without charging an attempt. Only the runs the worker had
 * started (its "job started" log lines without a "job ended") may be charged, so a job that
 * crashes workers cannot make its neighbours in the queue fail "worker lost". A run counts as
 * started by its log line or its first write to Redis.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, type TestRedis } from '@meteorites/test-utils/redis';
import { killAllWorkers, spawnWorker } from '@meteorites/test-utils/worker';
import type { Redis } from '@meteorites/shared/redis';
import { keys } from '@meteorites/shared/keys';
import { JobQueue } from '@meteorites/shared/queue/index';

describe('faults: a worker killed while it holds jobs ahead', () => {
  let redis: TestRedis;
  let r: Redis;
  let q: JobQueue;

  beforeAll(async () => {
    redis = await startRedis();
    r = await redis.client();
    q = new JobQueue(r);
  });
  afterAll(async () => {
    await killAllWorkers();
    await redis?.close();
  });

  it('charges an attempt only to the jobs it had started', async () => {
    const worker = await spawnWorker(redis.url, { LOG_LEVEL: 'debug', WORKER_CONCURRENCY: '2', JOB_LEASE_MS: '1000', WORKER_PREFETCH_BELOW_MS: '200' }, { bundled: true });
    const ids = await Promise.all(Array.from({ length: 400 }, (_, i) => q.enqueue('test-sleep', { steps: 1, step_ms: 2, tag: `n ${i}` }).then((e) => e.job.id)));
    // Mid-stream, while it claims ahead.
    await expect.poll(async () => r.zCard(keys.jobsByStatus('finished')), { timeout: 30_000, interval: 20 }).toBeGreaterThanOrEqual(40);
    await worker.kill();
    const held = await r.lRange(keys.processing(worker.id), 0, -1);
    // A run's first write (test-sleep's begin: the dataset version) shows it started even when its
    // log line was lost with the process (pino writes asynchronously).
    const began = (await Promise.all(held.map(async (id) => ((await r.hGet(keys.job(id), 'dataset_version')) !== null ? id : null)))).filter(
      (id): id is string => id !== null,
    );
    // Its leases run out; recovery (run here: no other worker) takes the jobs back. Meanwhile the
    // last lines it wrote reach us (the exit can come before the pipe is read out).
    await sleep(1200);
    const ended = new Set(worker.logs.filter((l) => l.msg === 'job ended').map((l) => String(l.job)));
    const started = new Set([...began, ...worker.logs.filter((l) => l.msg === 'job started' && !ended.has(String(l.job))).map((l) => String(l.job))]);
    await expect.poll(async () => (await q.recover(3), r.zCard(keys.jobsLeases)), { timeout: 10_000, interval: 200 }).toBe(0);
    const jobs = await Promise.all(held.map(async (id) => (await q.get(id))!));
    const charged = jobs.filter((j) => j.status === 'queued' && j.attempts > 0).map((j) => j.id);
    console.log(`killed holding ${held.length} jobs, ${started.size} of them started; ${charged.length} charged an attempt`);
    expect(held.length).toBeGreaterThan(started.size);
    expect(charged.filter((id) => !started.has(id))).toEqual([]);
    // The rest of the work goes on: every job ends finished.
    await spawnWorker(redis.url, {}, { bundled: true });
    await expect.poll(async () => r.zCard(keys.jobsByStatus('finished')), { timeout: 60_000, interval: 200 }).toBe(ids.length);
  });
});
