/**
 * What the scale and workers benchmarks share: the API as a real child process, jobs timed end
 * to end over HTTP, and readings of a process' memory and CPU from /proc.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { freePort, type Redis } from '@meteorites/shared';

export const root = fileURLToPath(new URL('..', import.meta.url));
const CLOCK_TICKS = 100;

export class BenchStepError extends Error {
  override name = 'BenchStepError';
}

/** Resident and peak resident memory of a live process, MiB (Linux /proc). */
export function memoryOf(pid: number): { rss_mb: number; peak_mb: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rss_mb: round(kb('VmRSS') / 1024), peak_mb: round(kb('VmHWM') / 1024) };
}

/** User + system CPU seconds a live process has used (Linux /proc, assumes 100 clock ticks a second). */
export function cpuSecondsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name, which may itself hold spaces and brackets.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

/** System (kernel) CPU seconds of a live process: its syscalls, e.g. socket and pipe writes. */
export function systemSecondsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[12]) / CLOCK_TICKS;
}

export async function redisCpuSeconds(redis: Redis): Promise<number> {
  const info = await redis.info('cpu');
  return Number(/used_cpu_user:([\d.]+)/.exec(info)![1]) + Number(/used_cpu_sys:([\d.]+)/.exec(info)![1]);
}

export async function usedMemory(redis: Redis): Promise<number> {
  return Number(/used_memory:(\d+)/.exec(await redis.info('memory'))![1]);
}

/** Waits until no AOF rewrite (a fork copying the whole dataset) runs, so it does not share the cores with a measurement. */
export async function aofIdle(redis: Redis): Promise<void> {
  while (/aof_rewrite_in_progress:1|aof_rewrite_scheduled:1/.test(await redis.info('persistence'))) await sleep(50);
}

export interface ApiProcess {
  base: string;
  pid: number;
  stop(): Promise<void>;
}

/** `npm run api` without npm's wrapper: api/src/server.ts through tsx, on a free loopback port. */
export async function startApi(redisUrl: string): Promise<ApiProcess> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', 'api/src/server.ts'], {
    cwd: root,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, REDIS_URL: redisUrl, HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = once(child, 'exit');
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (child.exitCode !== null) throw new BenchStepError(`the API exited at start: ${stderr.slice(-2000)}`);
    if (Date.now() > deadline) throw new BenchStepError(`the API did not answer /health within 90 s: ${stderr.slice(-2000)}`);
    try {
      if ((await fetch(`${base}/health`)).ok) break;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  return {
    base,
    pid: child.pid!,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/**
 * POST /jobs, then `GET /jobs/{id}?wait=30` until it ends, then GET /results/{id}: milliseconds
 * from the POST until the result's last byte. A deduplicated answer is an error: the caller
 * promised distinct params, and a dedup hit would time a lookup, not an analysis.
 */
export async function timeJob(base: string, analysis: string, params: Record<string, unknown>): Promise<number> {
  const t0 = performance.now();
  const posted = await fetch(`${base}/jobs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ analysis, params }),
  });
  if (posted.status !== 202)
    throw new BenchStepError(`POST /jobs ${analysis} ${JSON.stringify(params)} answered ${posted.status}: ${await posted.text()}`);
  const { id } = (await posted.json()) as { id: string };
  for (;;) {
    const job = (await (await fetch(`${base}/jobs/${id}?wait=30`)).json()) as { status: string; error: string | null };
    if (job.status === 'finished') break;
    if (job.status !== 'queued' && job.status !== 'running')
      throw new BenchStepError(`job ${id} (${analysis}) ended ${job.status}: ${job.error}`);
  }
  const result = await fetch(`${base}/results/${id}`);
  await result.arrayBuffer();
  if (result.status !== 200) throw new BenchStepError(`GET /results/${id} answered ${result.status}`);
  return performance.now() - t0;
}

/** Milliseconds of one GET, body read; anything but 200 is an error. */
export async function timeGet(url: string): Promise<number> {
  const t0 = performance.now();
  const res = await fetch(url);
  await res.arrayBuffer();
  if (res.status !== 200) throw new BenchStepError(`GET ${url} answered ${res.status}`);
  return performance.now() - t0;
}

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

export const round = (x: number, digits = 1): number => Number(x.toFixed(digits));

export function writeResult(name: string, data: object): void {
  mkdirSync(fileURLToPath(new URL('./results/', import.meta.url)), { recursive: true });
  writeFileSync(fileURLToPath(new URL(`./results/${name}.json`, import.meta.url)), `${JSON.stringify(data, null, 2)}\n`);
  console.log(`wrote bench/results/${name}.json`);
}
