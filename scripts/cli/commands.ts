/** What each command does, over the generated client. Each returns the process' exit code. */
import { createReadStream, statSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { Readable } from 'node:stream';
import cliProgress from 'cli-progress';
import { ENDED, ok, type ApiClient, type Job } from '@meteorites/shared/client/index';
import { USAGE, type Command } from './args.ts';

/** Exit code of `wait` when --timeout runs out first (as timeout(1) has it). */
export const EXIT_TIMEOUT = 124;

const mib = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);
const out = (line: string) => process.stdout.write(`${line}\n`);

/** Columns padded to their widest cell; the last one is not padded. */
export function formatTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  return [header, ...rows].map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ')).join('\n');
}

async function* counted(source: AsyncIterable<Buffer>, onBytes: (n: number) => void): AsyncGenerator<Buffer> {
  for await (const chunk of source) {
    onBytes(chunk.length);
    yield chunk;
  }
}

/** Streams the file as the request body: progress is bytes handed to the connection, not bytes read ahead. */
async function load(client: ApiClient, file: string, format: 'csv' | 'json'): Promise<number> {
  const size = statSync(file).size;
  const started = performance.now();
  const bar = process.stderr.isTTY
    ? new cliProgress.SingleBar(
        { format: '{phase} |{bar}| {percentage}% | {sent}/{size} MiB', hideCursor: true, stream: process.stderr },
        cliProgress.Presets.shades_classic,
      )
    : undefined;
  bar?.start(Math.max(1, size), 0, { phase: 'upload', sent: mib(0), size: mib(size) });
  let sent = 0;
  const body = counted(createReadStream(file, { highWaterMark: 256 * 1024 }), (n) => {
    sent += n;
    // The last bytes sent: the service now validates and stores while the bar waits at 100 %.
    bar?.update(sent, { phase: sent >= size ? 'store ' : 'upload', sent: mib(sent) });
  });
  const loaded = await ok(
    client.POST('/data', {
      params: { query: { source: basename(file) } },
      body: Readable.toWeb(Readable.from(body)) as never,
      bodySerializer: (b) => b,
      headers: { 'content-type': format === 'csv' ? 'text/csv' : 'application/json' },
      duplex: 'half',
    }),
  ).finally(() => bar?.stop());
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  out(`loaded ${loaded.records} records (version ${loaded.version}) from ${basename(file)} (${mib(size)} MiB) in ${seconds} s; skipped ${loaded.skipped_total}`);
  const reasons = new Map<string, number>();
  for (const s of loaded.skipped) reasons.set(s.reason, (reasons.get(s.reason) ?? 0) + 1);
  for (const [reason, count] of [...reasons].sort((a, b) => b[1] - a[1]).slice(0, 10)) out(`  ${count} × ${reason}`);
  return 0;
}

async function submit(client: ApiClient, analysis: string, params: Record<string, unknown>): Promise<number> {
  const job = await ok(client.POST('/jobs', { body: { analysis, params } }));
  out(`${job.id} ${job.status} ${job.deduplicated ? '(deduplicated: the same analysis and params on this dataset already had this job)' : '(new job)'}`);
  return 0;
}

function describeEnd(job: Job): string {
  const took = job.started_at && job.finished_at ? ` in ${((Date.parse(job.finished_at) - Date.parse(job.started_at)) / 1000).toFixed(1)} s` : '';
  if (job.status === 'finished') return `job ${job.id} finished${took} (${job.analysis})`;
  return `job ${job.id} ${job.status}${job.error ? `: ${job.error}` : ''} (${job.analysis})`;
}

/** Long-polls in 30 s rounds (the API's longest wait) until the job ends or the timeout runs out. */
async function wait(client: ApiClient, id: string, timeoutS: number | undefined): Promise<number> {
  const deadline = timeoutS === undefined ? Infinity : Date.now() + timeoutS * 1000;
  for (;;) {
    const waitS = Math.min(30, Math.max(0, Math.round((deadline - Date.now()) / 100) / 10));
    const job = await ok(client.GET('/jobs/{id}', { params: { path: { id }, query: { wait: waitS } } }));
    if (ENDED.includes(job.status)) {
      out(describeEnd(job));
      return job.status === 'finished' ? 0 : 1;
    }
    if (Date.now() >= deadline) {
      out(`job ${id} is still ${job.status} (progress ${Math.round(job.progress * 100)} %) after ${timeoutS} s`);
      return EXIT_TIMEOUT;
    }
  }
}

async function result(client: ApiClient, id: string, chart: string | undefined): Promise<number> {
  const data = await ok(client.GET('/results/{id}', { params: { path: { id } } }));
  out(JSON.stringify(data, null, 2));
  if (chart !== undefined) {
    const png = await ok(client.GET('/results/{id}/chart.png', { params: { path: { id } }, parseAs: 'arrayBuffer' }));
    writeFileSync(chart, Buffer.from(png));
    process.stderr.write(`wrote ${chart} (${png.byteLength} bytes)\n`);
  }
  return 0;
}

async function jobs(client: ApiClient, status: Job['status'] | undefined, limit: number | undefined): Promise<number> {
  const page = await ok(client.GET('/jobs', { params: { query: { ...(status ? { status } : {}), ...(limit ? { limit } : {}) } } }));
  if (page.items.length === 0) {
    out('no jobs');
    return 0;
  }
  const rows = page.items.map((j) => [j.id, j.analysis, j.status, `${Math.round(j.progress * 100)}%`, j.created_at, j.finished_at ?? '-']);
  out(formatTable(['ID', 'ANALYSIS', 'STATUS', 'PROGRESS', 'CREATED', 'FINISHED'], rows));
  if (page.next_cursor) out(`(more jobs: raise --limit to see them)`);
  return 0;
}

export async function run(client: ApiClient, cmd: Command): Promise<number> {
  switch (cmd.name) {
    case 'help':
      out(USAGE);
      return 0;
    case 'load':
      return load(client, cmd.file, cmd.format);
    case 'submit':
      return submit(client, cmd.analysis, cmd.params);
    case 'wait':
      return wait(client, cmd.id, cmd.timeoutS);
    case 'result':
      return result(client, cmd.id, cmd.chart);
    case 'jobs':
      return jobs(client, cmd.status, cmd.limit);
  }
}
