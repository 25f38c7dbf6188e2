/**
 * Network faults between a worker process and Redis, injected for real by a TCP proxy
 * (test/support/tcp-proxy.ts): a reply lost after Redis ran the script, and a connection that goes
 * silent without closing (half-open). Leases are long here (60 s), so that nothing in these tests
 * is rescued by a lease running out: the worker itself must notice, hand back what it cannot
 * know about, and go on.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, type TestRedis } from '@meteorites/test-utils/redis';
import { startTcpProxy, type TcpProxy } from '@meteorites/test-utils/tcp-proxy';
import { killAllWorkers, spawnWorker, type WorkerProcess } from '@meteorites/test-utils/worker';
import { type Redis, keys, JobQueue, queueScripts as scripts, type LuaScript } from '@meteorites/shared';

/** Far longer than any wait below: a job back in the queue before this came back through the worker, not a lease. */
const WORKER_ENV = { JOB_LEASE_MS: '60000', WORKER_PREFETCH_BELOW_MS: '0', REDIS_COMMAND_TIMEOUT_MS: '1000', LOG_LEVEL: 'debug' };
const POLL = { timeout: 20_000, interval: 100 };

/**
 * A call of the script: EVALSHA, or the EVAL the loader sends once when Redis does not know the
 * script yet (the proxy shows a command's first 200 characters of each argument).
 */
const called = (s: LuaScript) => new RegExp(`^(EVALSHA ${s.sha}|EVAL ${s.source.slice(0, 80).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')})`);

describe('faults: the network between a worker and Redis', () => {
  let redis: TestRedis;
  let r: Redis;
  let q: JobQueue;
  const proxies: TcpProxy[] = [];

  beforeAll(async () => {
    redis = await startRedis();
    r = await redis.client();
    q = new JobQueue(r);
  });
  afterAll(async () => {
    await killAllWorkers();
    await Promise.all(proxies.map((p) => p.close()));
    await redis?.close();
  });

  async function proxiedWorker(env: Record<string, string> = {}): Promise<{ proxy: TcpProxy; worker: WorkerProcess }> {
    const proxy = await startTcpProxy(redis.url);
    proxies.push(proxy);
    const worker = await spawnWorker(proxy.url, { ...WORKER_ENV, ...env }, { bundled: true });
    return { proxy, worker };
  }
  const sleepJob = async (tag: string, steps = 2, stepMs = 20) => (await q.enqueue('test-sleep', { steps, step_ms: stepMs, tag })).job.id;
  const runsOf = (w: WorkerProcess, id: string) => w.logs.filter((l) => l.msg === 'job started' && l.job === id).length;
  /**
   * Ran exactly once, by its log. The job's end in Redis can reach this process before the worker's
   * log lines do (two pipes, read in no fixed order), so its 'job started' line is waited for first.
   */
  const expectOneRun = async (w: WorkerProcess, id: string) => {
    await expect.poll(() => runsOf(w, id), POLL).toBeGreaterThanOrEqual(1);
    expect(runsOf(w, id)).toBe(1);
  };

  it('a lost reply to a claim: the job it started goes back at once, its attempt refunded, and runs once', async () => {
    const { proxy, worker } = await proxiedWorker();
    // A claim that started the job (its reply names it), not an idle one that found nothing.
    const swallowed = proxy.swallowReply({ match: called(scripts.claim), reply: /lost claim/, then: 'close' });
    const id = await sleepJob('lost claim');
    await swallowed;
    await expect.poll(async () => (await q.get(id))!.status, POLL).toBe('finished');
    expect((await q.get(id))!.attempts).toBe(1);
    await expectOneRun(worker, id);
    await worker.stop();
  });

  it('a lost reply to a settle that claimed more: those jobs go back at once and each runs once', async () => {
    const { proxy, worker } = await proxiedWorker({ WORKER_CONCURRENCY: '2' });
    // A settle whose reply carries jobs it claimed.
    const swallowed = proxy.swallowReply({ match: called(scripts.settle), reply: /lost settle/, then: 'close' });
    const ids = await Promise.all(Array.from({ length: 8 }, (_, i) => sleepJob(`lost settle ${i}`)));
    await swallowed;
    await expect.poll(async () => r.zCard(keys.jobsByStatus('finished')), POLL).toBeGreaterThanOrEqual(ids.length);
    const jobs = await Promise.all(ids.map(async (id) => (await q.get(id))!));
    expect(jobs.map((j) => [j.status, j.attempts, runsOf(worker, j.id)])).toEqual(ids.map(() => ['finished', 1, 1]));
    await worker.stop();
  });

  it('a connection that stalls for a few seconds: the run goes on through failed progress writes and finishes once', async () => {
    const { proxy, worker } = await proxiedWorker({ WORKER_CONCURRENCY: '1' });
    const id = await sleepJob('stall', 30, 100);
    await expect.poll(async () => Number((await q.get(id))!.progress), POLL).toBeGreaterThan(0);
    proxy.silence();
    // Long enough for calls to time out (the periodic sweep's among them, one after the other), progress writes too.
    const failedSweeps = () => worker.logs.filter((l) => l.msg === 'sweep of the processing list failed').length;
    await expect.poll(failedSweeps, { timeout: 15_000, interval: 100 }).toBeGreaterThanOrEqual(3);
    proxy.resume();
    await expect.poll(async () => (await q.get(id))!.status, POLL).toBe('finished');
    expect((await q.get(id))!.attempts).toBe(1);
    await expectOneRun(worker, id);
    await worker.stop();
  });

  it('connections gone half-open: the worker replaces them and goes on working', async () => {
    const { proxy, worker } = await proxiedWorker({ WORKER_CONCURRENCY: '1' });
    const before = await sleepJob('before half-open');
    await expect.poll(async () => (await q.get(before))!.status, POLL).toBe('finished');
    proxy.silence({ existingOnly: true });
    const after = await sleepJob('after half-open');
    await expect.poll(async () => (await q.get(after))!.status, POLL).toBe('finished');
    expect((await q.get(after))!.attempts).toBe(1);
    await expectOneRun(worker, after);
    await worker.stop();
    proxy.resume();
  });

  it('a half-open connection: calls time out instead of hanging, SIGTERM still ends the worker, and the job finishes once', async () => {
    const { proxy, worker } = await proxiedWorker({ WORKER_CONCURRENCY: '1', WORKER_SHUTDOWN_GRACE_MS: '1000' });
    const id = await sleepJob('half-open', 10, 100);
    await expect.poll(async () => Number((await q.get(id))!.progress), POLL).toBeGreaterThan(0);
    proxy.silence();
    const stopped = worker.stop();
    const exit = await Promise.race([stopped, new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 20_000).unref())]);
    expect(exit).not.toBe('hung');
    // Another worker, straight to Redis, takes it over once its lease is taken back.
    await redis.client().then((c) => c.zAdd(keys.jobsLeases, { score: 0, value: id }, { XX: true }));
    const other = await spawnWorker(redis.url, { JOB_RECOVERY_INTERVAL_MS: '200' }, { bundled: true });
    await expect.poll(async () => (await q.get(id))!.status, POLL).toBe('finished');
    expect(JSON.parse((await r.get(keys.result(id)))!)).toMatchObject({ analysis: 'test-sleep' });
    await other.stop();
    proxy.resume();
  });
});
