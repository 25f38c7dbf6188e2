/**
 * Worker crashes at scale: 20 slow jobs (`test-sleep`), and 20 times a worker process is
 * SIGKILLed while it runs one, with a fresh worker spawned after each kill so the work goes on.
 * Every job must finish exactly once: status finished, one result, one "finished" settlement in
 * all the workers' logs, and at least one more attempt than the kills it survived. Workers run
 * bundled (spawnWorker's `bundled`): 26 worker starts through tsx would cost over a minute of CPU.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, type TestRedis } from '@meteorites/test-utils/redis';
import { killAllWorkers, spawnWorker, type WorkerProcess } from '@meteorites/test-utils/worker';
import { type Redis, keys, JobQueue } from '@meteorites/shared';

const JOBS = 20;
const KILLS = 20;
/** Workers at the start; each kill is replaced by a fresh one, started in the background. */
const WORKERS = 6;
/** A kill happens only while at least this many other workers are alive and working. */
const OTHERS = 2;
/** One job at a time per worker, so a kill interrupts exactly the job it is aimed at. */
const WORKER_ENV = { WORKER_CONCURRENCY: '1', JOB_LEASE_MS: '1000', JOB_RECOVERY_INTERVAL_MS: '200', JOB_MAX_ATTEMPTS: '8' };

describe('faults: worker crashes', () => {
  let redis: TestRedis;
  let r: Redis;
  let q: JobQueue;
  const spawned: WorkerProcess[] = [];

  beforeAll(async () => {
    redis = await startRedis();
    r = await redis.client();
    q = new JobQueue(r);
    spawned.push(...(await Promise.all(Array.from({ length: WORKERS }, () => spawnWorker(redis.url, WORKER_ENV, { bundled: true })))));
  });
  afterAll(async () => {
    await killAllWorkers();
    await redis?.close();
  });

  it(`${KILLS} SIGKILLs mid-job across ${JOBS} slow jobs: ${JOBS}/${JOBS} finish, each with exactly one result`, async () => {
    const t0 = Date.now();
    const ids: string[] = [];
    for (let i = 0; i < JOBS; i++) ids.push((await q.enqueue('test-sleep', { steps: 20, step_ms: 200, tag: `crash ${i}` })).job.id);

    const live = new Map(spawned.map((w) => [w.id, w]));
    const killsOf = new Map<string, number>();
    const respawns: Promise<void>[] = [];
    let kills = 0;
    const deadline = Date.now() + 60_000;
    while (kills < KILLS) {
      if (Date.now() > deadline) throw new Error(`only ${kills} of ${KILLS} kills landed mid-job within 60 s`);
      // A victim: a live worker whose job has made progress; while some unfinished job has not
      // been hit yet, only such a job, so the kills spread over as many jobs as they can.
      const states = await Promise.all(
        ids.map(async (id) => {
          const [status, worker, progress] = await r.hmGet(keys.job(id), ['status', 'worker', 'progress']);
          return { id, status, worker: worker ?? '', progress: Number(progress) };
        }),
      );
      const unhit = states.some((s) => s.status !== 'finished' && !killsOf.has(s.id));
      const target = states.find((s) => s.status === 'running' && s.progress > 0 && live.has(s.worker) && !(unhit && killsOf.has(s.id)));
      if (!target || live.size <= OTHERS) {
        await sleep(50);
        continue;
      }
      const victim = live.get(target.worker)!;
      live.delete(victim.id);
      await victim.kill();
      // What it held when it died (recovery removes the list only after the lease, 1 s, expired).
      const held = await r.lRange(keys.processing(victim.id), 0, -1);
      const running = (
        await Promise.all(held.map(async (id) => ((await r.hGet(keys.job(id), 'status')) === 'running' ? id : null)))
      ).filter((id): id is string => id !== null);
      const respawn = spawnWorker(redis.url, WORKER_ENV, { bundled: true }).then((w) => {
        spawned.push(w);
        live.set(w.id, w);
      });
      // Awaited below; if the test fails first, afterAll's kill must not surface as an unhandled rejection.
      respawn.catch(() => {});
      respawns.push(respawn);
      if (running.length === 0) continue; // it had just finished: not a mid-job kill
      kills++;
      for (const id of running) killsOf.set(id, (killsOf.get(id) ?? 0) + 1);
      await sleep(100);
    }
    await Promise.all(respawns);

    await expect
      .poll(async () => (await Promise.all(ids.map((id) => r.hGet(keys.job(id), 'status')))).filter((s) => s === 'finished').length, {
        timeout: 60_000,
        interval: 200,
      })
      .toBe(JOBS);
    const seconds = (Date.now() - t0) / 1000;

    const jobs = await Promise.all(ids.map(async (id) => (await q.get(id))!));
    const finishedSettles = (id: string) =>
      spawned.reduce((n, w) => n + w.logs.filter((l) => l.msg === 'job ended' && l.job === id && l.status === 'finished').length, 0);
    for (const job of jobs) {
      expect(job.status, job.id).toBe('finished');
      expect(job.attempts, job.id).toBeGreaterThanOrEqual(1 + (killsOf.get(job.id) ?? 0));
      expect(JSON.parse((await r.get(keys.result(job.id)))!), job.id).toMatchObject({
        analysis: 'test-sleep',
        params: { tag: job.params.tag },
      });
      expect(finishedSettles(job.id), job.id).toBe(1);
    }
    expect((await r.keys('result:*')).length).toBe(JOBS);
    expect(await r.lLen(keys.jobsQueue)).toBe(0);
    expect(await r.zCard(keys.jobsLeases)).toBe(0);

    const killed = jobs.filter((j) => killsOf.has(j.id));
    const attempts = jobs.map((j) => j.attempts);
    console.log(
      `worker crash: ${kills} SIGKILLs mid-job (${killed.length} distinct jobs hit, ${spawned.length} worker processes in all); ` +
        `${jobs.length}/${JOBS} finished, each with 1 result and 1 finished settlement; attempts min ${Math.min(...attempts)}, ` +
        `max ${Math.max(...attempts)}, killed jobs all >= 2; ${seconds.toFixed(1)} s`,
    );
    expect(killed.every((j) => j.attempts >= 2)).toBe(true);
  });
});
