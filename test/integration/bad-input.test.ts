/**
 * Malformed and hostile requests against every route of a real listening API (raw HTTP, so
 * paths and bodies reach the server exactly as written). Each malformed row must get a 4xx with
 * the JSON error shape, none a 5xx, and must leave Redis as it was: key count, dataset version
 * and job count are compared before and after every row. A few rows send input that is
 * legitimately valid (a BOM, CRLF line ends, a duplicate id that is skipped and reported): they
 * say so and expect their 2xx.
 */
import { request as httpRequest, Agent } from 'node:http';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Redis, keys } from '@meteorites/shared';
import type { App } from '@meteorites/api';
import { startRedis, type TestRedis } from '@meteorites/test-utils/redis';
import { buildTestApp } from '@meteorites/test-utils/app';

const HEADER = 'name,id,nametype,recclass,mass (g),fall,year,reclat,reclong,GeoLocation';
const ROW1 = 'Aachen,1,Valid,L5,21,Fell,1880,50.775000,6.083330,"(50.775, 6.08333)"';
const ROW2 = 'Aarhus,2,Valid,H6,720,Fell,1951,56.183330,10.233330,"(56.18333, 10.23333)"';
const csv = (...lines: string[]) => lines.join('\n');
const record = (extra: Record<string, unknown> = {}) => ({
  name: 'Aachen',
  id: '1',
  recclass: 'L5',
  'mass (g)': '21',
  fall: 'Fell',
  year: '1880',
  ...extra,
});

/** The API's body limit for POST /data in these tests (BODY_LIMIT_MB), so oversize bodies stay small. */
const DATA_LIMIT = 4 * 1024 * 1024;
/** Fastify's limit for JSON bodies (serverOptions). */
const JSON_LIMIT = 1024 * 1024;

const UUID = '3f2c1a7e-9b4d-4c2e-8f1a-0123456789ab';
const LONG_ID = '1'.repeat(10_000);
const ID_101 = '1'.repeat(101);
const nested = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);
const nestedObject = (depth: number) => '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);

interface Row {
  name: string;
  method?: string;
  path: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** The status expected; a 4xx for every malformed row. */
  status: number;
  /** The error code expected, when the API has a specific one. */
  code?: string;
  /** Set on rows whose input is legitimately valid and changes the dataset (they expect a 2xx). */
  valid?: string;
}

const json = { 'content-type': 'application/json' };
const csvType = { 'content-type': 'text/csv' };
const job = (body: unknown) => ({ method: 'POST', path: '/jobs', headers: json, body: JSON.stringify(body) });
const data = (body: string | Buffer, headers: Record<string, string> = csvType) => ({ method: 'POST', path: '/data', headers, body });

const rows: Row[] = [
  // ---- POST /jobs: the body ----
  { name: 'POST /jobs malformed JSON', ...job(''), body: '{analysis: mass-by-class}', status: 400 },
  { name: 'POST /jobs truncated JSON', ...job(''), body: '{"analysis":"mass-by-class","params":{"year_from":19', status: 400 },
  { name: 'POST /jobs 0-byte body', ...job(''), body: '', status: 400 },
  { name: 'POST /jobs no body, no content type', method: 'POST', path: '/jobs', status: 400 },
  { name: 'POST /jobs as text/plain', ...job({ analysis: 'mass-by-class' }), headers: { 'content-type': 'text/plain' }, status: 415 },
  {
    name: 'POST /jobs as a form',
    ...job(''),
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: 'analysis=heaviest',
    status: 415,
  },
  { name: 'POST /jobs oversize body (2 MiB)', ...job({ analysis: 'heaviest', params: { tag: 'x'.repeat(2 * JSON_LIMIT) } }), status: 413 },
  {
    name: 'POST /jobs JSON nested 10,000 levels',
    ...job(''),
    body: `{"analysis":"heaviest","params":{"n":${nested(10_000)}}}`,
    status: 400,
  },
  {
    name: 'POST /jobs params nested 10,000 objects deep',
    ...job(''),
    body: `{"analysis":"heaviest","params":${nestedObject(10_000)}}`,
    status: 400,
  },
  { name: 'POST /jobs body is null', ...job(null), status: 400 },
  { name: 'POST /jobs body is an array', ...job([{ analysis: 'heaviest' }]), status: 400 },
  { name: 'POST /jobs __proto__ in params', ...job(''), body: '{"analysis":"heaviest","params":{"__proto__":{"n":5}}}', status: 400 },
  { name: 'POST /jobs unknown top-level field', ...job({ analysis: 'heaviest', priority: 9 }), status: 400 },
  {
    name: 'POST /jobs unknown param',
    ...job({ analysis: 'heaviest', params: { n: 5, sort: 'asc' } }),
    status: 400,
    code: 'invalid_params',
  },
  { name: 'POST /jobs unknown analysis', ...job({ analysis: 'mass-by-colour' }), status: 400, code: 'unknown_analysis' },
  { name: 'POST /jobs analysis name with * and ../', ...job({ analysis: '../*' }), status: 400, code: 'unknown_analysis' },
  { name: 'POST /jobs analysis is a number', ...job({ analysis: 7 }), status: 400 },
  { name: 'POST /jobs params is an array', ...job({ analysis: 'heaviest', params: [5] }), status: 400 },
  // ---- POST /jobs: the params ----
  { name: 'POST /jobs huge number (1e400 = Infinity)', ...job(''), body: '{"analysis":"heaviest","params":{"n":1e400}}', status: 400 },
  { name: 'POST /jobs negative n', ...job({ analysis: 'heaviest', params: { n: -5 } }), status: 400, code: 'invalid_params' },
  { name: 'POST /jobs NaN literal', ...job(''), body: '{"analysis":"heaviest","params":{"n":NaN}}', status: 400 },
  { name: 'POST /jobs "Infinity" as a string', ...job({ analysis: 'geo-grid', params: { cell_deg: 'Infinity' } }), status: 400 },
  { name: 'POST /jobs n over 1000', ...job({ analysis: 'heaviest', params: { n: 1001 } }), status: 400, code: 'invalid_params' },
  { name: 'POST /jobs fractional n', ...job({ analysis: 'heaviest', params: { n: 2.5 } }), status: 400, code: 'invalid_params' },
  { name: 'POST /jobs unknown bin', ...job({ analysis: 'mass-by-year', params: { bin: 7 } }), status: 400, code: 'invalid_params' },
  {
    name: 'POST /jobs inverted year range',
    ...job({ analysis: 'mass-by-class', params: { year_from: 2000, year_to: 1900 } }),
    status: 400,
    code: 'invalid_params',
  },
  { name: 'POST /jobs cell_deg 0', ...job({ analysis: 'geo-grid', params: { cell_deg: 0 } }), status: 400, code: 'invalid_params' },
  {
    name: 'POST /jobs 100 kB recclass filter',
    ...job({ analysis: 'mass-by-class', params: { recclass: 'L'.repeat(100_000) } }),
    status: 400,
    code: 'invalid_params',
  },
  // ---- GET /jobs ----
  { name: 'GET /jobs limit=0', path: '/jobs?limit=0', status: 400, code: 'validation_failed' },
  { name: 'GET /jobs limit=1e400', path: '/jobs?limit=1e400', status: 400, code: 'validation_failed' },
  { name: 'GET /jobs unknown status', path: '/jobs?status=deleted', status: 400, code: 'validation_failed' },
  { name: 'GET /jobs forged cursor', path: '/jobs?cursor=../../etc', status: 400, code: 'invalid_cursor' },
  { name: 'GET /jobs unknown query field', path: '/jobs?sort=asc', status: 400, code: 'validation_failed' },
  // ---- /jobs/{id} ----
  { name: 'GET /jobs/* (glob)', path: '/jobs/*', status: 400 },
  { name: 'GET /jobs/%3F (?)', path: '/jobs/%3F', status: 400 },
  { name: 'GET /jobs/job:[a-z]* (key syntax)', path: '/jobs/job:%5Ba-z%5D*', status: 400 },
  { name: 'GET /jobs/..%2F..%2Fdata (traversal)', path: '/jobs/..%2F..%2Fdata', status: 400 },
  { name: 'GET /jobs/<unicode>', path: `/jobs/${encodeURIComponent('☄️流星')}`, status: 400 },
  { name: 'GET /jobs/<upper-case uuid>', path: `/jobs/${UUID.toUpperCase()}`, status: 400 },
  { name: 'GET /jobs/<10 kB id>', path: `/jobs/${LONG_ID}`, status: 400, code: 'validation_failed' },
  { name: 'GET /jobs/{id}?wait=31', path: `/jobs/${UUID}?wait=31`, status: 400, code: 'validation_failed' },
  { name: 'GET /jobs/{id}?wait=-1', path: `/jobs/${UUID}?wait=-1`, status: 400, code: 'validation_failed' },
  { name: 'GET /jobs/{id}?wait=NaN', path: `/jobs/${UUID}?wait=NaN`, status: 400, code: 'validation_failed' },
  { name: 'GET /jobs/{id}?wait=Infinity', path: `/jobs/${UUID}?wait=Infinity`, status: 400, code: 'validation_failed' },
  { name: 'GET /jobs/{id} unknown (well-formed) id', path: `/jobs/${UUID}`, status: 404, code: 'not_found' },
  { name: 'DELETE /jobs/* (glob)', method: 'DELETE', path: '/jobs/*', status: 400 },
  { name: 'DELETE /jobs/{id} unknown id', method: 'DELETE', path: `/jobs/${UUID}`, status: 404, code: 'not_found' },
  // ---- /results/{id} ----
  { name: 'GET /results/..%2F..%2Fdataset', path: '/results/..%2F..%2Fdataset', status: 400 },
  { name: 'GET /results/result:*', path: '/results/result:*', status: 400 },
  { name: 'GET /results/<10 kB id>', path: `/results/${'a'.repeat(10_000)}`, status: 400, code: 'validation_failed' },
  { name: 'GET /results/{id} unknown id', path: `/results/${UUID}`, status: 404, code: 'not_found' },
  { name: 'GET /results/*/chart.svg', path: '/results/*/chart.svg', status: 400 },
  { name: 'GET /results/{id}/chart.png unknown id', path: `/results/${UUID}/chart.png`, status: 404, code: 'not_found' },
  { name: 'GET /download/..%2F..%2Fetc%2Fpasswd', path: '/download/..%2F..%2Fetc%2Fpasswd', status: 400 },
  // ---- /meteorites ----
  { name: 'GET /meteorites inverted year range', path: '/meteorites?year_from=2000&year_to=1900', status: 400, code: 'validation_failed' },
  { name: 'GET /meteorites inverted mass range', path: '/meteorites?mass_min=10&mass_max=1', status: 400, code: 'validation_failed' },
  { name: 'GET /meteorites negative mass_min', path: '/meteorites?mass_min=-1', status: 400, code: 'validation_failed' },
  { name: 'GET /meteorites mass_max=1e400', path: '/meteorites?mass_max=1e400', status: 400, code: 'validation_failed' },
  { name: 'GET /meteorites year_from=NaN', path: '/meteorites?year_from=NaN', status: 400, code: 'validation_failed' },
  { name: 'GET /meteorites year_to=Infinity', path: '/meteorites?year_to=Infinity', status: 400, code: 'validation_failed' },
  { name: 'GET /meteorites limit=1001', path: '/meteorites?limit=1001', status: 400, code: 'validation_failed' },
  { name: 'GET /meteorites limit=-1', path: '/meteorites?limit=-1', status: 400, code: 'validation_failed' },
  { name: 'GET /meteorites forged cursor', path: '/meteorites?cursor=%E2%98%84*', status: 400, code: 'invalid_cursor' },
  { name: 'GET /meteorites unknown query field', path: '/meteorites?where=1%3D1', status: 400, code: 'validation_failed' },
  { name: 'GET /meteorites 10 kB recclass', path: `/meteorites?recclass=${'L'.repeat(10_000)}`, status: 400, code: 'validation_failed' },
  { name: 'GET /meteorites/* (glob)', path: '/meteorites/*', status: 400 },
  { name: 'GET /meteorites/1%3F (?)', path: '/meteorites/1%3F', status: 400 },
  { name: 'GET /meteorites/%5B1-9%5D ([)', path: '/meteorites/%5B1-9%5D', status: 400 },
  { name: 'GET /meteorites/meteorite:1 (:)', path: '/meteorites/meteorite:1', status: 400 },
  { name: 'GET /meteorites/..%2Fdataset (traversal)', path: '/meteorites/..%2Fdataset', status: 400 },
  { name: 'GET /meteorites/<unicode digits>', path: `/meteorites/${encodeURIComponent('١٢٣')}`, status: 400 },
  { name: 'GET /meteorites/<10 kB id>', path: `/meteorites/${LONG_ID}`, status: 400, code: 'validation_failed' },
  { name: 'GET /meteorites/-1', path: '/meteorites/-1', status: 400 },
  { name: 'GET /meteorites/1e400', path: '/meteorites/1e400', status: 400 },
  { name: 'GET /meteorites/%00 (NUL)', path: '/meteorites/%00', status: 400 },
  { name: 'GET /meteorites/%ZZ (broken escape)', path: '/meteorites/%ZZ', status: 400 },
  // ---- an id one character over the router's old limit (100), on every operation with an id: the documented 400, never 414 ----
  ...[
    'GET /jobs/{id}',
    'DELETE /jobs/{id}',
    'GET /results/{id}',
    'GET /results/{id}/chart.svg',
    'GET /results/{id}/chart.png',
    'GET /download/{id}',
    'GET /meteorites/{id}',
  ].map((op) => {
    const [method, template] = op.split(' ') as [string, string];
    return {
      name: `${op} with a 101-character id`,
      method,
      path: template.replace('{id}', ID_101),
      status: 400,
      code: 'validation_failed',
    };
  }),
  // ---- /data ----
  { name: 'POST /data malformed JSON', ...data('{"meteorite_landings": [{"id": "1",}]}', json), status: 400, code: 'invalid_dataset' },
  {
    name: 'POST /data truncated JSON',
    ...data('{"meteorite_landings": [{"name": "Aachen", "id": "1"', json),
    status: 400,
    code: 'invalid_dataset',
  },
  {
    name: 'POST /data garbage member value (512 kB)',
    ...data(`{"broken": ${'x'.repeat(512 * 1024)}`, json),
    status: 400,
    code: 'invalid_dataset',
  },
  { name: 'POST /data garbage record (512 kB)', ...data(`[${'x'.repeat(512 * 1024)}`, json), status: 400, code: 'invalid_dataset' },
  // Gzip keeps these small on the wire, so only the parser can tell: garbage is a 400 at once, not a 413 at the limit.
  {
    name: 'POST /data gzip: garbage member value (16 MiB inflated)',
    ...data(gzipSync(`{"broken": ${'x'.repeat(4 * DATA_LIMIT)}}`), { ...json, 'content-encoding': 'gzip' }),
    status: 400,
    code: 'invalid_dataset',
  },
  {
    name: 'POST /data gzip: a 16 MiB record',
    ...data(gzipSync(`[{"name": "${'x'.repeat(4 * DATA_LIMIT)}"}]`), { ...json, 'content-encoding': 'gzip' }),
    status: 400,
    code: 'invalid_dataset',
  },
  { name: 'POST /data 0-byte JSON', ...data('', json), status: 400, code: 'empty_body' },
  { name: 'POST /data 0-byte CSV', ...data(''), status: 400, code: 'empty_body' },
  { name: 'POST /data as text/plain', ...data(csv(HEADER, ROW1), { 'content-type': 'text/plain' }), status: 415 },
  { name: 'POST /data as application/xml', ...data('<landings/>', { 'content-type': 'application/xml' }), status: 415 },
  { name: 'POST /data without a content type', method: 'POST', path: '/data', body: csv(HEADER, ROW1), status: 415 },
  { name: 'POST /data CSV in latin1', ...data(csv(HEADER, ROW1), { 'content-type': 'text/csv; charset=latin1' }), status: 415 },
  { name: 'POST /data brotli-encoded', ...data(csv(HEADER, ROW1), { ...csvType, 'content-encoding': 'br' }), status: 415 },
  {
    name: 'POST /data corrupt gzip',
    ...data(gzipSync(csv(HEADER, ROW1)).subarray(0, 20), { ...csvType, 'content-encoding': 'gzip' }),
    status: 400,
    code: 'invalid_encoding',
  },
  { name: 'POST /data oversize CSV (4 MiB + 1)', ...data(HEADER + '\n' + 'x'.repeat(DATA_LIMIT)), status: 413, code: 'payload_too_large' },
  {
    name: 'POST /data gzip bomb (32 MiB inflated, many lines)',
    ...data(gzipSync(HEADER + '\n' + `${' '.repeat(99)}\n`.repeat((8 * DATA_LIMIT) / 100)), { ...csvType, 'content-encoding': 'gzip' }),
    status: 413,
    code: 'payload_too_large',
  },
  {
    name: 'POST /data gzip bomb (32 MiB inflated, one line)',
    ...data(gzipSync(HEADER + '\n' + ' '.repeat(8 * DATA_LIMIT)), { ...csvType, 'content-encoding': 'gzip' }),
    status: 400,
    code: 'invalid_dataset',
  },
  {
    name: 'POST /data JSON nested 10,000 levels',
    ...data(`{"meteorite_landings": [${nested(10_000)}]}`, json),
    status: 400,
    code: 'empty_dataset',
  },
  { name: 'POST /data record nested 10,000 objects deep', ...data(`[${nestedObject(10_000)}]`, json), status: 400, code: 'empty_dataset' },
  { name: 'POST /data mass 1e400', ...data(JSON.stringify([record()]).replace('"21"', '1e400'), json), status: 400, code: 'empty_dataset' },
  { name: 'POST /data negative mass', ...data(JSON.stringify([record({ 'mass (g)': '-21' })]), json), status: 400, code: 'empty_dataset' },
  { name: 'POST /data mass NaN', ...data(csv(HEADER, ROW1.replace(',21,', ',NaN,'))), status: 400, code: 'empty_dataset' },
  { name: 'POST /data latitude Infinity', ...data(csv(HEADER, ROW1.replace('50.775000', 'Infinity'))), status: 400, code: 'empty_dataset' },
  {
    name: 'POST /data ids with * ? [ : ../',
    ...data(JSON.stringify(['*', '1?', '[1]', 'meteorite:1', '../1'].map((id) => record({ id }))), json),
    status: 400,
    code: 'empty_dataset',
  },
  { name: 'POST /data a 10 kB id', ...data(JSON.stringify([record({ id: LONG_ID })]), json), status: 400, code: 'empty_dataset' },
  { name: 'POST /data records that are not objects', ...data('[1, "two", null, [3]]', json), status: 400, code: 'empty_dataset' },
  {
    name: 'POST /data CSV broken quoting',
    ...data(csv(HEADER, 'Aachen,1,Valid,"L5,21,Fell,1880,50.775,6.08,"(50.775, 6.08333)"')),
    status: 400,
    code: 'invalid_dataset',
  },
  { name: 'POST /data CSV missing columns', ...data(csv('name,id,recclass', 'Aachen,1,L5')), status: 400, code: 'invalid_dataset' },
  { name: 'POST /data CSV rows with extra columns', ...data(csv(HEADER, `${ROW1},surplus`, `${ROW2},surplus`)), status: 400 },
  { name: 'POST /data CSV header only', ...data(HEADER + '\n'), status: 400, code: 'empty_dataset' },
  {
    name: 'POST /data unknown query field',
    ...data(csv(HEADER, ROW1)),
    path: '/data?overwrite=false',
    status: 400,
    code: 'validation_failed',
  },
  { name: 'DELETE /data with a malformed JSON body', method: 'DELETE', path: '/data', headers: json, body: '{"confirm": tru', status: 400 },
  { name: 'GET /data as image/png only', path: '/data', headers: { accept: 'image/png' }, status: 406, code: 'not_acceptable' },
  {
    name: 'PUT /data (no such method)',
    method: 'PUT',
    path: '/data',
    headers: csvType,
    body: csv(HEADER, ROW1),
    status: 404,
    code: 'not_found',
  },
  // ---- everything else ----
  { name: 'POST /health (no such method)', method: 'POST', path: '/health', headers: json, body: '{}', status: 404, code: 'not_found' },
  { name: 'GET /../../etc/passwd', path: '/../../etc/passwd', status: 404, code: 'not_found' },
  { name: 'GET /%2e%2e/%2e%2e/etc/passwd', path: '/%2e%2e/%2e%2e/etc/passwd', status: 404, code: 'not_found' },
  { name: 'GET /docs/static/..%2F..%2Fpackage.json (traversal)', path: '/docs/static/..%2F..%2F..%2Fpackage.json', status: 404 },
  { name: 'POST /ready (no such method)', method: 'POST', path: '/ready', status: 404, code: 'not_found' },
  { name: 'DELETE /analyses (no such method)', method: 'DELETE', path: '/analyses', status: 404, code: 'not_found' },
  { name: 'POST /metrics (no such method)', method: 'POST', path: '/metrics', headers: json, body: '{}', status: 404, code: 'not_found' },
  // ---- valid input that loads (these change the dataset, as they should) ----
  {
    name: 'POST /data CSV with a BOM',
    ...data(`\uFEFF${csv(HEADER, ROW1, ROW2)}`),
    status: 201,
    valid: 'a BOM before the header is allowed',
  },
  {
    name: 'POST /data CSV with CRLF line ends',
    ...data(`${HEADER}\r\n${ROW1}\r\n${ROW2}\r\n`),
    status: 201,
    valid: 'CRLF is what NASA exports',
  },
  {
    name: 'POST /data CSV with a duplicate id',
    ...data(csv(HEADER, ROW1, ROW2, ROW1.replace('Aachen', 'Aachen again'))),
    status: 201,
    valid: 'the duplicate is skipped and reported',
  },
];

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

const agent = new Agent({ keepAlive: true, maxSockets: 1 });

/** One request exactly as written: no URL normalisation, no body encoding beyond what the row says. */
function send(port: number, row: Row): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port,
        method: row.method ?? 'GET',
        path: row.path,
        headers: { ...row.headers, ...(row.body !== undefined ? { 'content-length': String(Buffer.byteLength(row.body)) } : {}) },
        agent,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    // The server may answer (413, 415) and close before it read everything: that is its right, and
    // its answer still comes; only when none does is the broken pipe the result.
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE' || err.code === 'ECONNRESET') setTimeout(() => reject(err), 2000).unref();
      else reject(err);
    });
    req.end(row.body);
  });
}

interface RedisState {
  keys: number;
  version: string | undefined;
  jobs: number;
}

async function snapshot(db: Redis): Promise<RedisState> {
  const [count, version, jobs] = await Promise.all([db.dbSize(), db.hGet(keys.dataset, 'version'), db.zCard(keys.jobsAll)]);
  return { keys: count, version: version ?? undefined, jobs };
}

describe(`bad input: ${rows.length} requests, ${rows.filter((r) => !r.valid).length} of them malformed or hostile`, () => {
  let redis: TestRedis;
  let app: App;
  let db: Redis;
  let port: number;

  beforeAll(async () => {
    redis = await startRedis();
    app = await buildTestApp(redis.url, { BODY_LIMIT_MB: DATA_LIMIT / 1024 / 1024 });
    await app.listen({ host: '127.0.0.1', port: 0 });
    port = (app.server.address() as { port: number }).port;
    db = await redis.client();
    // Something to lose: a dataset and a job.
    const loaded = await send(port, { name: 'load', ...data(csv(HEADER, ROW1, ROW2)), status: 201 });
    expect(loaded.status, loaded.body).toBe(201);
    const queued = await send(port, { name: 'job', ...job({ analysis: 'mass-by-class' }), status: 202 });
    expect(queued.status, queued.body).toBe(202);
  });
  afterAll(async () => {
    agent.destroy();
    await app?.close();
    await redis?.close();
  });

  it('has at least 40 rows, of which the malformed ones all expect a 4xx', () => {
    const malformed = rows.filter((r) => !r.valid);
    console.log(
      `bad input: ${rows.length} rows (${malformed.length} malformed or hostile, ${rows.length - malformed.length} valid-ish that load)`,
    );
    expect(malformed.length).toBeGreaterThanOrEqual(40);
    for (const r of malformed) expect(Math.floor(r.status / 100), r.name).toBe(4);
  });

  it.each(rows.map((r) => [r.name, r] as const))('%s', async (_name, row) => {
    const before = await snapshot(db);
    const res = await send(port, row);
    expect(res.status, res.body.slice(0, 500)).toBe(row.status);
    const after = await snapshot(db);
    if (row.valid) {
      expect(Number(after.version)).toBe(Number(before.version) + 1);
      return;
    }
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    const body = JSON.parse(res.body) as { error: { code: unknown; message: unknown } };
    expect(Object.keys(body)).toEqual(['error']);
    expect(body.error).toEqual(expect.objectContaining({ code: expect.any(String), message: expect.any(String) }));
    if (row.code) expect(body.error.code).toBe(row.code);
    // Nothing leaks: no stack, no file path, no Redis reply.
    expect(res.body).not.toMatch(/\.ts:\d|node_modules|WRONGTYPE|ERR /);
    expect(after).toEqual(before);
  });

  it('still serves the dataset and the job afterwards', async () => {
    const summary = await send(port, { name: 'summary', path: '/data/summary', status: 200 });
    expect(JSON.parse(summary.body)).toMatchObject({ state: 'ready', records: 2 });
    const list = JSON.parse((await send(port, { name: 'jobs', path: '/jobs', status: 200 })).body) as { items: unknown[] };
    expect(list.items).toHaveLength(1);
  });
});
