/**
 * Bodies of one long line (issue 19, defect 2): how their cost grows with their size.
 *   1. The CSV and JSON readers alone, in-process, fed 64 KiB chunks as a socket gives them: one
 *      line of 1, 2, 4 and 8 MiB (a long field, and a row of nothing but commas), once with the
 *      row cap lifted (what the parse itself costs: it must grow in proportion to the size) and
 *      once as the API runs them (refused at the cap: the same small cost whatever the size).
 *      Plus the speed of the normal NASA CSV, which the change must not slow down.
 *   2. The API as a child process over real sockets: POST /data of an 8 MiB one-line CSV, and of
 *      a gzip body that expands to one 70 MiB line: the time to the answer and the API's CPU; a
 *      client that gets no answer within CLIENT_DEADLINE_S seconds gives up, and then the API's
 *      CPU is read for a few more seconds (it must stop growing once the client has gone).
 *
 *   npx tsx bench/csv-lines.ts [parser] [normal] [api]    (all three by default; CSV_LINES_DEADLINE_S=60)
 */
import { request } from 'node:http';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { gzipSync } from 'node:zlib';
import { RedisServer } from '@meteorites/tools';
import { parseDataset, type InputFormat } from '@meteorites/dataset';
import { fullDataset } from '@meteorites/test-utils/env';
import { cpuSecondsOf, round, startApi, writeResult, type ApiProcess } from './support.ts';

const MIB = 1024 * 1024;
const SIZES_MIB = [1, 2, 4, 8];
const CHUNK = 64 * 1024;
const HEADER = 'name,id,nametype,recclass,mass (g),fall,year,reclat,reclong,GeoLocation\n';
// The bench's own knob, not the service's configuration: read here only.
const DEADLINE_S = Number(process.env.CSV_LINES_DEADLINE_S ?? 60);
/** How long the API's CPU is watched after a client gave up. */
const AFTER_S = 5;

/** One-line bodies of n bytes; `capped`: the reader's cap cannot be lifted (JSON's value cap). */
const bodies: Record<string, { make: (bytes: number) => { text: string; format: InputFormat }; capped?: boolean }> = {
  'CSV, one long field': { make: (n) => ({ text: `${HEADER}${'a'.repeat(n)},1,Valid,L5,21,Fell,1880,,,\n`, format: 'csv' }) },
  'CSV, a row of commas': { make: (n) => ({ text: `${HEADER}${','.repeat(n)}\n`, format: 'csv' }) },
  'JSON, one long member name': {
    make: (n) => ({ text: `{"${'a'.repeat(n)}": 1, "meteorite_landings": []}`, format: 'json' }),
    capped: true,
  },
};

async function* chunks(buf: Buffer): AsyncGenerator<Buffer> {
  for (let i = 0; i < buf.length; i += CHUNK) yield buf.subarray(i, i + CHUNK);
}

/** Seconds to parse (or refuse) the body, the best of `rounds`; and how it ended. */
async function timeParse(buf: Buffer, format: InputFormat, uncapped: boolean, rounds: number): Promise<{ s: number; outcome: string }> {
  let best = Infinity;
  let outcome = '';
  for (let r = 0; r < rounds; r++) {
    const t = performance.now();
    try {
      // `maxRowBytes` lifts the cap where the readers have one (ignored where they do not).
      const parsed = await parseDataset(chunks(buf), format, uncapped ? ({ maxRowBytes: Infinity } as object) : {});
      outcome = `${parsed.columns.length} records`;
    } catch (err) {
      outcome = `${(err as Error).name}: ${(err as Error).message.slice(0, 90)}`;
    }
    best = Math.min(best, (performance.now() - t) / 1000);
  }
  return { s: round(best, 4), outcome };
}

async function parserSection(): Promise<object> {
  const out: Record<string, object> = {};
  for (const [kind, { make, capped }] of Object.entries(bodies)) {
    for (const uncapped of capped ? [false] : [true, false]) {
      const label = `${kind}${uncapped ? ', no cap' : ', as the API runs it'}`;
      const rows: { mib: number; s: number; per_mib_s: number; outcome: string }[] = [];
      for (const mib of SIZES_MIB) {
        const { text, format } = make(mib * MIB);
        const { s, outcome } = await timeParse(Buffer.from(text), format, uncapped, 5);
        rows.push({ mib, s, per_mib_s: round(s / mib, 5), outcome });
        const ratio = rows[0]!.s > 0 ? `${(s / rows[0]!.s).toFixed(1)}×` : '-';
        const perMib = `${((s / mib) * 1000).toFixed(1)} ms/MiB`;
        console.log(
          `${label.padEnd(48)} ${String(mib).padStart(2)} MiB ${s.toFixed(4).padStart(8)} s ${perMib.padStart(13)} ${ratio.padStart(6)} the 1 MiB time  ${outcome.slice(0, 60)}`,
        );
      }
      out[label] = rows;
    }
  }
  return out;
}

async function normalSection(): Promise<object> {
  // The normal file, ten times over (one header): the speed the change must keep.
  const csv = readFileSync(fullDataset().csv, 'utf8');
  const body = csv.slice(csv.indexOf('\n') + 1);
  const big = Buffer.from(csv + body.repeat(9));
  // Every row is read (the repeated ids are skipped only after parsing): rows per second of the parse.
  const rows = 10 * (body.match(/\n/g)?.length ?? 0);
  const normal = await timeParse(big, 'csv', false, 5);
  const perS = Math.round(rows / normal.s);
  console.log(`normal NASA CSV ×10 (${(big.length / MIB).toFixed(0)} MiB, ${rows} rows): ${normal.s} s, ${perS} rows/s (best of 5)`);
  return { mib: round(big.length / MIB), rows, s: normal.s, rows_per_s: perS };
}

interface Posted {
  status: number | string;
  s: number;
  api_cpu_s: number;
  /** API CPU used in the AFTER_S seconds after the client gave up (only when it did). */
  api_cpu_after_client_left_s?: number;
  health_max_ms: number;
  body?: string;
}

/** POSTs the body over a fresh connection; gives up after DEADLINE_S. Meanwhile polls /health. */
async function post(api: ApiProcess, body: Buffer, headers: Record<string, string>): Promise<Posted> {
  const cpu0 = cpuSecondsOf(api.pid);
  const t = performance.now();
  let healthMax = 0;
  let done = false;
  const health = (async () => {
    while (!done) {
      const h = performance.now();
      await fetch(`${api.base}/health`)
        .then((r) => r.arrayBuffer())
        .catch(() => undefined);
      healthMax = Math.max(healthMax, performance.now() - h);
      await sleep(200);
    }
  })();
  const answer = await new Promise<{ status: number | string; body?: string }>((resolve) => {
    const req = request(`${api.base}/data`, { method: 'POST', headers: { ...headers, 'content-length': String(body.length) } }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, body: text.slice(0, 200) }));
      res.on('error', (err) => resolve({ status: `response ${err.message}` }));
    });
    const timer = setTimeout(() => {
      req.destroy();
      resolve({ status: `no answer within ${DEADLINE_S} s: client gave up` });
    }, DEADLINE_S * 1000);
    req.on('error', (err) => resolve({ status: `error ${(err as NodeJS.ErrnoException).code ?? err.message}` }));
    req.on('close', () => clearTimeout(timer));
    req.end(body);
  });
  const s = round((performance.now() - t) / 1000, 3);
  const cpu1 = cpuSecondsOf(api.pid);
  const result: Posted = { status: answer.status, s, api_cpu_s: round(cpu1 - cpu0, 2), health_max_ms: 0, body: answer.body };
  if (typeof answer.status === 'string' && answer.status.startsWith('no answer')) {
    await sleep(AFTER_S * 1000);
    result.api_cpu_after_client_left_s = round(cpuSecondsOf(api.pid) - cpu1, 2);
  }
  done = true;
  await health;
  result.health_max_ms = Math.round(healthMax);
  return result;
}

async function apiSection(): Promise<object> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-csv-lines-'));
  const redis = new RedisServer({ dataDir: dir, appendfsync: 'everysec' });
  await redis.start();
  const probes: Record<string, () => { body: Buffer; headers: Record<string, string> }> = {
    'CSV, one 8 MiB line': () => ({
      body: Buffer.from(bodies['CSV, one long field']!.make(8 * MIB).text),
      headers: { 'content-type': 'text/csv' },
    }),
    'gzip, one 70 MiB line': () => ({
      body: gzipSync(bodies['CSV, one long field']!.make(70 * MIB).text),
      headers: { 'content-type': 'text/csv', 'content-encoding': 'gzip' },
    }),
    'normal NASA CSV': () => ({ body: readFileSync(fullDataset().csv), headers: { 'content-type': 'text/csv' } }),
  };
  const out: Record<string, Posted & { request_bytes: number }> = {};
  try {
    for (const [name, make] of Object.entries(probes)) {
      // A fresh API for each: a request the last one left running must not be counted here.
      const api = await startApi(redis.url);
      try {
        const { body, headers } = make();
        const r = await post(api, body, headers);
        out[name] = { request_bytes: body.length, ...r };
        console.log(`POST /data ${name} (${body.length} bytes sent): ${JSON.stringify(r)}`);
      } finally {
        await stopHard(api);
      }
    }
  } finally {
    await redis.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  return out;
}

/** SIGTERM, then SIGKILL: an API still parsing may not get to its shutdown in time. */
async function stopHard(api: ApiProcess): Promise<void> {
  const killer = setTimeout(() => {
    try {
      process.kill(api.pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }, 15_000);
  await api.stop();
  clearTimeout(killer);
}

console.log(
  `${cpus().length} CPUs, load average ${loadavg()[0]!.toFixed(1)}; chunks of ${CHUNK / 1024} KiB; client deadline ${DEADLINE_S} s`,
);
const wanted = process.argv.slice(2);
const run = (name: string) => wanted.length === 0 || wanted.includes(name);
const parser = run('parser') ? await parserSection() : undefined;
const normal = run('normal') ? await normalSection() : undefined;
const api = run('api') ? await apiSection() : undefined;
// Only a full run replaces the recorded results.
if (wanted.length === 0) {
  writeResult('csv-lines', {
    benchmark: 'csv-lines',
    date: new Date().toISOString(),
    node: process.version,
    load_average: round(loadavg()[0]!, 2),
    parser,
    normal_csv_x10: normal,
    api,
  });
}
