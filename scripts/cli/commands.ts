/** What each command does, over the generated client. Each returns the process' exit code. */
import { writeFileSync } from 'node:fs';
import { ENDED, ok, type ApiClient, type Job } from '@meteorites/client';
import { commandHelp, USAGE, type Command } from './args.ts';
import { fetchDataset } from './fetch.ts';
import { load } from './load.ts';
import { formatTable, out } from './output.ts';

/** Exit code of `wait` when --timeout runs out first (as timeout(1) has it). */
export const EXIT_TIMEOUT = 124;

async function submit(client: ApiClient, analysis: string, params: Record<string, unknown>): Promise<number> {
  const job = await ok(client.POST('/jobs', { body: { analysis, params } }));
  out(
    `${job.id} ${job.status} ${job.deduplicated ? '(deduplicated: the same analysis and params on this dataset already had this job)' : '(new job)'}`,
  );
  return 0;
}

function describeEnd(job: Job): string {
  const took =
    job.started_at && job.finished_at ? ` in ${((Date.parse(job.finished_at) - Date.parse(job.started_at)) / 1000).toFixed(1)} s` : '';
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

async function result(client: ApiClient, id: string, chart: string | undefined, csv: string | undefined): Promise<number> {
  const data = await ok(client.GET('/results/{id}', { params: { path: { id } } }));
  out(JSON.stringify(data, null, 2));
  if (csv !== undefined) {
    const table = await ok(client.GET('/results/{id}', { params: { path: { id }, query: { format: 'csv' } }, parseAs: 'text' }));
    writeFileSync(csv, table);
    process.stderr.write(`wrote ${csv} (${table.split('\n').length - 2} rows)\n`);
  }
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

async function cancel(client: ApiClient, id: string): Promise<number> {
  const job = await ok(client.DELETE('/jobs/{id}', { params: { path: { id } } }));
  out(
    job.status === 'cancelled'
      ? `job ${job.id} cancelled (${job.analysis})`
      : `job ${job.id} is ${job.status}: asked to stop, it ends cancelled at its next checkpoint (${job.analysis}); \`wait ${job.id}\` shows when`,
  );
  return 0;
}

/** One JSON Schema property as a short phrase: `integer 1..1000, default 10`, `1|10|100`. */
export function describeParam(schema: Record<string, unknown>): string {
  const parts: string[] = [];
  if (Array.isArray(schema.enum)) parts.push(schema.enum.map(String).join('|'));
  else parts.push(typeof schema.type === 'string' ? schema.type : 'any');
  const min = schema.minimum ?? schema.minLength;
  const max = schema.maximum ?? schema.maxLength;
  if (typeof min === 'number' || typeof max === 'number') {
    const range = `${min ?? ''}..${max ?? ''}`;
    parts[0] += schema.type === 'string' ? ` (length ${range})` : ` ${range}`;
  }
  if (schema.default !== undefined) parts.push(`default ${JSON.stringify(schema.default)}`);
  return parts.join(', ');
}

async function analyses(client: ApiClient, json: boolean): Promise<number> {
  const list = await ok(client.GET('/analyses'));
  if (json) {
    out(JSON.stringify(list, null, 2));
    return 0;
  }
  list.forEach((a, i) => {
    if (i > 0) out('');
    out(`${a.name}: ${a.description}`);
    const props = Object.entries((a.params.properties ?? {}) as Record<string, Record<string, unknown>>);
    if (props.length === 0) {
      out('  (no params)');
      return;
    }
    const table = formatTable(
      ['PARAM', 'VALUES', 'MEANING'],
      props.map(([name, s]) => [name, describeParam(s), typeof s.description === 'string' ? s.description : '']),
    );
    out(table.replace(/^/gm, '  '));
  });
  out(`\nsubmit one with: meteorites submit <analysis> --param name=value ...`);
  return 0;
}

async function summary(client: ApiClient, json: boolean): Promise<number> {
  const s = await ok(client.GET('/data/summary'));
  if (json) out(JSON.stringify(s, null, 2));
  else if (s.state === 'empty') out(`no dataset loaded (version ${s.version})`);
  else {
    const from = s.source ? ` from ${s.source}` : '';
    const at = s.loaded_at ? `, loaded ${s.loaded_at}` : '';
    out(`dataset version ${s.version}: ${s.state}, ${s.records} records${from}${at}`);
  }
  return 0;
}

export async function run(client: ApiClient, cmd: Command): Promise<number> {
  switch (cmd.name) {
    case 'help':
      out(cmd.topic ? commandHelp(cmd.topic) : USAGE);
      return 0;
    case 'load':
      return load(client, cmd.file, cmd.format);
    case 'submit':
      return submit(client, cmd.analysis, cmd.params);
    case 'wait':
      return wait(client, cmd.id, cmd.timeoutS);
    case 'result':
      return result(client, cmd.id, cmd.chart, cmd.csv);
    case 'jobs':
      return jobs(client, cmd.status, cmd.limit);
    case 'cancel':
      return cancel(client, cmd.id);
    case 'analyses':
      return analyses(client, cmd.json);
    case 'summary':
      return summary(client, cmd.json);
    case 'fetch':
      return fetchDataset(client, cmd);
  }
}
