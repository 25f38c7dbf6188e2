/**
 * An id in a processing list whose job is still `queued`: a worker moved it there (BLMOVE) and
 * never started it. If that worker died after recovery had already dropped its heartbeat, or it
 * lives on but its start call and the sweep after it failed, nothing else will ever look at the
 * id; periodic sweeps must: recovery scans every processing list (dead workers), each worker its
 * own. The states are made as a worker would leave them, with real worker processes around.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, type TestRedis } from '@meteorites/test-utils/redis';
import { killAllWorkers, spawnWorker, type WorkerProcess } from '@meteorites/test-utils/worker';
import { type Redis, keys, JobQueue } from '@meteorites/shared';

/** Long leases: nothing here is rescued by a lease running out. */
const WORKER_ENV = { JOB_LEASE_MS: '60000', JOB_RECOVERY_INTERVAL_MS: '200' };
const POLL = { timeout: 30_000, interval: 100 };

describe('faults: an id left queued in a processing list', () => {
  let redis: TestRedis;
  let r: Redis;
  let q: JobQueue;
  let worker: WorkerProcess;

  beforeAll(async () => {
    redis = await startRedis();
    r = await redis.client();
    q = new JobQueue(r);
    worker = await spawnWorker(redis.url, WORKER_ENV, { bundled: true });
  });
  afterAll(async () => {
    await killAllWorkers();
    await redis?.close();
  });

  /** Enqueues a job while the worker is stopped (SIGSTOP), moves it into `owner`'s list as BLMOVE would, then lets the worker go on. */
  async function strand(owner: () => string, tag: string): Promise<string> {
    process.kill(worker.pid, 'SIGSTOP');
    try {
      // The blocking claim it had on its way ends (empty) in Redis meanwhile, so it cannot take the job.
      await sleep(1500);
      const { job } = await q.enqueue('test-sleep', { steps: 1, step_ms: 10, tag });
      expect(await r.lMove(keys.jobsQueue, keys.processing(owner()), 'RIGHT', 'LEFT')).toBe(job.id);
      return job.id;
    } finally {
      process.kill(worker.pid, 'SIGCONT');
    }
  }

  it('of a dead worker whose heartbeat is already gone: recovery finds it and the job runs', async () => {
    const id = await strand(() => 'gone-worker', 'dead owner');
    expect(await r.zScore(keys.jobsWorkers, 'gone-worker')).toBeNull();
    await expect.poll(async () => (await q.get(id))!.status, POLL).toBe('finished');
    expect((await q.get(id))!.attempts).toBe(1);
    expect(await r.exists(keys.processing('gone-worker'))).toBe(0);
  });

  it('of a live worker (its own list): its own sweep finds it and the job runs', async () => {
    const id = await strand(() => worker.id, 'live owner');
    await expect.poll(async () => (await q.get(id))!.status, POLL).toBe('finished');
    expect((await q.get(id))!.attempts).toBe(1);
    expect(await r.lRange(keys.processing(worker.id), 0, -1)).toEqual([]);
  });
});
