/**
 * Throughput with 1, 2 and 4 worker processes (`worker/src/main.ts` as real child processes,
 * WORKER_CONCURRENCY 2 each, the default) against one Redis (started here, AOF everysec) holding
 * NASA's full dataset. For each count: the workers are started and idle, then 2,000 analysis
 * jobs are enqueued in one burst (the queue's own enqueue, pipelined: what POST /jobs calls after
 * validating), and the clock runs from the first enqueue until the last job is finished.
 *
 * Each count runs twice, interleaved (1, 2, 4, 1, 2, 4), and its best round is kept. Jobs cycle
 * through all five analyses with distinct params (see jobs(): no two jobs are equal, so dedup never
 * answers, and every job scans every record). Besides jobs/s it reads the CPU time the workers
 * and redis-server used: how many cores the round kept busy, and the ceiling the machine's cores
 * put on jobs/s at that CPU cost per job (this process' own polling and enqueueing not counted).
 *
 *   npx tsx bench/workers.ts
 */
import { createReadStream, mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { validateJobRequest, keys, JobQueue, closeRedis, connectRedis, type Redis } from '@meteorites/shared';
import { parseDataset, storeDataset } from '@meteorites/dataset';
import { RedisServer } from '@meteorites/tools';
import { fullDataset } from '@meteorites/test-utils/env';
import { spawnWorker, type WorkerProcess } from '@meteorites/test-utils/worker';
import { BenchStepError, cpuSecondsOf, redisCpuSeconds, round, writeResult } from './support.ts';

const JOBS = 2000;
const COUNTS = [1, 2, 4];
/** Every count runs this many times, interleaved; the best is kept (neighbours on a shared machine only ever slow a round). */
const REPEATS = 2;
const WORKER_ENV = {
  ENABLE_TEST_ANALYSES: 'false',
  LOG_LEVEL: 'info',
  WORKER_CONCURRENCY: '2',
  JOB_LEASE_MS: '30000',
  JOB_RECOVERY_INTERVAL_MS: '5000',
};

/**
 * A round's jobs: the same mix and the same work every round. `year_from` (distinct within a round)
 * and `year_to` (distinct across rounds) lie beyond the data's years, so every job scans every record.
 */
function jobs(roundIndex: number): { analysis: string; params: Record<string, unknown> }[] {
  return Array.from({ length: JOBS }, (_, i) => {
    const year_from = -9999 + i;
    const year_to = 9999 - roundIndex;
    const k = Math.floor(i / 5);
    const [analysis, extra] = (
      [
        ['mass-by-class', {}],
        ['mass-by-year', { bin: [1, 10, 100][k % 3] }],
        ['mass-by-fall', {}],
        ['heaviest', { n: [10, 100, 1000][k % 3] }],
        ['geo-grid', { cell_deg: [1, 2, 5, 10][k % 4] }],
      ] as const
    )[i % 5]!;
    const valid = validateJobRequest(analysis, { ...extra, year_from, year_to });
    return { analysis: valid.analysis.name, params: valid.params };
  });
}

async function finishedCount(redis: Redis): Promise<{ finished: number; failed: number }> {
  const [finished, failed] = await Promise.all([redis.zCard(keys.jobsByStatus('finished')), redis.zCard(keys.jobsByStatus('failed'))]);
  return { finished, failed };
}

interface Round {
  workers: number;
  seconds: number;
  jobs_per_s: number;
  enqueue_s: number;
  worker_cpu_s: number;
  redis_cpu_s: number;
  /** (workers' + redis-server's CPU seconds) ÷ wall seconds: cores kept busy. */
  cores_busy: number;
  /** Workers' + redis-server's CPU milliseconds per job. */
  cpu_ms_per_job: number;
  /** What the machine's cores allow at that CPU cost, all of them busy with nothing else. */
  ceiling_jobs_per_s: number;
  /** Jobs each worker finished, to show every one took part. */
  per_worker: number[];
}

async function runRound(redisUrl: string, redis: Redis, queue: JobQueue, count: number, roundIndex: number): Promise<Round> {
  const workers: WorkerProcess[] = await Promise.all(Array.from({ length: count }, () => spawnWorker(redisUrl, WORKER_ENV)));
  try {
    const before = await finishedCount(redis);
    const batch = jobs(roundIndex);
    const cpu0 = workers.map((w) => cpuSecondsOf(w.pid));
    const redis0 = await redisCpuSeconds(redis);
    const t0 = performance.now();
    const enqueued = await Promise.all(batch.map((j) => queue.enqueue(j.analysis, j.params)));
    const enqueueSeconds = (performance.now() - t0) / 1000;
    if (enqueued.some((e) => e.deduplicated)) throw new BenchStepError('a job was deduplicated: the params are not distinct');
    for (;;) {
      const now = await finishedCount(redis);
      if (now.failed > before.failed) throw new BenchStepError(`${now.failed - before.failed} jobs failed`);
      if (now.finished - before.finished >= JOBS) break;
      await sleep(10);
    }
    const seconds = (performance.now() - t0) / 1000;
    const workerCpu = workers.reduce((s, w, i) => s + cpuSecondsOf(w.pid) - cpu0[i]!, 0);
    const redisCpu = (await redisCpuSeconds(redis)) - redis0;
    const owners = await Promise.all(enqueued.map((e) => redis.hGet(keys.job(e.job.id), 'worker')));
    return {
      workers: count,
      seconds: round(seconds, 2),
      jobs_per_s: round(JOBS / seconds),
      enqueue_s: round(enqueueSeconds, 3),
      worker_cpu_s: round(workerCpu, 2),
      redis_cpu_s: round(redisCpu, 2),
      cores_busy: round((workerCpu + redisCpu) / seconds, 2),
      cpu_ms_per_job: round(((workerCpu + redisCpu) * 1000) / JOBS, 2),
      ceiling_jobs_per_s: round((cpus().length * JOBS) / (workerCpu + redisCpu)),
      per_worker: workers.map((w) => owners.filter((o) => o === w.id).length),
    };
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
  }
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-workers-'));
  const server = new RedisServer({ dataDir: dir, appendfsync: 'everysec' });
  await server.start();
  const redis = await connectRedis(server.url);
  try {
    const parsed = await parseDataset(createReadStream(fullDataset().csv), 'csv');
    await storeDataset(redis, parsed, { source: 'bench' });
    const queue = new JobQueue(redis);
    const loadStart = loadavg()[0]!;
    console.log(
      `${parsed.columns.length} records loaded; ${JOBS} jobs per round; ${cpus().length} CPUs, load average ${loadStart.toFixed(1)} at the start`,
    );

    const all: Round[] = [];
    for (let repeat = 0; repeat < REPEATS; repeat++) {
      for (const count of COUNTS) {
        const r = await runRound(server.url, redis, queue, count, all.length);
        all.push(r);
        console.log(
          `  ${count} worker(s): ${r.seconds} s, ${r.jobs_per_s} jobs/s, cores busy ${r.cores_busy}, jobs per worker ${r.per_worker.join('/')}`,
        );
      }
    }
    const best = COUNTS.map((count) => all.filter((r) => r.workers === count).reduce((a, b) => (b.jobs_per_s > a.jobs_per_s ? b : a)));
    const base = best[0]!.jobs_per_s;
    console.log(`\nbest of ${REPEATS} rounds each:`);
    console.log(
      `${'workers'.padStart(7)} ${'seconds'.padStart(8)} ${'jobs/s'.padStart(8)} ${'speedup'.padStart(8)} ${'worker cpu s'.padStart(13)} ${'redis cpu s'.padStart(12)} ${'cores busy'.padStart(11)} ${'cpu ms/job'.padStart(11)} ${'ceiling jobs/s'.padStart(15)}`,
    );
    for (const r of best) {
      console.log(
        `${String(r.workers).padStart(7)} ${r.seconds.toFixed(1).padStart(8)} ${r.jobs_per_s.toFixed(0).padStart(8)} ${(r.jobs_per_s / base).toFixed(2).padStart(8)} ${r.worker_cpu_s.toFixed(1).padStart(13)} ${r.redis_cpu_s.toFixed(1).padStart(12)} ${r.cores_busy.toFixed(2).padStart(11)} ${r.cpu_ms_per_job.toFixed(2).padStart(11)} ${r.ceiling_jobs_per_s.toFixed(0).padStart(15)}`,
      );
    }
    writeResult('workers', {
      benchmark: 'workers',
      date: new Date().toISOString(),
      node: process.version,
      redis: /redis_version:(\S+)/.exec(await redis.info('server'))?.[1],
      cpus: cpus().length,
      load_average: { start: round(loadStart), end: round(loadavg()[0]!) },
      records: parsed.columns.length,
      jobs: JOBS,
      worker_concurrency: Number(WORKER_ENV.WORKER_CONCURRENCY),
      best: best.map((r) => ({ ...r, speedup: round(r.jobs_per_s / base, 2) })),
      rounds: all,
    });
  } finally {
    await closeRedis(redis);
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
