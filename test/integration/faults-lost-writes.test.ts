/**
 * Redis loses its last acknowledged writes (appendfsync everysec and a machine that dies before
 * the next fsync, or a failover to a replica that had not received them): test/support/aof.ts
 * cuts the AOF back to a mark and restarts the server on it. Counters kept in Redis then go back
 * too, so nothing that must be unique may come from one:
 * - a fencing token handed out again would let two workers hold the same job at once;
 * - a dataset version number handed out again would let a result computed on one load pass for
 *   a result on another: a worker's cached snapshot, GET /meteorites, and POST /jobs' dedup.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, type TestRedis } from '@meteorites/test-utils/redis';
import { canLoseTail, loseWritesSince, mark } from '@meteorites/test-utils/aof';
import { buildTestApp } from '@meteorites/test-utils/app';
import { killAllWorkers, spawnWorker } from '@meteorites/test-utils/worker';
import type { App } from '@meteorites/api';
import { type Redis, keys, columnsFromRecords, type Job, type Meteorite, JobQueue, WorkerQueue } from '@meteorites/shared';
import { storeDataset } from '@meteorites/dataset';

/** Far longer than the test: no lease of the in-process "workers" runs out meanwhile. */
const LEASE = 120_000;

/** A dataset of n made-up landings, named after `tag` so that two loads differ. */
const landings = (n: number, tag: string) => ({
  columns: columnsFromRecords(
    Array.from({ length: n }, (_, i): Partial<Meteorite> => ({
      id: String(i + 1),
      name: `${tag} ${i + 1}`,
      nametype: 'Valid',
      recclass: 'L5',
      mass_g: 100 + i,
      fall: 'Fell',
      year: 1900 + i,
      reclat: 10,
      reclong: 20,
    })),
  ),
  skipped: [],
});

/** Waits until every client answers again after a restart (node-redis reconnects by itself). */
async function reconnected(...clients: Redis[]): Promise<void> {
  for (const c of clients) {
    await expect
      .poll(
        () =>
          c.ping().then(
            () => true,
            () => false,
          ),
        { timeout: 20_000, interval: 100 },
      )
      .toBe(true);
  }
}

describe('faults: writes lost with the AOF tail', () => {
  let redis: TestRedis;
  let app: App;
  let db: Redis;

  beforeAll(async () => {
    redis = await startRedis({ appendfsync: 'everysec' });
    db = await redis.client();
  });
  afterAll(async () => {
    await killAllWorkers();
    await app?.close();
    await redis?.close();
  });

  it('a claim lost with the tail is not handed out again: the next claim gets another token and the first holder is fenced off', async (ctx) => {
    if (!canLoseTail(redis)) ctx.skip();
    const [c1, c2] = [await redis.client(), await redis.client()];
    const [w1, w2] = [new WorkerQueue(c1), new WorkerQueue(c2)];
    const { job } = await new JobQueue(c1).enqueue('test-sleep', { tag: 'fencing' });
    const before = mark(redis);
    const [first] = await w1.claim('w1', LEASE);
    expect(first?.id).toBe(job.id);
    expect(await w1.renew('w1', LEASE, [first!])).toEqual(['ok']);

    expect((await loseWritesSince(redis, before)).lostBytes).toBeGreaterThan(0);
    await reconnected(c1, c2, db);
    // The claim is gone with the tail: the job is queued, as it was at the mark; worker 1 still holds its run.
    expect(await new JobQueue(c2).get(job.id)).toMatchObject({ status: 'queued', attempts: 0 });

    const [second] = await w2.claim('w2', LEASE);
    expect(second).toMatchObject({ id: job.id, attempts: 1 });
    expect(second!.token).not.toBe(first!.token);
    // One holder only: worker 1's renewals, progress and settle are refused, and so is its use
    // of the current token under its own name.
    expect(await w1.renew('w1', LEASE, [first!])).toEqual(['lost']);
    expect(await w2.renew('w2', LEASE, [second!])).toEqual(['ok']);
    expect(await w1.progress(first!, 0.5)).toBe('lost');
    expect(await w1.renew('w1', LEASE, [second!])).toEqual(['lost']);
    const late = await w1.settle('w1', [{ job: first!, settlement: { status: 'finished', result: '"worker 1"', datasetVersion: 0 } }]);
    expect(late.outcomes).toEqual(['lost']);
    const forged = await w1.settle('w1', [{ job: second!, settlement: { status: 'finished', result: '"worker 1"', datasetVersion: 0 } }]);
    expect(forged.outcomes).toEqual(['lost']);
    const done = await w2.settle('w2', [{ job: second!, settlement: { status: 'finished', result: '"worker 2"', datasetVersion: 0 } }]);
    expect(done.outcomes).toEqual(['finished']);
    expect(await db.get(keys.result(job.id))).toBe('"worker 2"');
    expect(await db.lLen(keys.processing('w1'))).toBe(0);
  });

  it('a load after a lost tail may reuse a version number, yet workers and GET /meteorites use its data, not what they cached under that number', async (ctx) => {
    if (!canLoseTail(redis)) ctx.skip();
    await db.flushAll();
    app = await buildTestApp(redis.url, { ENABLE_TEST_ANALYSES: true });
    await spawnWorker(redis.url, { JOB_LEASE_MS: '5000' }, { bundled: true });
    const post = async (tag: string) => {
      const res = await app.inject({
        method: 'POST',
        url: '/jobs',
        payload: { analysis: 'test-sleep', params: { steps: 1, step_ms: 0, tag } },
      });
      expect([200, 202], res.body).toContain(res.statusCode);
      return res.json<Job & { deduplicated: boolean }>();
    };
    const resultOf = async (id: string) => {
      const job = (await app.inject(`/jobs/${id}?wait=30`)).json<Job>();
      expect(job, id).toMatchObject({ status: 'finished' });
      return (await app.inject(`/results/${id}`)).json<{ records: number; dataset_version: number }>();
    };
    const listed = async () => (await app.inject('/meteorites?limit=100')).json<{ items: Meteorite[] }>().items.map((m) => m.name);

    expect((await storeDataset(db, landings(3, 'A'), { source: 'A' })).version).toBe(1);
    const before = mark(redis);
    expect((await storeDataset(db, landings(4, 'B'), { source: 'B' })).version).toBe(2);
    // The worker and the API now hold load B's snapshot, as version 2.
    expect(await resultOf((await post('on B')).id)).toMatchObject({ records: 4, dataset_version: 2 });
    expect(await listed()).toEqual(['B 1', 'B 2', 'B 3', 'B 4']);

    await loseWritesSince(redis, before);
    await reconnected(db);
    expect(await db.hmGet(keys.dataset, ['version', 'records'])).toEqual(['1', '3']);
    // Another load takes the lost one's number.
    expect((await storeDataset(db, landings(5, 'C'), { source: 'C' })).version).toBe(2);

    await expect.poll(async () => (await app.inject('/data/summary')).statusCode, { timeout: 20_000, interval: 100 }).toBe(200);
    expect(await listed()).toEqual(['C 1', 'C 2', 'C 3', 'C 4', 'C 5']);
    const onC = await post('on C');
    expect(onC.deduplicated).toBe(false);
    expect(await resultOf(onC.id)).toMatchObject({ records: 5, dataset_version: 2 });
  });

  it('a result computed on a load that was lost is refused: the job runs again, and POST /jobs is never answered with it', async (ctx) => {
    if (!canLoseTail(redis)) ctx.skip();
    await db.flushAll();
    app ??= await buildTestApp(redis.url, { ENABLE_TEST_ANALYSES: true });
    const request = { analysis: 'test-sleep', params: { steps: 1, step_ms: 0, tag: 'dedup' } };
    expect((await storeDataset(db, landings(3, 'A'), { source: 'A' })).version).toBe(1);
    // An in-process worker holds the job (no other runs yet), so that the loss finds it running.
    await killAllWorkers();
    const c1 = await redis.client();
    const w1 = new WorkerQueue(c1);
    await w1.renew('w1', LEASE, []);
    const queued = (await app.inject({ method: 'POST', url: '/jobs', payload: request })).json<Job>();
    const [held] = await w1.claim('w1', LEASE);
    expect(held?.id).toBe(queued.id);
    const before = mark(redis);

    // Load B is acknowledged and the held job computed on it; then the tail with load B is lost.
    expect((await storeDataset(db, landings(4, 'B'), { source: 'B' })).version).toBe(2);
    const onB = await db.hmGet(keys.dataset, ['version', 'generation']);
    const resultOnB = JSON.stringify({ analysis: 'test-sleep', records: 4, dataset_version: 2 });
    await loseWritesSince(redis, before);
    await reconnected(db, c1);
    expect(await db.hGet(keys.dataset, 'version')).toBe('1');

    const settled = await w1.settle('w1', [
      {
        job: held!,
        settlement: { status: 'finished', result: resultOnB, datasetVersion: Number(onB[0]), datasetGeneration: onB[1] ?? undefined },
      },
    ]);
    // A worker runs whatever is queued from here on, on the data that is there.
    await spawnWorker(redis.url, { JOB_LEASE_MS: '5000' }, { bundled: true });
    expect((await storeDataset(db, landings(5, 'C'), { source: 'C' })).version).toBe(2);

    const again = await app.inject({ method: 'POST', url: '/jobs', payload: request });
    const answered = again.json<Job>();
    const ended = (await app.inject(`/jobs/${answered.id}?wait=30`)).json<Job>();
    expect(ended).toMatchObject({ status: 'finished', dataset_version: 2 });
    expect((await app.inject(`/results/${answered.id}`)).json()).toMatchObject({ records: 5, dataset_version: 2 });
    // The held job was not finished with load B's result: it went back to the queue and ran on what is there now.
    expect(settled.outcomes).toEqual(['stale']);
    const rerun = (await app.inject(`/jobs/${queued.id}?wait=30`)).json<Job>();
    expect(rerun).toMatchObject({ status: 'finished', attempts: 1 });
    expect((await app.inject(`/results/${queued.id}`)).json<{ records: number }>().records).not.toBe(4);
  });
});
