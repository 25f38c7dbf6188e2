/**
 * Claiming ahead (WORKER_PREFETCH_BELOW_MS), with the worker engine in this process against a real
 * Redis: while jobs run short a worker holds more jobs than it runs, never runs more than
 * WORKER_CONCURRENCY at once, and hands back a job that waits too long behind a long one, so that
 * another worker runs it; shutdown hands back what waits without spending its attempt.
 */
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { startRedis, type TestRedis } from '@meteorites/test-utils/redis';
import { type Redis, loadConfig, keys, JobQueue } from '@meteorites/shared';
import { Worker, type JobHandler } from '@meteorites/worker';

const POLL = { timeout: 10_000, interval: 20 };

describe('claiming ahead', () => {
  let redis: TestRedis;
  let r: Redis;
  let q: JobQueue;
  const workers: Worker[] = [];

  beforeAll(async () => {
    redis = await startRedis();
    r = await redis.client();
    q = new JobQueue(r);
  });
  afterAll(async () => {
    await Promise.all(workers.map((w) => w.close()));
    await redis?.close();
  });
  beforeEach(async () => {
    await Promise.all(workers.splice(0).map((w) => w.close()));
    await r.flushAll();
  });

  /** A worker in this process; its log lines are collected. */
  function worker(env: Record<string, string>, handler: JobHandler) {
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
        done();
      },
    });
    const w = new Worker({
      config: loadConfig({ REDIS_URL: redis.url, WORKER_SHUTDOWN_GRACE_MS: '5000', ...env }),
      logger: pino({ level: 'debug' }, sink),
      handler: () => handler,
    });
    workers.push(w);
    return { w, lines };
  }

  const done = (result: unknown = {}) => ({ result: JSON.stringify(result), datasetVersion: 0 });
  const enqueue = async (params: Record<string, unknown>) => (await q.enqueue('noop', params)).job.id;
  const status = async (id: string) => (await q.get(id))!;

  it('holds more jobs than it runs while they are short, and never runs more than WORKER_CONCURRENCY at once', async () => {
    let runs = 0;
    let maxRuns = 0;
    let maxLeased = 0;
    let executions = 0;
    const { w } = worker({ WORKER_CONCURRENCY: '2', WORKER_PREFETCH_BELOW_MS: '1000' }, async ({ job }) => {
      executions++;
      maxRuns = Math.max(maxRuns, ++runs);
      // Every running and claimed-ahead job holds a lease.
      if (Number(job.params.i) % 10 === 5) maxLeased = Math.max(maxLeased, await r.zCard(keys.jobsLeases));
      await sleep(1);
      runs--;
      return done({ i: job.params.i });
    });
    const ids = [];
    for (let i = 0; i < 200; i++) ids.push(await enqueue({ i }));
    await w.start();
    await expect.poll(async () => r.zCard(keys.jobsByStatus('finished')), POLL).toBe(200);
    expect(maxRuns).toBe(2);
    expect(maxLeased).toBeGreaterThan(2);
    expect(executions).toBe(200);
    const jobs = await Promise.all(ids.map(status));
    expect(jobs.every((j) => j.status === 'finished' && j.attempts === 1)).toBe(true);
    expect(JSON.parse((await r.get(keys.result(ids[77]!)))!)).toEqual({ i: 77 });
    expect(await r.zCard(keys.jobsLeases)).toBe(0);
  });

  it('hands back a job that waited too long behind a long one, and another worker runs it first', async () => {
    let longEnded = 0;
    const handler: JobHandler = async ({ job }) => {
      if (job.params.long) {
        await sleep(1500);
        longEnded = Date.now();
      }
      return done();
    };
    const a = worker({ WORKER_CONCURRENCY: '1', WORKER_PREFETCH_BELOW_MS: '50' }, handler);
    for (let i = 0; i < 20; i++) await enqueue({ i });
    const long = await enqueue({ long: true });
    const behind = await enqueue({ behind: true });
    await a.w.start();
    await expect.poll(async () => (await status(long)).status, POLL).toBe('running');
    // The first worker claimed it ahead, then put it back: its claim spent no attempt.
    await expect.poll(() => a.lines.some((l) => (l.jobs as string[] | undefined)?.includes(behind)), POLL).toBe(true);
    await expect.poll(async () => (await status(behind)).status, POLL).toBe('queued');
    expect((await status(behind)).attempts).toBe(0);
    expect(await r.lRange(keys.processing(a.w.id), 0, -1)).toEqual([long]);
    // Running long, the first worker does not claim ahead again: the job waits in the queue.
    await sleep(200);
    expect((await status(behind)).status).toBe('queued');

    const b = worker({ WORKER_CONCURRENCY: '1' }, handler);
    await b.w.start();
    await expect.poll(async () => (await status(behind)).status, POLL).toBe('finished');
    expect(longEnded).toBe(0);
    expect(await status(behind)).toMatchObject({ attempts: 1 });
    await expect.poll(async () => (await status(long)).status, POLL).toBe('finished');
    expect(await status(long)).toMatchObject({ attempts: 1 });
  });

  it('on close, hands back the jobs claimed ahead without spending their attempts, and lets the running one finish', async () => {
    const { w } = worker({ WORKER_CONCURRENCY: '1', WORKER_PREFETCH_BELOW_MS: '60000' }, async ({ job }) => {
      if (job.params.long) await sleep(500);
      return done();
    });
    for (let i = 0; i < 20; i++) await enqueue({ i });
    const long = await enqueue({ long: true });
    const behind = await enqueue({ behind: true });
    await w.start();
    await expect.poll(async () => (await status(long)).status, POLL).toBe('running');
    await expect.poll(async () => (await status(behind)).status, POLL).toBe('running');
    expect((await status(behind)).attempts).toBe(1);
    await w.close();
    expect(await status(long)).toMatchObject({ status: 'finished', attempts: 1 });
    expect(await status(behind)).toMatchObject({ status: 'queued', attempts: 0, started_at: null });
    expect(await r.lRange(keys.jobsQueue, 0, -1)).toEqual([behind]);
    expect(await r.exists(keys.processing(w.id))).toBe(0);
    expect(await r.zCard(keys.jobsLeases)).toBe(0);
  });

  it('with WORKER_PREFETCH_BELOW_MS=0 holds no more jobs than it runs', async () => {
    let maxLeased = 0;
    const { w } = worker({ WORKER_CONCURRENCY: '2', WORKER_PREFETCH_BELOW_MS: '0' }, async () => {
      maxLeased = Math.max(maxLeased, await r.zCard(keys.jobsLeases));
      return done();
    });
    for (let i = 0; i < 60; i++) await enqueue({ i });
    await w.start();
    await expect.poll(async () => r.zCard(keys.jobsByStatus('finished')), POLL).toBe(60);
    expect(maxLeased).toBe(2);
  });
});
