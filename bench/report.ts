/**
 * The table of latest figures in bench/README.md, generated from bench/results/*.json so the
 * README never quotes a run the results do not hold. `npm run bench -- --report` rewrites it (and
 * `npm run bench` does after every run); `reportTable()` is what the docs test compares.
 * A new benchmark's JSON needs a row here: an unknown one is an error, not a silent gap.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { replaceMarked, rewriteMarked } from '../scripts/doc-markers.ts';

const MARKER = 'bench-report';
export const benchReadmePath = fileURLToPath(new URL('./README.md', import.meta.url));
const resultsDir = fileURLToPath(new URL('./results/', import.meta.url));

export class UnknownBenchmarkError extends Error {
  override name = 'UnknownBenchmarkError';
  constructor(file: string) {
    super(`bench/report.ts has no row for bench/results/${file}: add one`);
  }
}

interface Common {
  benchmark: string;
  date: string;
  node: string;
  redis?: string;
  cpus: number;
}
interface Rate {
  records_per_s: number;
}
interface Load extends Common {
  best: { loader: Rate; naive: Rate; redis_benchmark: Rate };
  ratios: { vs_redis_benchmark: number; vs_naive: number };
  targets: { vs_redis_benchmark: number; vs_naive: number };
  memory: { bytes_per_record: number; hashes: number; id_set: number; snapshot: number };
}
interface Api extends Common {
  connections: number;
  hello_world: { requests_per_s: number };
  meteorite_by_id: { requests_per_s: number };
  ratio: number;
  target_ratio: number;
}
interface QueueRow {
  queue: string;
  concurrency: number;
  process_per_s: number;
}
interface Queue extends Common {
  jobs: number;
  rows: QueueRow[];
  ratios: Record<string, { process: number; target: number; ok: boolean }>;
}
interface Analysis extends Common {
  records: number;
  jobs: number;
  median_ms: number;
  p95_ms: number;
  target_median_ms: number;
  class_job_cpu?: { engine_ms: number; legacy_ms: number; ratio: number; target_ms: number };
  class_job_worker_cpu_ms?: number;
}
interface WorkerCpu extends Common {
  worker_ms: number;
  one_by_one_worker_ms: number;
  in_process_ms: number;
  ratio: number;
  target_ms: number;
}
interface Charts extends Common {
  runs: number;
  rows: { analysis: string; svg_ms: number; png_ms: number }[];
}
interface GroupBy extends Common {
  runs: number;
  target_ratio: number;
  results: { query: string; records: number; ours_ms: number; duckdb_ms: number; ratio: number; equal: boolean }[];
}
interface CsvLines {
  benchmark: string;
  date: string;
  node: string;
  parser: Record<string, { mib: number; s: number; per_mib_s: number }[]>;
  api: Record<string, { status: number; s: number; api_cpu_s: number }>;
}
interface Target {
  value: number;
  max: number;
  met: boolean;
}
interface Scale extends Common {
  sizes: { records: number }[];
  per_record_ratios: Record<string, number>[];
  targets: { per_record_ratio: number; at_1m: Record<string, Target> };
}
interface Events extends Common {
  streams: number;
  latency: { median_ms: number; p95_ms: number; deliveries: number };
  rate: { events_per_s: number; deliveries_per_s: number };
  streams_lost_or_wrong: number;
  target_median_ms: number;
}
interface Workers extends Common {
  jobs: number;
  best: { workers: number; jobs_per_s: number; speedup: number }[];
}

/** One line of the table: benchmark, figure, target, met. */
type Row = [string, string, string, string];

const n = (x: number) => x.toLocaleString('en-US', { maximumFractionDigits: 0 });
const ok = (met: boolean) => (met ? '✓' : '✗');
const ratio = (value: number, target: number) => `${value.toFixed(2)} ${ok(value >= target)}`;

function loadRows(r: Load): Row[] {
  const m = r.memory;
  return [
    [
      'load',
      `loader ${n(r.best.loader.records_per_s)} records/s; redis-benchmark \`-P 64\` HSET ${n(r.best.redis_benchmark.records_per_s)}/s; one awaited HSET per record ${n(r.best.naive.records_per_s)}/s`,
      `≥ ${r.targets.vs_redis_benchmark} × redis-benchmark, ≥ ${r.targets.vs_naive} × one-by-one`,
      `${ratio(r.ratios.vs_redis_benchmark, r.targets.vs_redis_benchmark)}, ${ratio(r.ratios.vs_naive, r.targets.vs_naive)}`,
    ],
    ['load', `Redis memory ${m.bytes_per_record} B per record (hashes ${m.hashes}, id set ${m.id_set}, snapshot ${m.snapshot})`, '–', '–'],
  ];
}

const apiRows = (r: Api): Row[] => [
  [
    'api',
    `\`GET /meteorites/{id}\` ${n(r.meteorite_by_id.requests_per_s)} req/s, bare Fastify ${n(r.hello_world.requests_per_s)} req/s (${r.connections} connections)`,
    `≥ ${r.target_ratio} × bare Fastify`,
    ratio(r.ratio, r.target_ratio),
  ],
];

function queueRows(r: Queue): Row[] {
  const concurrencies = [...new Set(r.rows.map((x) => x.concurrency))];
  return concurrencies.map((c) => {
    const rate = (q: string) => n(r.rows.find((x) => x.queue === q && x.concurrency === c)?.process_per_s ?? NaN);
    const bee = r.ratios[`bee-queue@${c}`]!;
    const bull = r.ratios[`bullmq@${c}`]!;
    return [
      `queue, c = ${c}`,
      `${n(r.jobs)} no-op jobs: ${rate('this queue')} jobs/s; Bee-Queue ${rate('bee-queue')}, BullMQ ${rate('bullmq')}`,
      `≥ ${bee.target} × Bee-Queue, ≥ ${bull.target} × BullMQ`,
      `${bee.process.toFixed(2)} ${ok(bee.ok)}, ${bull.process.toFixed(2)} ${ok(bull.ok)}`,
    ];
  });
}

/** bench/queue.ts --min-replicas-ack N: the same queue with and without a WAIT per enqueue and settle. */
interface QueueReplicasAck extends Common {
  jobs: number;
  min_replicas_ack: number;
  rows: (QueueRow & { enqueue_per_s: number })[];
}
function queueReplicasAckRows(r: QueueReplicasAck): Row[] {
  const rate = (q: string, c: number) => n(r.rows.find((x) => x.queue === q && x.concurrency === c)!.process_per_s);
  const concurrencies = [...new Set(r.rows.map((x) => x.concurrency))];
  const figures = concurrencies.map((c) => `c = ${c} ${rate('this queue + WAIT', c)} / ${rate('this queue', c)}`);
  return [['queue-replicas-ack', `jobs/s, ack ${r.min_replicas_ack} / 0: ${figures.join('; ')}`, '–', '–']];
}

/** bench/queue.ts --cluster: the same queue on one Redis and on a Redis Cluster (its slot's master), in turns. */
function queueClusterRows(r: QueueReplicasAck): Row[] {
  const rate = (q: string, c: number) => n(r.rows.find((x) => x.queue === q && x.concurrency === c)!.process_per_s);
  const concurrencies = [...new Set(r.rows.map((x) => x.concurrency))];
  const figures = concurrencies.map((c) => `c = ${c} ${rate('this queue, cluster', c)} / ${rate('this queue', c)}`);
  return [['queue-cluster', `jobs/s, cluster / one Redis: ${figures.join('; ')}`, '–', '–']];
}

function analysisRows(r: Analysis): Row[] {
  const rows: Row[] = [
    [
      'analysis',
      `POST /jobs to result, ${r.jobs} jobs, ${n(r.records)} records: median ${r.median_ms} ms, p95 ${r.p95_ms}`,
      `median ≤ ${r.target_median_ms} ms`,
      ok(r.median_ms <= r.target_median_ms),
    ],
  ];
  const c = r.class_job_cpu;
  if (c) {
    rows.push([
      'analysis',
      `mass-by-class job (analysis + JSON) ${c.engine_ms} ms, old code ${c.legacy_ms} (${c.ratio}×); worker ${r.class_job_worker_cpu_ms} ms/job, one by one via HTTP`,
      `≤ ${c.target_ms} ms`,
      ok(c.engine_ms <= c.target_ms),
    ]);
  }
  return rows;
}

const chartsRows = (r: Charts): Row[] => [
  ['charts', `median of ${r.runs}, SVG / PNG ms: ${r.rows.map((x) => `${x.analysis} ${x.svg_ms} / ${x.png_ms}`).join(', ')}`, '–', '–'],
];

function scaleRows(r: Scale): Row[] {
  const t = r.targets.at_1m;
  const figures: [string, Target | undefined, string][] = [
    ['load', t.load_s, 's'],
    ['mass-by-class first', t.class_first_s, 's'],
    ['warm', t.class_warm_s, 's'],
    ['worker', t.worker_peak_rss_mb ?? t.worker_rss_mb, 'MB peak'],
    ['Redis', t.redis_bytes_per_record, 'B/record'],
  ];
  const present = figures.filter((f): f is [string, Target, string] => f[1] !== undefined);
  const sizes = r.sizes.map((s) => s.records);
  const largest = Math.max(...sizes);
  const smallest = Math.min(...sizes);
  // Ratios are relative to the smallest size, whose own row is 1 by definition.
  const worst = Math.max(
    ...r.per_record_ratios
      .filter((x) => x.records !== smallest)
      .flatMap((x) =>
        Object.entries(x)
          .filter(([k]) => k !== 'records')
          .map(([, v]) => v),
      ),
  );
  return [
    [
      `scale, ${n(largest)} records`,
      present.map(([name, v, unit]) => `${name} ${v.value} ${unit}`).join('; '),
      present.map(([, v, unit]) => `≤ ${v.max} ${unit.split(' ')[0]}`).join(', '),
      present.map(([, v]) => ok(v.met)).join(' '),
    ],
    [
      'scale, growth',
      `time per record relative to ${n(smallest)}, any size up to ${n(largest)}: at most ${worst}`,
      `≤ ${r.targets.per_record_ratio}`,
      ok(worst <= r.targets.per_record_ratio),
    ],
  ];
}

function groupByRows(r: GroupBy): Row[] {
  const largest = Math.max(...r.results.map((x) => x.records));
  const at = r.results.filter((x) => x.records === largest);
  const ms = (v: number) => (v >= 10 ? v.toFixed(0) : v.toFixed(1));
  return [
    [
      `group-by, ${n(largest)} records`,
      `ours / DuckDB (1 thread) ms, median of ${r.runs}: ${at.map((x) => `${x.query.slice(0, 3)} ${ms(x.ours_ms)} / ${ms(x.duckdb_ms)}`).join(', ')}; results ${at.every((x) => x.equal) ? 'equal' : 'DIFFER'}`,
      `≤ ${r.target_ratio} × DuckDB`,
      at.map((x) => `${x.ratio.toFixed(2)} ${ok(x.ratio <= r.target_ratio && x.equal)}`).join(', '),
    ],
  ];
}

function csvLinesRows(r: CsvLines): Row[] {
  const line = r.parser['CSV, one long field, no cap'] ?? [];
  const perMib = line.map((x) => (x.per_mib_s * 1000).toFixed(1));
  const api = Object.entries(r.api).filter(([name]) => !name.startsWith('normal'));
  return [
    [
      'csv-lines',
      `one-line POST /data: ${api.map(([name, x]) => `${name} ${x.status} in ${x.s} s`).join(', ')}; a long line parses at ${perMib.join(' / ')} ms per MiB at ${line.map((x) => x.mib).join(', ')} MiB`,
      'linear in the body; refused at a 64 KiB row',
      ok(
        api.every(([, x]) => x.status === 400) &&
          Math.max(...line.map((x) => x.per_mib_s)) <= 4 * Math.min(...line.map((x) => x.per_mib_s)),
      ),
    ],
  ];
}

const eventsRows = (r: Events): Row[] => [
  [
    `events, ${r.streams} streams`,
    `worker settle to SSE client: median ${r.latency.median_ms} ms, p95 ${r.latency.p95_ms} ms; burst ${n(r.rate.events_per_s)} events/s ` +
      `(${n(r.rate.deliveries_per_s)} deliveries/s); streams that lost an event: ${r.streams_lost_or_wrong}`,
    `median ≤ ${r.target_median_ms} ms, none lost`,
    ok(r.latency.median_ms <= r.target_median_ms && r.streams_lost_or_wrong === 0),
  ],
];

const workersRows = (r: Workers): Row[] => [
  [
    'workers',
    `${r.best.map((b) => b.workers).join(' / ')} worker processes, ${n(r.jobs)} jobs: ${r.best.map((b) => n(b.jobs_per_s)).join(' / ')} jobs/s (speedup ${r.best.map((b) => `${b.speedup}×`).join(', ')})`,
    '–',
    '–',
  ],
];

const workerCpuRows = (r: WorkerCpu): Row[] => [
  [
    'worker-cpu',
    `mass-by-class worker CPU ${r.worker_ms} ms/job in bursts, ${r.one_by_one_worker_ms} one by one; in process ${r.in_process_ms} (${r.ratio}×)`,
    `≤ ${r.target_ms} ms`,
    ok(r.worker_ms <= r.target_ms),
  ],
];

const builders: Record<string, (r: never) => Row[]> = {
  load: loadRows,
  api: apiRows,
  queue: queueRows,
  'queue-replicas-ack': queueReplicasAckRows,
  'queue-cluster': queueClusterRows,
  analysis: analysisRows,
  charts: chartsRows,
  'group-by': groupByRows,
  events: eventsRows,
  'csv-lines': csvLinesRows,
  scale: scaleRows,
  workers: workersRows,
  'worker-cpu': workerCpuRows,
};
/** Table order: the default run's benchmarks, then the long ones. */
const ORDER = Object.keys(builders);

const cell = (s: string) => s.replace(/\|/g, '\\|');

export function reportTable(dir = resultsDir): string {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort((a, b) => ORDER.indexOf(a.slice(0, -5)) - ORDER.indexOf(b.slice(0, -5)));
  const lines = ['| benchmark | run (UTC) | figure | target | met |', '|---|---|---|---|---|'];
  const nodes = new Set<string>();
  const redises = new Set<string>();
  const cpus = new Set<number>();
  for (const file of files) {
    const build = builders[file.slice(0, -5)];
    if (!build) throw new UnknownBenchmarkError(file);
    const r = JSON.parse(readFileSync(`${dir}/${file}`, 'utf8')) as Common;
    nodes.add(r.node.replace(/^v/, ''));
    if (r.redis) redises.add(r.redis);
    if (r.cpus) cpus.add(r.cpus);
    const when = r.date.slice(0, 16).replace('T', ' ');
    for (const [name, figure, target, met] of build(r as never))
      lines.push(`| ${name} | ${when} | ${cell(figure)} | ${cell(target)} | ${met} |`);
  }
  const list = (set: Set<unknown>) => [...set].sort().join(' and ');
  lines.push('', `Measured on Node ${list(nodes)}, Redis ${list(redises)}, ${list(cpus)} cores.`);
  return lines.join('\n');
}

/** bench/README.md with its figures replaced by fresh ones. */
export function withFreshReport(readme: string): string {
  return replaceMarked(readme, MARKER, reportTable(), 'bench/README.md');
}

export function writeReport(): void {
  rewriteMarked(benchReadmePath, MARKER, reportTable());
  console.log('bench/README.md figures updated from bench/results/*.json');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) writeReport();
