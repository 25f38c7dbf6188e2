/**
 * POST /jobs -> result, end to end: the API (built in-process, listening on loopback) and one
 * worker process against a Redis (started here) holding the full dataset. 50 jobs with distinct
 * params (no dedup hits) run one after another, each timed from the POST until GET /results
 * answered, the wait done by `GET /jobs/{id}?wait=30`. A few warm-up jobs first, so the worker's
 * in-memory snapshot is loaded: the figures are warm. Then 40 mass-by-class jobs the same way,
 * reading the worker process' CPU time (/proc) around them: its CPU per job, queue work included.
 *
 * Before that, in this process: the CPU time of a mass-by-class job's own work (the analysis and
 * the JSON.stringify the worker does), the engine against the code it replaced (bench/legacy),
 * interleaved round by round on the same params, results checked equal. The ratio holds up on a
 * busy machine better than the times.
 *
 *   npx tsx bench/analysis.ts
 */
import { createReadStream, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import {
  resultJson,
  validateJobRequest,
  type AnalysisContext,
  type Columns,
  loadConfig,
  closeRedis,
  connectRedis,
} from '@meteorites/shared';
import { RedisServer } from '@meteorites/tools';
import { parseDataset, storeDataset } from '@meteorites/dataset';
import { buildApp } from '@meteorites/api';
import { fullDataset } from '@meteorites/test-utils/env';
import { killAllWorkers, spawnWorker } from '@meteorites/test-utils/worker';
import { legacyMassByClass } from './legacy/mass-by-class.ts';
import { BenchStepError, cpuSecondsOf } from './support.ts';

const JOBS = 50;
const WARMUP = 5;
const TARGET_MEDIAN_MS = 8;
const TARGET_CPU_MS = 1;
const CPU_ROUNDS = 15;
const CLASS_JOBS = 40;

const classParams = (i: number) => ({ year_from: 1700 + i * 3 });

/**
 * CPU ms per mass-by-class job (analysis + JSON) in this process, the engine and the legacy code
 * taking turns each round; the median round of each.
 */
async function jobCpu(columns: Columns) {
  const ctx: AnalysisContext = { datasetVersion: 1, progress: async () => {}, now: () => new Date(0) };
  const { analysis } = validateJobRequest('mass-by-class', {});
  const params = Array.from({ length: CLASS_JOBS }, (_, i) => validateJobRequest('mass-by-class', classParams(i)).params);
  const contenders = {
    engine: async (p: Record<string, unknown>) => resultJson(analysis, columns, p, ctx),
    legacy: async (p: Record<string, unknown>) => JSON.stringify(await legacyMassByClass(columns, p, ctx)),
  };
  for (const p of params) {
    const [a, b] = [JSON.parse(await contenders.engine(p)), JSON.parse(await contenders.legacy(p))];
    if (!isDeepStrictEqual(a, b)) throw new BenchStepError(`mass-by-class ${JSON.stringify(p)}: the engine and the legacy code differ`);
  }
  const rounds: Record<keyof typeof contenders, number[]> = { engine: [], legacy: [] };
  for (let r = 0; r < CPU_ROUNDS; r++) {
    for (const name of (r % 2 ? ['legacy', 'engine'] : ['engine', 'legacy']) as (keyof typeof contenders)[]) {
      const before = process.cpuUsage();
      for (const p of params) await contenders[name](p);
      const used = process.cpuUsage(before);
      rounds[name].push((used.user + used.system) / 1000 / params.length);
    }
  }
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
  return {
    engine_ms: round2(med(rounds.engine)),
    legacy_ms: round2(med(rounds.legacy)),
    ratio: round2(med(rounds.engine) / med(rounds.legacy)),
  };
}

/** 50+ distinct requests over every analysis. */
function requests(): { analysis: string; params: Record<string, unknown> }[] {
  const out: { analysis: string; params: Record<string, unknown> }[] = [];
  for (let i = 0; out.length < JOBS + WARMUP; i++) {
    const year = 1800 + i * 4;
    out.push(
      [
        { analysis: 'mass-by-class', params: { year_from: year } },
        { analysis: 'mass-by-year', params: { bin: [1, 10, 100][i % 3], year_to: 2000 + i } },
        { analysis: 'mass-by-fall', params: { year_from: year, year_to: year + 50 } },
        { analysis: 'heaviest', params: { n: 10 + i } },
        { analysis: 'geo-grid', params: { cell_deg: [1, 2, 5, 10, 15][i % 5], year_from: year } },
      ][i % 5]!,
    );
  }
  return out;
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-analysis-'));
  const redis = new RedisServer({ dataDir: dir, appendfsync: 'everysec' });
  await redis.start();
  const app = await buildApp({ config: { ...loadConfig({ REDIS_URL: redis.url }), LOG_LEVEL: 'silent' } });
  try {
    const parsed = await parseDataset(createReadStream(fullDataset().csv), 'csv');
    const client = await connectRedis(redis.url);
    await storeDataset(client, parsed, { source: 'bench' });
    await closeRedis(client);
    const cpu = await jobCpu(parsed.columns);
    console.log(
      `mass-by-class job CPU (analysis + JSON), median of ${CPU_ROUNDS} rounds of ${CLASS_JOBS}: engine ${cpu.engine_ms} ms, legacy ${cpu.legacy_ms} ms (ratio ${cpu.ratio})`,
    );
    const worker = await spawnWorker(redis.url, {
      ENABLE_TEST_ANALYSES: 'false',
      WORKER_CONCURRENCY: '2',
      JOB_LEASE_MS: '30000',
      JOB_RECOVERY_INTERVAL_MS: '5000',
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
    console.log(`${parsed.columns.length} records loaded; API at ${base}; one worker process; ${JOBS} jobs after ${WARMUP} warm-up jobs`);

    const endToEnd = async (req: { analysis: string; params: Record<string, unknown> }) => {
      const t0 = performance.now();
      const posted = await fetch(`${base}/jobs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(req),
      });
      if (posted.status !== 202) throw new Error(`POST /jobs answered ${posted.status}: ${await posted.text()}`);
      const { id } = (await posted.json()) as { id: string };
      const job = (await (await fetch(`${base}/jobs/${id}?wait=30`)).json()) as { status: string; error: string | null };
      if (job.status !== 'finished') throw new Error(`job ${id} ended ${job.status}: ${job.error}`);
      const result = await fetch(`${base}/results/${id}`);
      await result.arrayBuffer();
      if (result.status !== 200) throw new Error(`GET /results answered ${result.status}`);
      return performance.now() - t0;
    };
    const timings: { analysis: string; ms: number }[] = [];
    for (const [i, req] of requests().entries()) {
      const ms = await endToEnd(req);
      if (i >= WARMUP) timings.push({ analysis: req.analysis, ms });
    }
    // Params the mixed run did not use (no dedup answer): each job runs.
    const cpuBefore = cpuSecondsOf(worker.pid);
    for (let i = 0; i < CLASS_JOBS; i++) await endToEnd({ analysis: 'mass-by-class', params: { ...classParams(i), year_to: 2500 } });
    const workerCpuMs = round2(((cpuSecondsOf(worker.pid) - cpuBefore) * 1000) / CLASS_JOBS);

    const sorted = timings.map((t) => t.ms).sort((a, b) => a - b);
    const median = percentile(sorted, 50);
    const p95 = percentile(sorted, 95);
    const byAnalysis = [...new Set(timings.map((t) => t.analysis))].map((analysis) => {
      const ms = timings
        .filter((t) => t.analysis === analysis)
        .map((t) => t.ms)
        .sort((a, b) => a - b);
      return { analysis, jobs: ms.length, median_ms: round(percentile(ms, 50)), p95_ms: round(percentile(ms, 95)) };
    });
    console.log(`\n${'analysis'.padEnd(16)} ${'jobs'.padStart(5)} ${'median ms'.padStart(10)} ${'p95 ms'.padStart(8)}`);
    for (const a of byAnalysis)
      console.log(
        `${a.analysis.padEnd(16)} ${String(a.jobs).padStart(5)} ${a.median_ms.toFixed(1).padStart(10)} ${a.p95_ms.toFixed(1).padStart(8)}`,
      );
    console.log(`${'all'.padEnd(16)} ${String(sorted.length).padStart(5)} ${median.toFixed(1).padStart(10)} ${p95.toFixed(1).padStart(8)}`);
    console.log(
      `\nmedian ${median.toFixed(1)} ms (target <= ${TARGET_MEDIAN_MS} ms) ${median <= TARGET_MEDIAN_MS ? 'OK' : 'ABOVE TARGET'}`,
    );
    console.log(`worker process CPU per mass-by-class job, queue work included: ${workerCpuMs} ms`);

    mkdirSync(fileURLToPath(new URL('./results/', import.meta.url)), { recursive: true });
    writeFileSync(
      fileURLToPath(new URL('./results/analysis.json', import.meta.url)),
      `${JSON.stringify(
        {
          benchmark: 'analysis',
          date: new Date().toISOString(),
          node: process.version,
          cpus: cpus().length,
          records: parsed.columns.length,
          jobs: sorted.length,
          median_ms: round(median),
          p95_ms: round(p95),
          target_median_ms: TARGET_MEDIAN_MS,
          by_analysis: byAnalysis,
          class_job_cpu: { ...cpu, jobs: CLASS_JOBS, rounds: CPU_ROUNDS, target_ms: TARGET_CPU_MS },
          class_job_worker_cpu_ms: workerCpuMs,
        },
        null,
        2,
      )}\n`,
    );
    console.log('wrote bench/results/analysis.json');
  } finally {
    await killAllWorkers();
    await app.close();
    await redis.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const round = (x: number) => Math.round(x * 10) / 10;
const round2 = (x: number) => Math.round(x * 100) / 100;

await main();
