/**
 * Redis crashes with AOF on (appendfsync everysec, as `npm start` and compose run it): the full
 * dataset is loaded and 100 jobs are queued through the API, and once an fsync has passed
 * redis-server is SIGKILLed and restarted on the same data directory. The dataset (version and
 * every record) and every job must be there, and the API and the workers that were running before
 * the crash must reconnect by themselves and finish the jobs.
 *
 * The workers are busy with a long `test-sleep` job each while the 100 are queued, so the 100 are
 * still queued when Redis dies; the API cancels the two after the restart, and the workers go on
 * to the queue.
 */
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, type TestRedis } from '@meteorites/test-utils/redis';
import { buildTestApp } from '@meteorites/test-utils/app';
import { fullDataset } from '@meteorites/test-utils/env';
import { loadable, readNasaCsv } from '@meteorites/test-utils/source-csv';
import { killAllWorkers, spawnWorker, type WorkerProcess } from '@meteorites/test-utils/worker';
import { mixedJobRequests } from '@meteorites/test-utils/job-requests';
import type { App } from '@meteorites/api';
import { type Redis, keys, type Job, JobQueue } from '@meteorites/shared';

const JOBS = 100;
const WORKER_ENV = { WORKER_CONCURRENCY: '1', JOB_LEASE_MS: '5000', JOB_RECOVERY_INTERVAL_MS: '500' };

describe('faults: Redis crash (SIGKILL) with AOF everysec', () => {
  let redis: TestRedis;
  let app: App;
  let workers: WorkerProcess[];
  let db: Redis;

  beforeAll(async () => {
    redis = await startRedis();
    [app, workers] = await Promise.all([
      buildTestApp(redis.url, { ENABLE_TEST_ANALYSES: true }),
      Promise.all([spawnWorker(redis.url, WORKER_ENV, { bundled: true }), spawnWorker(redis.url, WORKER_ENV, { bundled: true })]),
    ]);
  });
  afterAll(async () => {
    await killAllWorkers();
    await app?.close();
    await redis?.close();
  });

  it(`keeps the full dataset and ${JOBS} queued jobs through a SIGKILL; the same API and workers reconnect and finish them`, async (ctx) => {
    if (!redis.controllable) ctx.skip();
    const { csv } = fullDataset();
    const source = readNasaCsv(csv).filter(loadable);
    // heaviest's year filter leaves out landings without a year.
    const heaviestMass = Math.max(...source.filter((m) => m.year !== null).map((m) => m.mass_g ?? -1));

    const loaded = await app.inject({ method: 'POST', url: '/data', headers: { 'content-type': 'text/csv' }, payload: readFileSync(csv) });
    expect(loaded.statusCode, loaded.body).toBe(201);
    const { version, records } = loaded.json() as { version: number; records: number };
    expect(records).toBe(source.length);

    const post = (body: unknown) => app.inject({ method: 'POST', url: '/jobs', payload: body as object });
    const blockers: string[] = [];
    for (let i = 0; i < workers.length; i++) {
      blockers.push((await post({ analysis: 'test-sleep', params: { steps: 1200, step_ms: 100, tag: `blocker ${i}` } })).json<Job>().id);
    }
    db = await redis.client();
    await expect
      .poll(async () => (await Promise.all(blockers.map((id) => db.hGet(keys.job(id), 'status')))).join(), { timeout: 20_000 })
      .toBe('running,running');

    const requests = mixedJobRequests(JOBS);
    expect(new Set(requests.map((r) => JSON.stringify(r))).size).toBe(JOBS);
    const ids: string[] = [];
    for (const body of requests) {
      const res = await post(body);
      expect(res.statusCode, res.body).toBe(202);
      ids.push(res.json<Job>().id);
    }
    const queuedBefore = await db.lRange(keys.jobsQueue, 0, -1);
    expect(queuedBefore.sort()).toEqual([...ids].sort());

    // Past the next everysec fsync (and none still running on a busy disk), then a crash: nothing
    // is flushed on the way down.
    await sleep(2000);
    await expect
      .poll(
        async () =>
          /aof_pending_bio_fsync:0\r\n/.test(await db.info('persistence')) && /aof_buffer_length:0\r\n/.test(await db.info('persistence')),
        {
          timeout: 10_000,
        },
      )
      .toBe(true);
    await db.close();
    await redis.kill();
    const t0 = Date.now();
    await redis.start();
    const restartMs = Date.now() - t0;

    db = await redis.client();
    expect(await db.hGetAll(keys.dataset)).toMatchObject({ version: String(version), state: 'ready', records: String(source.length) });
    expect(await db.sCard(keys.meteoriteIds)).toBe(source.length);
    // Every job as it was queued. The workers reconnect meanwhile: one whose blocker's lease ran
    // out while Redis was down may already have taken a job, which is then running or even
    // finished, not lost. Statuses and the lists holding ids are read in one MULTI, so that a job
    // a worker takes and finishes meanwhile cannot fall between two reads.
    const q = new JobQueue(db);
    const after = await Promise.all(ids.map(async (id) => (await q.get(id)) ?? { id, status: 'lost' }));
    after.forEach((job, i) => expect(job, job.id).toMatchObject({ id: ids[i], ...requests[i] }));
    const snapshot = db.multi().lRange(keys.jobsQueue, 0, -1);
    for (const w of workers) snapshot.lRange(keys.processing(w.id), 0, -1);
    for (const id of ids) snapshot.hGet(keys.job(id), 'status').exists(keys.result(id));
    const replies = (await snapshot.exec()) as unknown[];
    const held = new Set((replies.slice(0, 1 + workers.length) as string[][]).flat());
    const states = ids.map((id, i) => {
      const [status, hasResult] = replies.slice(1 + workers.length + 2 * i, 3 + workers.length + 2 * i) as [string | null, number];
      if (status === 'finished') return hasResult === 1 ? 'ok' : `${id} finished without a result`;
      if (status === 'queued' || status === 'running') return held.has(id) ? 'ok' : `${id} ${status} but in no list`;
      return `${id} ${status ?? 'lost'}`;
    });
    expect(states.filter((s) => s !== 'ok')).toEqual([]);

    // The API answers again without a restart, and still serves the same dataset.
    await expect.poll(async () => (await app.inject('/data/summary')).statusCode, { timeout: 15_000, interval: 100 }).toBe(200);
    expect((await app.inject('/data/summary')).json()).toMatchObject({ version, state: 'ready', records: source.length });
    for (const id of blockers) expect([200, 202], id).toContain((await app.inject({ method: 'DELETE', url: `/jobs/${id}` })).statusCode);

    const t1 = Date.now();
    await expect
      .poll(async () => (await Promise.all(ids.map((id) => db.hGet(keys.job(id), 'status')))).filter((s) => s === 'finished').length, {
        timeout: 60_000,
        interval: 250,
      })
      .toBe(JOBS);
    const finishSeconds = (Date.now() - t1) / 1000;

    // The same processes throughout: alive, and every job ran on one of them.
    for (const w of workers) expect(() => process.kill(w.pid, 0)).not.toThrow();
    const workerIds = new Set(workers.map((w) => w.id));
    for (const id of ids) {
      const res = await app.inject(`/jobs/${id}`);
      expect(res.json<Job>(), id).toMatchObject({ status: 'finished', dataset_version: version });
      expect(workerIds.has((await db.hGet(keys.job(id), 'worker'))!), id).toBe(true);
      const result = (await app.inject(`/results/${id}`)).json<{
        dataset_version: number;
        analysis: string;
        items?: { mass_g: number }[];
      }>();
      expect(result.dataset_version, id).toBe(version);
      // Every heaviest request filters from a year before the first landing: the top item is the heaviest of all.
      if (result.analysis === 'heaviest') expect(result.items![0]!.mass_g, id).toBe(heaviestMass);
    }
    expect((await db.keys('result:*')).length).toBe(JOBS);
    for (const w of workers)
      expect(
        w.logs.some((l) => l.level === 40 && /redis connection error|claiming failed/.test(l.msg)),
        w.id,
      ).toBe(true);

    console.log(
      `redis crash: SIGKILL 2 s after the last write, restarted in ${restartMs} ms on the same AOF; dataset version ${version} with ` +
        `${source.length.toLocaleString('en-US')} records and ${JOBS}/${JOBS} jobs present (${after.filter((j) => j.status === 'queued').length} ` +
        `still queued); the same API and ${workers.length} workers reconnected ` +
        `and finished ${JOBS}/${JOBS} in ${finishSeconds.toFixed(1)} s`,
    );
  });
});
