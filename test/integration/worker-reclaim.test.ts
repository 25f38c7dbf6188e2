/**
 * A job claimed ahead, handed back stale and claimed again by the same worker must keep its
 * lease: the completion of the hand-back must not forget the new claim. The worker runs in this
 * process against a real Redis, which is paused (SIGSTOP) while the hand-back is on its way, so
 * that its reply and the reply of the settle that claims the job again reach the worker in one
 * socket read, as they do on a busy server.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, type TestRedis } from '@meteorites/test-utils/redis';
import { type Redis, loadConfig, keys, JobQueue } from '@meteorites/shared';
import { Worker, type JobHandler } from '@meteorites/worker';
import { logSink } from '@meteorites/test-utils/log-sink';

describe('a job handed back and claimed again in the same read', () => {
  let redis: TestRedis;
  let r: Redis;
  let q: JobQueue;
  let worker: Worker | undefined;

  beforeAll(async () => {
    redis = await startRedis();
    r = await redis.client();
    q = new JobQueue(r);
  });
  afterAll(async () => {
    await worker?.close();
    await redis?.close();
  });

  it('keeps its lease: it runs once, with one attempt', async () => {
    const pid = Number(/process_id:(\d+)/.exec(await r.info('server'))![1]);
    const runs = new Map<string, number>();
    let openGate!: () => void;
    const gate = new Promise<void>((resolve) => (openGate = resolve));
    const handler: JobHandler = async ({ job }) => {
      const tag = String(job.params.tag);
      runs.set(tag, (runs.get(tag) ?? 0) + 1);
      if (tag === 'gate') {
        // Redis pauses: the hand-back of `long`, held ahead behind this job, waits in the socket.
        process.kill(pid, 'SIGSTOP');
        await gate;
      }
      if (tag === 'long') await sleep(2500);
      return { result: '{}', datasetVersion: 0 };
    };
    const { logger, lines } = logSink('debug');
    worker = new Worker({
      config: loadConfig({
        REDIS_URL: redis.url,
        WORKER_CONCURRENCY: '1',
        WORKER_PREFETCH_BELOW_MS: '50',
        JOB_LEASE_MS: '1000',
        JOB_RECOVERY_INTERVAL_MS: '200',
      }),
      logger,
      handler: () => handler,
    });
    // Short jobs first, so that the worker claims ahead; then the gate, which the slot runs until
    // the test opens it, and a long job held ahead behind it.
    for (let i = 0; i < 12; i++) await q.enqueue('test-sleep', { tag: `short ${i}` });
    const ids: Record<string, string> = {};
    for (const tag of ['gate', 'long']) ids[tag] = (await q.enqueue('test-sleep', { tag })).job.id;
    await worker.start();
    try {
      // `long` waited too long and is handed back while Redis is paused; then the gate's settle
      // (which claims for the slot it frees) goes out behind it, and takes it again.
      const handedBack = () =>
        lines.some((l) => l.msg === 'jobs claimed ahead waited too long: handed back' && (l.jobs as string[]).includes(ids.long!));
      await expect.poll(handedBack, { timeout: 10_000 }).toBe(true);
      openGate();
      await sleep(100);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    await expect.poll(async () => r.zCard(keys.jobsByStatus('finished')), { timeout: 20_000, interval: 100 }).toBe(14);
    const long = (await q.get(ids.long!))!;
    expect({ runs: runs.get('long'), attempts: long.attempts }).toEqual({ runs: 1, attempts: 1 });
    expect(lines.filter((l) => l.msg === 'recovered jobs of lost workers')).toEqual([]);
  });
});
