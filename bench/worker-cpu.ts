/**
 * The worker process' CPU per mass-by-class job, queue work included, against the CPU of the
 * job's own work (the analysis and its JSON text, as the worker makes them: resultJson, then the
 * bytes it stores) measured in this process in the same run:
 * the difference is what the worker spends around the analysis. One worker process
 * (worker/src/main.ts, WORKER_CONCURRENCY 2), one Redis (started here) holding the full dataset.
 * Each round enqueues JOBS mass-by-class jobs with distinct year ranges (no dedup answers) in one
 * burst and reads the worker's CPU time (/proc) from the first enqueue until the last job ended;
 * the in-process baseline runs between rounds on the same params. Medians of ROUNDS rounds.
 *
 *   npx tsx bench/worker-cpu.ts
 *   WORKER_CPU_PROFILE=dir npx tsx bench/worker-cpu.ts   (the worker writes a --cpu-prof there)
 */
import { createReadStream, mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { resultJson, validateJobRequest, type AnalysisContext, keys, JobQueue, closeRedis, connectRedis } from '@meteorites/shared';
import { parseDataset, storeDataset } from '@meteorites/dataset';
import { RedisServer } from '@meteorites/tools';
import { fullDataset } from '@meteorites/test-utils/env';
import { spawnWorker } from '@meteorites/test-utils/worker';
import { BenchStepError, cpuSecondsOf, redisCpuSeconds, systemSecondsOf, median, round, writeResult } from './support.ts';

const JOBS = 1000;
const ROUNDS = 3;
const WARMUP = 500;
/** Jobs a round one at a time (each waited for before the next is enqueued). */
const SEQUENTIAL_JOBS = 200;
// Bench switches, not service settings (so not in shared/src/config.ts).
const PROFILE_DIR = process.env.WORKER_CPU_PROFILE;
/** Extra options for the worker's node (e.g. --trace-gc), space-separated. */
const NODE_ARGS = process.env.WORKER_CPU_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
/** Extra worker settings as JSON, to compare configurations. */
const EXTRA_ENV = JSON.parse(process.env.WORKER_CPU_ENV ?? '{}') as Record<string, string>;

/**
 * The k-th job's params, distinct for every k (no dedup answers): a year range starting inside the
 * years most landings have (1950 to 2009), so most classes hold records on both sides of it and
 * the analysis reads their records (a range around every year would take each class's totals).
 */
const cutting = (k: number) =>
  validateJobRequest('mass-by-class', { year_from: 1950 + (k % 60), year_to: 2100 + Math.floor(k / 60) }).params;

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-worker-cpu-'));
  const server = new RedisServer({ dataDir: dir, appendfsync: 'everysec' });
  await server.start();
  const redis = await connectRedis(server.url);
  const worker = await spawnWorker(
    server.url,
    {
      ENABLE_TEST_ANALYSES: 'false',
      LOG_LEVEL: 'info',
      WORKER_CONCURRENCY: '2',
      JOB_LEASE_MS: '30000',
      JOB_RECOVERY_INTERVAL_MS: '5000',
      ...EXTRA_ENV,
    },
    {
      nodeArgs: [...(PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}`] : []), ...NODE_ARGS],
    },
  );
  try {
    const parsed = await parseDataset(createReadStream(fullDataset().csv), 'csv');
    await storeDataset(redis, parsed, { source: 'bench' });
    const queue = new JobQueue(redis);
    const { analysis } = validateJobRequest('mass-by-class', {});
    const ctx: AnalysisContext = { datasetVersion: 1, progress: async () => {}, now: () => new Date(0) };
    const loadStart = loadavg()[0]!;
    console.log(
      `${parsed.columns.length} records; ${JOBS} mass-by-class jobs a round, ${ROUNDS} rounds; ${cpus().length} CPUs, load ${loadStart.toFixed(1)}`,
    );
    // Warm: the worker reads its snapshot and its JIT compiles the hot paths before the clock runs.
    const warm = await Promise.all(
      Array.from({ length: WARMUP }, (_, i) =>
        queue.enqueue('mass-by-class', validateJobRequest('mass-by-class', { year_to: 9999 - i }).params),
      ),
    );
    for (let i = 0; (await redis.hGet(keys.job(warm.at(-1)!.job.id), 'status')) !== 'finished'; i++) {
      if (i > 6000) throw new BenchStepError('the warm-up jobs did not finish');
      await sleep(10);
    }
    const rounds: { worker_ms: number; worker_system_ms: number; redis_ms: number; in_process_ms: number; ratio: number }[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const params = Array.from({ length: JOBS }, (_, i) => cutting(r * JOBS + i));
      const before = process.cpuUsage();
      for (const p of params) Buffer.from(await resultJson(analysis, parsed.columns, p, ctx));
      const used = process.cpuUsage(before);
      const inProcessMs = (used.user + used.system) / 1000 / JOBS;

      const done0 = await redis.zCard(keys.jobsByStatus('finished'));
      const cpu0 = cpuSecondsOf(worker.pid);
      const sys0 = systemSecondsOf(worker.pid);
      const redis0 = await redisCpuSeconds(redis);
      const enqueued = await Promise.all(params.map((p) => queue.enqueue('mass-by-class', p)));
      if (enqueued.some((e) => e.deduplicated)) throw new BenchStepError('a job was deduplicated');
      while ((await redis.zCard(keys.jobsByStatus('finished'))) - done0 < JOBS) {
        if ((await redis.zCard(keys.jobsByStatus('failed'))) > 0) throw new BenchStepError('a job failed');
        await sleep(20);
      }
      const workerMs = ((cpuSecondsOf(worker.pid) - cpu0) * 1000) / JOBS;
      const sysMs = ((systemSecondsOf(worker.pid) - sys0) * 1000) / JOBS;
      const redisMs = (((await redisCpuSeconds(redis)) - redis0) * 1000) / JOBS;
      rounds.push({
        worker_ms: round(workerMs, 2),
        worker_system_ms: round(sysMs, 2),
        redis_ms: round(redisMs, 2),
        in_process_ms: round(inProcessMs, 2),
        ratio: round(workerMs / inProcessMs, 2),
      });
      console.log(
        `  round ${r + 1}: worker ${workerMs.toFixed(2)} ms/job (system ${sysMs.toFixed(2)}; Redis ${redisMs.toFixed(2)}), in process ${inProcessMs.toFixed(2)} ms/job, ratio ${(workerMs / inProcessMs).toFixed(2)}`,
      );
    }
    // One at a time (as bench/analysis.ts and a quiet service run them): each job wakes an idle
    // worker (its BLMOVE returns), and its columns are no longer in the cache.
    const oneByOne: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const params = Array.from({ length: SEQUENTIAL_JOBS }, (_, i) => cutting((ROUNDS + r) * JOBS + i));
      const cpu0 = cpuSecondsOf(worker.pid);
      for (const p of params) {
        const { job } = await queue.enqueue('mass-by-class', p);
        for (let i = 0; (await redis.hGet(keys.job(job.id), 'status')) !== 'finished'; i++) {
          if (i > 30_000) throw new BenchStepError(`job ${job.id} did not finish`);
          await sleep(1);
        }
      }
      oneByOne.push(round(((cpuSecondsOf(worker.pid) - cpu0) * 1000) / SEQUENTIAL_JOBS, 2));
      console.log(`  one by one, round ${r + 1}: worker ${oneByOne.at(-1)} ms/job`);
    }
    const result = {
      one_by_one_worker_ms: median(oneByOne),
      worker_ms: round(median(rounds.map((r) => r.worker_ms)), 2),
      in_process_ms: round(median(rounds.map((r) => r.in_process_ms)), 2),
      ratio: round(median(rounds.map((r) => r.ratio)), 2),
    };
    console.log(
      `median: worker ${result.worker_ms} ms/job in bursts, ${result.one_by_one_worker_ms} one by one; in process ${result.in_process_ms} ms/job, ratio ${result.ratio}`,
    );
    writeResult('worker-cpu', {
      benchmark: 'worker-cpu',
      date: new Date().toISOString(),
      node: process.version,
      cpus: cpus().length,
      load_average: { start: round(loadStart), end: round(loadavg()[0]!) },
      records: parsed.columns.length,
      jobs: JOBS,
      ...result,
      target_ms: 1,
      rounds,
      one_by_one_rounds: oneByOne,
    });
  } finally {
    await worker.stop();
    await closeRedis(redis);
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
