/**
 * The queue protocol step by step against a real Redis, driven directly (no worker process):
 * every transition, fencing of a worker whose lease was taken, recovery, cancel races, indexes.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { setTimeout as sleep } from 'node:timers/promises';
import { startRedis, type TestRedis } from '@meteorites/test-utils/redis';
import {
  type Redis,
  keys,
  InvalidCursorError,
  JobEvents,
  JobQueue,
  WorkerQueue,
  type ClaimedJob,
  type Settlement,
} from '@meteorites/shared';

const LEASE = 60_000;

describe('queue protocol', () => {
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
  beforeEach(async () => {
    await r.flushAll();
  });

  /** Where the status indexes have the job: running is read from the leases. */
  const statusSets = async (id: string) => {
    const found: string[] = [];
    for (const s of ['queued', 'finished', 'failed', 'cancelled']) {
      if ((await r.zScore(keys.jobsByStatus(s), id)) !== null) found.push(s);
    }
    if ((await r.zScore(keys.jobsLeases, id)) !== null) found.push('running');
    return found;
  };

  const claimOne = async (worker: string, leaseMs = LEASE): Promise<ClaimedJob> => {
    const [job] = await w.claim(worker, leaseMs);
    expect(job).toBeDefined();
    return job!;
  };
  const settle = async (worker: string, job: ClaimedJob, settlement: Settlement, next?: { leaseMs: number; count: number }) => {
    const r = await w.settle(worker, [{ job, settlement }], next);
    return { outcome: r.outcomes[0], next: r.next };
  };

  it('enqueues atomically and dedups on the canonical params and dataset version', async () => {
    const a = await q.enqueue('mass-by-year', { bin: 10 });
    expect(a.deduplicated).toBe(false);
    expect(a.job.status).toBe('queued');
    expect(await r.lRange(keys.jobsQueue, 0, -1)).toEqual([a.job.id]);
    expect(await statusSets(a.job.id)).toEqual(['queued']);
    expect(await r.zScore(keys.jobsAll, a.job.id)).not.toBeNull();
    expect(await q.get(a.job.id)).toEqual(a.job);

    const b = await q.enqueue('mass-by-year', { bin: 10 });
    expect(b).toMatchObject({ deduplicated: true, job: { id: a.job.id } });
    expect(await r.lLen(keys.jobsQueue)).toBe(1);

    expect((await q.enqueue('mass-by-year', { bin: 100 })).deduplicated).toBe(false);
    await r.hSet(keys.dataset, 'version', '7');
    const c = await q.enqueue('mass-by-year', { bin: 10 });
    expect(c.deduplicated).toBe(false);
    expect(c.job.id).not.toBe(a.job.id);
  });

  it('claims into the processing list, and settles only with the current token', async () => {
    const { job } = await q.enqueue('heaviest', { n: 3 });
    const held = await claimOne('w1');
    expect(held).toMatchObject({ id: job.id, attempts: 1, analysis: 'heaviest', params: { n: 3 } });
    expect(await r.lRange(keys.processing('w1'), 0, -1)).toEqual([job.id]);
    expect(await r.zScore(keys.jobsLeases, job.id)).not.toBeNull();
    expect(await statusSets(job.id)).toEqual(['running']);
    expect(await w.claim('w2', LEASE)).toEqual([]);

    const forged = { ...held, token: String(Number(held.token) + 1) };
    expect((await settle('w1', forged, { status: 'finished', result: '{"forged":1}', datasetVersion: 0 })).outcome).toBe('lost');
    expect(await r.exists(keys.result(job.id))).toBe(0);

    const done = await settle('w1', held, { status: 'finished', result: '{"ok":true}', datasetVersion: 0 });
    expect(done.outcome).toBe('finished');
    expect(await r.get(keys.result(job.id))).toBe('{"ok":true}');
    expect(await q.get(job.id)).toMatchObject({ status: 'finished', progress: 1, dataset_version: 0, attempts: 1 });
    expect(await r.lLen(keys.processing('w1'))).toBe(0);
    expect(await r.zCard(keys.jobsLeases)).toBe(0);
    expect(await statusSets(job.id)).toEqual(['finished']);
    // Settling twice is refused: the job is no longer running.
    expect((await settle('w1', held, { status: 'failed', error: 'late' })).outcome).toBe('lost');
  });

  it('settling claims the next job in the same step', async () => {
    const first = await q.enqueue('heaviest', { n: 1 });
    const second = await q.enqueue('heaviest', { n: 2 });
    const held = await claimOne('w1');
    expect(held.id).toBe(first.job.id);
    const r1 = await settle('w1', held, { status: 'finished', result: '{}', datasetVersion: 0 }, { leaseMs: LEASE, count: 1 });
    expect(r1.next).toMatchObject([{ id: second.job.id, attempts: 1 }]);
    expect(await q.get(second.job.id)).toMatchObject({ status: 'running' });
    const r2 = await settle('w1', r1.next[0]!, { status: 'failed', error: 'boom' }, { leaseMs: LEASE, count: 1 });
    expect(r2).toEqual({ outcome: 'failed', next: [] });
    expect(await q.get(second.job.id)).toMatchObject({ status: 'failed', error: 'boom' });
  });

  it('settles several jobs in one step, each checked on its own token, and claims as many as asked', async () => {
    const ids: string[] = [];
    for (let n = 1; n <= 5; n++) ids.push((await q.enqueue('heaviest', { n })).job.id);
    const held = await w.claim('w1', LEASE, 3);
    expect(held.map((j) => j.id)).toEqual(ids.slice(0, 3));
    const stale = { ...held[1]!, token: '999' };
    const res = await w.settle(
      'w1',
      [
        { job: held[0]!, settlement: { status: 'finished', result: '1', datasetVersion: 0 } },
        { job: stale, settlement: { status: 'finished', result: '2', datasetVersion: 0 } },
        { job: held[2]!, settlement: { status: 'cancelled' } },
      ],
      { leaseMs: LEASE, count: 3 },
    );
    expect(res.outcomes).toEqual(['finished', 'lost', 'cancelled']);
    expect(res.next.map((j) => j.id)).toEqual(ids.slice(3));
    expect(res.next[0]!.attempts).toBe(1);
    expect(await q.get(ids[1]!)).toMatchObject({ status: 'running' });
    expect(await r.get(keys.result(ids[0]!))).toBe('1');
  });

  it('keeps the processing list, leases and status indexes exact when a step ends and claims many', async () => {
    const ids: string[] = [];
    for (let n = 1; n <= 6; n++) ids.push((await q.enqueue('heaviest', { n })).job.id);
    const held = await w.claim('w1', LEASE, 4);
    expect((await r.lRange(keys.processing('w1'), 0, -1)).sort()).toEqual(ids.slice(0, 4).sort());
    const res = await w.settle(
      'w1',
      held.map((job) => ({ job, settlement: { status: 'finished' as const, result: '{}', datasetVersion: 0 } })),
      { leaseMs: LEASE, count: 2 },
    );
    expect(res.next.map((j) => j.id)).toEqual(ids.slice(4));
    expect((await r.lRange(keys.processing('w1'), 0, -1)).sort()).toEqual(ids.slice(4).sort());
    expect((await r.zRange(keys.jobsLeases, 0, -1)).sort()).toEqual(ids.slice(4).sort());
    expect(await r.zCard(keys.jobsByStatus('queued'))).toBe(0);
    expect((await r.zRange(keys.jobsByStatus('finished'), 0, -1)).sort()).toEqual(ids.slice(0, 4).sort());
    expect(await r.lLen(keys.jobsQueue)).toBe(0);
  });

  it.each([
    ['the oldest claims (one trim of the list)', [0, 1, 2]],
    ['claims out of order, a few (removals one by one)', [1, 4]],
    ['claims out of order, many (the list rewritten)', [0, 2, 3, 5]],
  ])('keeps the processing list in claim order, newest first, when a step ends %s', async (_, ending) => {
    const ids: string[] = [];
    for (let n = 1; n <= 8; n++) ids.push((await q.enqueue('heaviest', { n })).job.id);
    const held = await w.claim('w1', LEASE, 6);
    const list = () => r.lRange(keys.processing('w1'), 0, -1);
    expect(await list()).toEqual(ids.slice(0, 6).reverse());
    const res = await w.settle(
      'w1',
      ending.map((i) => ({ job: held[i]!, settlement: { status: 'finished' as const, result: '{}', datasetVersion: 0 } })),
      { leaseMs: LEASE, count: 2 },
    );
    expect(res.outcomes).toEqual(ending.map(() => 'finished'));
    const left = ids.slice(0, 6).filter((_, i) => !ending.includes(i));
    expect(await list()).toEqual([...left, ...ids.slice(6)].reverse());
    expect((await r.zRange(keys.jobsLeases, 0, -1)).sort()).toEqual([...left, ...ids.slice(6)].sort());
  });

  it('refuses a result computed on a load that is no longer current: the job is queued again at the front, its attempt refunded', async () => {
    await r.hSet(keys.dataset, { version: '3', generation: 'g3' });
    const { job } = await q.enqueue('heaviest', { n: 4 });
    const other = await q.enqueue('heaviest', { n: 5 });
    const held = await claimOne('w1');
    expect(held.id).toBe(job.id);
    // A new load lands while the job runs: same or new version number, the generation tells.
    await r.hSet(keys.dataset, { version: '4', generation: 'g4' });
    const res = await w.settle('w1', [
      { job: held, settlement: { status: 'finished', result: '{"on":3}', datasetVersion: 3, datasetGeneration: 'g3' } },
    ]);
    expect(res.outcomes).toEqual(['stale']);
    expect(await r.exists(keys.result(job.id))).toBe(0);
    expect(await q.get(job.id)).toMatchObject({ status: 'queued', attempts: 0 });
    expect(await statusSets(job.id)).toEqual(['queued']);
    expect(await r.lRange(keys.processing('w1'), 0, -1)).toEqual([]);
    expect(await r.lRange(keys.jobsQueue, 0, -1)).toEqual([other.job.id, job.id]);

    const again = await claimOne('w2');
    expect(again).toMatchObject({ id: job.id, attempts: 1 });
    expect(again.token).not.toBe(held.token);
    const done = await w.settle('w2', [
      { job: again, settlement: { status: 'finished', result: '{"on":4}', datasetVersion: 4, datasetGeneration: 'g4' } },
    ]);
    expect(done.outcomes).toEqual(['finished']);
    expect(await r.hmGet(keys.job(job.id), ['dataset_version', 'dataset_generation'])).toEqual(['4', 'g4']);
    // The same request on this load is answered by it; after a load that reuses version 4, it is not.
    expect(await q.enqueue('heaviest', { n: 4 })).toMatchObject({ deduplicated: true, job: { id: job.id } });
    await r.hSet(keys.dataset, { version: '4', generation: 'g4-again' });
    expect((await q.enqueue('heaviest', { n: 4 })).deduplicated).toBe(false);
  });

  it('takes back an expired lease: the old owner is fenced off, the next run counts attempt 2', async () => {
    const { job } = await q.enqueue('mass-by-fall', {});
    const stale = await claimOne('w1', 1);
    await sleep(5);
    expect(await w.recover(3)).toMatchObject({ requeued: 1, lost: 0 });
    expect(await q.get(job.id)).toMatchObject({ status: 'queued', attempts: 1, started_at: null });
    expect(await r.lLen(keys.processing('w1'))).toBe(0);
    expect(await w.renew('w1', LEASE, [stale])).toEqual(['lost']);

    const fresh = await claimOne('w2');
    expect(fresh.attempts).toBe(2);
    expect(await w.progress(stale, 0.5)).toBe('lost');
    expect((await settle('w1', stale, { status: 'finished', result: '"stale"', datasetVersion: 0 })).outcome).toBe('lost');
    expect((await settle('w2', fresh, { status: 'finished', result: '"fresh"', datasetVersion: 0 })).outcome).toBe('finished');
    expect(await r.get(keys.result(job.id))).toBe('"fresh"');
  });

  it('fails a job with "worker lost" after max attempts, and a new request computes afresh', async () => {
    const { job } = await q.enqueue('mass-by-fall', {});
    await claimOne('w1', 1);
    await sleep(5);
    expect(await w.recover(1)).toMatchObject({ requeued: 0, lost: 1 });
    expect(await q.get(job.id)).toMatchObject({ status: 'failed', error: 'worker lost', attempts: 1 });
    expect(await statusSets(job.id)).toEqual(['failed']);
    const again = await q.enqueue('mass-by-fall', {});
    expect(again.deduplicated).toBe(false);
  });

  it('cancels a queued job at once, and a claim that raced the cancel skips it', async () => {
    const a = await q.enqueue('heaviest', { n: 5 });
    const cancelled = await q.cancel(a.job.id);
    expect(cancelled).toMatchObject({ outcome: 'cancelled', job: { status: 'cancelled' } });
    expect(await r.lLen(keys.jobsQueue)).toBe(0);
    expect(await q.cancel(a.job.id)).toMatchObject({ outcome: 'ended', job: { status: 'cancelled' } });

    const b = await q.enqueue('heaviest', { n: 6 });
    const blocking = await redis.client();
    expect(await WorkerQueue.waitForJob(blocking, 'w1', 1)).toBe(b.job.id);
    expect((await q.cancel(b.job.id))?.outcome).toBe('cancelled');
    expect(await w.start('w1', LEASE, b.job.id)).toBeNull();
    expect(await r.lLen(keys.processing('w1'))).toBe(0);
    expect(await q.get(b.job.id)).toMatchObject({ status: 'cancelled', attempts: 0 });
    expect(await q.cancel(crypto.randomUUID())).toBeNull();
  });

  it('asks a running job to stop: renewal and progress report it, and it ends cancelled without a result', async () => {
    const { job } = await q.enqueue('geo-grid', {});
    const held = await claimOne('w1');
    expect(await q.cancel(job.id)).toMatchObject({ outcome: 'requested', job: { status: 'running', cancel_requested: true } });
    expect(await w.renew('w1', LEASE, [held])).toEqual(['cancel']);
    expect(await w.progress(held, 0.3)).toBe('cancel');
    expect((await settle('w1', held, { status: 'finished', result: '{}', datasetVersion: 0 })).outcome).toBe('cancelled');
    expect(await r.exists(keys.result(job.id))).toBe(0);
    expect(await statusSets(job.id)).toEqual(['cancelled']);
  });

  it('hands a job back after a delay (jobs:delayed), refunding the attempt when asked', async () => {
    const { job } = await q.enqueue('geo-grid', { cell_deg: 5 });
    const held = await claimOne('w1');
    expect(await w.release('w1', held, { delayMs: 50, refund: true })).toBe('released');
    expect(await q.get(job.id)).toMatchObject({ status: 'queued', attempts: 0 });
    expect(await r.lLen(keys.jobsQueue)).toBe(0);
    expect(await r.zScore(keys.jobsDelayed, job.id)).not.toBeNull();
    expect((await w.recover(3)).promoted).toBe(0);
    await sleep(60);
    expect((await w.recover(3)).promoted).toBe(1);
    const again = await claimOne('w1');
    expect(again.attempts).toBe(1);
    expect(await w.release('w1', again, { delayMs: 0, refund: false, error: 'LOADING' })).toBe('released');
    expect(await q.get(job.id)).toMatchObject({ status: 'queued', attempts: 1, error: 'LOADING' });
    expect(await r.lRange(keys.jobsQueue, 0, -1)).toEqual([job.id]);
    expect(await w.release('w1', again, { delayMs: 0, refund: true })).toBe('lost');
  });

  it('puts back what a dead worker claimed but never started, and drops its processing list', async () => {
    const { job } = await q.enqueue('mass-by-class', {});
    const blocking = await redis.client();
    await w.renew('dead', 1, []);
    expect(await WorkerQueue.waitForJob(blocking, 'dead', 1)).toBe(job.id);
    await sleep(5);
    expect(await w.recover(3)).toMatchObject({ requeued: 1, deadWorkers: 1 });
    expect(await r.exists(keys.processing('dead'))).toBe(0);
    expect(await r.lRange(keys.jobsQueue, 0, -1)).toEqual([job.id]);
    expect((await claimOne('alive')).id).toBe(job.id);
  });

  it('sweeps unstarted ids of its own list and retires', async () => {
    const a = await q.enqueue('mass-by-class', { year_from: 1900 });
    const blocking = await redis.client();
    await WorkerQueue.waitForJob(blocking, 'w1', 1);
    expect(await w.sweep('w1', true)).toBe(1);
    expect(await r.lRange(keys.jobsQueue, 0, -1)).toEqual([a.job.id]);
    expect(await r.exists(keys.processing('w1'))).toBe(0);
  });

  it('lists newest first through cursor pages, filters by status, and refuses a foreign cursor', async () => {
    const ids: string[] = [];
    for (let n = 1; n <= 7; n++) ids.push((await q.enqueue('heaviest', { n })).job.id);
    const held = await claimOne('w1');
    await settle('w1', held, { status: 'finished', result: '{}', datasetVersion: 0 });

    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await q.list({ limit: 3, cursor });
      seen.push(...page.items.map((j) => j.id));
      cursor = page.next_cursor ?? undefined;
      pages++;
    } while (cursor);
    expect(pages).toBe(3);
    expect(seen).toEqual([...ids].reverse());

    const finished = await q.list({ status: 'finished', limit: 50 });
    expect(finished.items.map((j) => j.id)).toEqual([ids[0]]);
    const running = await claimOne('w1');
    expect((await q.list({ status: 'running', limit: 5 })).items.map((j) => j.id)).toEqual([running.id]);
    const queued = await q.list({ status: 'queued', limit: 2 });
    expect(queued.items.map((j) => j.id)).toEqual([ids[6], ids[5]]);
    expect(running.id).toBe(ids[1]);
    await expect(q.list({ limit: 2, cursor: queued.next_cursor! })).rejects.toThrow(InvalidCursorError);
    await expect(q.list({ limit: 2, cursor: 'garbage' })).rejects.toThrow(InvalidCursorError);

    // A job that expired leaves the index as it is met.
    await r.del(keys.job(ids[6]!));
    expect((await q.list({ limit: 1 })).items[0]!.id).toBe(ids[5]);
    expect(await r.zScore(keys.jobsAll, ids[6]!)).toBeNull();
  });

  it('announces ends on the events channel, each job of a step that ended several', async () => {
    const events = await JobEvents.listen(await redis.client());
    const jobs = [(await q.enqueue('mass-by-fall', { fall: 'Fell' })).job, (await q.enqueue('mass-by-fall', { fall: 'Found' })).job];
    const waiters = jobs.map((j) => events.waiter(j.id));
    const t0 = Date.now();
    const ended = Promise.all(waiters.map((w) => w.until(10_000)));
    const held = await w.claim('w1', LEASE, 2);
    expect(held).toHaveLength(2);
    await w.settle(
      'w1',
      held.map((job) => ({ job, settlement: { status: 'finished', result: '{}', datasetVersion: 0 } })),
    );
    await ended;
    for (const w of waiters) w.dispose();
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(events.waiting).toBe(0);
  });

  it('sets the retention TTL on ended jobs and results only', async () => {
    const qt = new JobQueue(r, { resultTtlSeconds: 100 });
    const wt = new WorkerQueue(r, { resultTtlSeconds: 100 });
    const { job } = await qt.enqueue('mass-by-fall', { fall: 'Found' });
    expect(await r.ttl(keys.job(job.id))).toBe(-1);
    const [held] = await wt.claim('w1', LEASE);
    await wt.settle('w1', [{ job: held!, settlement: { status: 'finished', result: '{}', datasetVersion: 0 } }]);
    expect(await r.ttl(keys.job(job.id))).toBeGreaterThan(90);
    expect(await r.ttl(keys.result(job.id))).toBeGreaterThan(90);
  });
});
