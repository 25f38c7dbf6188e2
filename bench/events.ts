/**
 * Events from a worker's settle to SSE clients: the API and one worker as processes, 200 open
 * `GET /events` streams (one socket each) in this process. The settle writes the `finished` entry;
 * its id is Redis' clock in ms (same machine), so the latency of a delivery is when the client
 * parsed it minus the id's ms (over by less than 1 ms: the id truncates).
 *
 * Latency: jobs one after another (the next once every stream saw the last one finish), so
 * nothing queues. Rate: a burst of jobs submitted at once, from the first POST until every stream
 * has the last event; events/s counts each event once, deliveries/s once per stream. Every stream
 * must hold exactly the stream's entries for those jobs, in order: none lost, none twice.
 *
 *   npx tsx bench/events.ts
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectRedis, closeRedis, eventsFromEntry, keys } from '@meteorites/shared';
import { RedisServer } from '@meteorites/tools';
import { spawnApi } from '@meteorites/test-utils/api-process';
import { killAllWorkers, spawnWorker } from '@meteorites/test-utils/worker';
import { openSse, type SseStream } from '@meteorites/test-utils/sse';
import { BenchStepError, cpuSecondsOf, median, memoryOf, root, round, writeResult } from './support.ts';

const STREAMS = 200;
const LATENCY_JOBS = 100;
const BURST_JOBS = 500;
const TARGET_MEDIAN_MS = 20;
const ENV = { ENABLE_TEST_ANALYSES: 'true', SSE_MAX_STREAMS: '1000', SSE_MAX_STREAMS_PER_CLIENT: '1000' };

const idMs = (id: string) => Number(id.slice(0, id.indexOf('-')));
const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;

async function submit(base: string): Promise<string> {
  const res = await fetch(`${base}/jobs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ analysis: 'test-sleep', params: { steps: 1, step_ms: 0, tag: randomUUID() } }),
  });
  if (res.status !== 202) throw new BenchStepError(`POST /jobs answered ${res.status}: ${await res.text()}`);
  return ((await res.json()) as { id: string }).id;
}

const jobOf = (data: string) => (JSON.parse(data) as { id?: string }).id;

/** The jobs a stream saw finish, kept up to date as its messages come (a scan per check would cost more than the delivery). */
class Finished {
  readonly ids = new Map<string, number>();
  #at = 0;
  constructor(readonly stream: SseStream) {}
  has(job: string): boolean {
    const messages = this.stream.messages;
    for (; this.#at < messages.length; this.#at++) {
      const m = messages[this.#at]!;
      if (m.event === 'finished') this.ids.set(jobOf(m.data)!, this.#at);
    }
    return this.ids.has(job);
  }
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-events-'));
  const server = new RedisServer({ dataDir: dir, appendfsync: 'everysec' });
  await server.start();
  const db = await connectRedis(server.url);
  const redisVersion = /redis_version:(\S+)/.exec(await db.info('server'))![1]!;
  const [api] = await Promise.all([
    spawnApi(server.url, { ...ENV, LOG_LEVEL: 'warn' }),
    spawnWorker(server.url, { ...ENV, WORKER_CONCURRENCY: '2', JOB_LEASE_MS: '30000' }),
  ]);
  const streams: SseStream[] = [];
  try {
    const sample = readFileSync(join(root, 'data/sample.json'));
    const loaded = await fetch(`${api.url}/data`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: sample });
    if (loaded.status !== 201) throw new BenchStepError(`POST /data answered ${loaded.status}`);
    const before = { ...memoryOf(api.pid), cpu: cpuSecondsOf(api.pid) };
    for (let i = 0; i < STREAMS; i += 50) {
      streams.push(...(await Promise.all(Array.from({ length: 50 }, () => openSse(`${api.url}/events`)))));
    }
    await Promise.all(streams.map((s) => s.until(() => s.comments.includes('connected'), 'the first line')));
    const finished = streams.map((s) => new Finished(s));
    console.log(`${STREAMS} streams open on the API; Redis ${redisVersion}, node ${process.version}, ${cpus().length} cpus`);

    // Latency, one job at a time.
    const latencies: number[] = [];
    for (let i = 0; i < LATENCY_JOBS; i++) {
      const id = await submit(api.url);
      await Promise.all(finished.map((f) => f.stream.until(() => f.has(id), `job ${id} to finish`, 60_000)));
      for (const f of finished) {
        const m = f.stream.messages[f.ids.get(id)!]!;
        latencies.push(m.receivedAt - idMs(m.id!));
      }
    }
    latencies.sort((x, y) => x - y);

    // Rate, a burst.
    const mark = streams.map((s) => s.messages.length);
    const cpu0 = cpuSecondsOf(api.pid);
    const t0 = performance.now();
    const jobs: string[] = [];
    for (let i = 0; i < BURST_JOBS; i += 50) {
      jobs.push(...(await Promise.all(Array.from({ length: Math.min(50, BURST_JOBS - i) }, () => submit(api.url)))));
    }
    await Promise.all(finished.map((f) => f.stream.until(() => jobs.every((id) => f.has(id)), 'every job to finish', 300_000)));
    const seconds = (performance.now() - t0) / 1000;
    const cpu = cpuSecondsOf(api.pid) - cpu0;
    const after = { ...memoryOf(api.pid), cpu: cpuSecondsOf(api.pid) };

    // None lost, none twice: each stream holds exactly the stream's entries for the burst's jobs.
    const wanted = new Set(jobs);
    // An entry may hold several events (a queue step's): its events' ids, as the API numbers them.
    const entries = (await db.xRange(keys.events, '-', '+')) ?? [];
    const expected = entries
      .flatMap((e) => eventsFromEntry(e.id, Object.entries(e.message).flat()))
      .filter((e) => e.job !== undefined && wanted.has(e.job))
      .map((e) => e.id);
    let lost = 0;
    for (const [i, s] of streams.entries()) {
      const got = s.messages
        .slice(mark[i])
        .filter((m) => wanted.has(jobOf(m.data)!))
        .map((m) => m.id);
      if (got.length !== expected.length || got.some((id, k) => id !== expected[k])) lost++;
    }
    const result = {
      benchmark: 'events',
      date: new Date().toISOString(),
      node: process.version,
      redis: redisVersion,
      cpus: cpus().length,
      streams: STREAMS,
      latency: {
        jobs: LATENCY_JOBS,
        deliveries: latencies.length,
        median_ms: round(median(latencies)),
        p95_ms: round(percentile(latencies, 95)),
        max_ms: round(latencies.at(-1)!),
      },
      rate: {
        jobs: BURST_JOBS,
        events: expected.length,
        deliveries: expected.length * STREAMS,
        seconds: round(seconds, 2),
        events_per_s: Math.round(expected.length / seconds),
        deliveries_per_s: Math.round((expected.length * STREAMS) / seconds),
        api_cpu_s: round(cpu, 2),
      },
      streams_lost_or_wrong: lost,
      api_rss_mb: { before_streams: before.rss_mb, after: after.rss_mb },
      target_median_ms: TARGET_MEDIAN_MS,
    };
    console.log(
      `settle to SSE client, ${STREAMS} streams: median ${result.latency.median_ms} ms, ` +
        `p95 ${result.latency.p95_ms} ms, max ${result.latency.max_ms} ms ` +
        `(${latencies.length} deliveries)\nburst of ${BURST_JOBS} jobs: ${expected.length} events in ${result.rate.seconds} s, ` +
        `${result.rate.events_per_s} events/s, ${result.rate.deliveries_per_s} deliveries/s; API CPU ${result.rate.api_cpu_s} s; ` +
        `streams with a lost, extra or misordered event: ${lost}; API RSS ${before.rss_mb} -> ${after.rss_mb} MB`,
    );
    writeResult('events', result);
    if (lost > 0) throw new BenchStepError(`${lost} streams lost or reordered events`);
  } finally {
    for (const s of streams) s.close();
    await Promise.all([api.stop(), killAllWorkers()]);
    await closeRedis(db);
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
