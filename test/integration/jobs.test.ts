/**
 * The job routes end to end: the API (in-process) and a real worker process against a real
 * Redis holding the full dataset. Every analysis' result is checked against numbers this test
 * computes itself from the source CSV; then dedup, a reload under queued jobs, cancellation,
 * long-polls, pagination and the error paths (which must write nothing).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createReadStream } from 'node:fs';
import { startRedis, type TestRedis } from '@meteorites/test-utils/redis';
import { buildTestApp } from '@meteorites/test-utils/app';
import { fullDataset } from '@meteorites/test-utils/env';
import { loadable, readNasaCsv } from '@meteorites/test-utils/source-csv';
import { killAllWorkers, spawnWorker } from '@meteorites/test-utils/worker';
import type { InjectOptions } from 'fastify';
import type { App } from '@meteorites/api';
import type {} from '@meteorites/api';
import { type Redis, keys, columnsFromRecords, meteoriteAt, type Meteorite } from '@meteorites/shared';
import { parseDataset, storeDataset, type ParsedDataset } from '@meteorites/dataset';

interface Stats {
  count: number;
  with_mass: number;
  total_mass_g: number | null;
  median_mass_g: number | null;
  min_mass_g: number | null;
  max_mass_g: number | null;
}

/** Group statistics computed the plain way: arrays, a sort, a loop. */
function stats(records: Meteorite[]): Stats {
  const masses = records
    .map((m) => m.mass_g)
    .filter((m): m is number => m !== null)
    .sort((a, b) => a - b);
  const n = masses.length;
  let total = 0;
  for (const m of masses) total += m;
  return {
    count: records.length,
    with_mass: n,
    total_mass_g: n ? total : null,
    median_mass_g: n ? (n % 2 ? masses[(n - 1) / 2]! : (masses[n / 2 - 1]! + masses[n / 2]!) / 2) : null,
    min_mass_g: n ? masses[0]! : null,
    max_mass_g: n ? masses[n - 1]! : null,
  };
}

function groupBy<K>(records: Meteorite[], key: (m: Meteorite) => K | null): Map<K, Meteorite[]> {
  const groups = new Map<K, Meteorite[]>();
  for (const m of records) {
    const k = key(m);
    if (k === null) continue;
    const group = groups.get(k);
    if (group) group.push(m);
    else groups.set(k, [m]);
  }
  return groups;
}

/** Sums may be added in another order by the service: equal to a relative 1e-9. */
function expectStats(actual: Record<string, unknown>, expected: Stats): void {
  expect(actual).toMatchObject({ count: expected.count, with_mass: expected.with_mass });
  for (const f of ['total_mass_g', 'median_mass_g', 'min_mass_g', 'max_mass_g'] as const) {
    const e = expected[f];
    if (e === null) expect(actual[f]).toBeNull();
    else expect(Math.abs((actual[f] as number) - e)).toBeLessThanOrEqual(Math.abs(e) * 1e-9);
  }
}

describe('jobs API with a worker, on the full dataset', () => {
  let redis: TestRedis;
  let r: Redis;
  let app: App;
  let parsed: ParsedDataset;
  let source: Meteorite[];
  let version: number;

  beforeAll(async () => {
    redis = await startRedis();
    r = await redis.client();
    const csv = fullDataset().csv;
    source = readNasaCsv(csv).filter(loadable);
    parsed = await parseDataset(createReadStream(csv), 'csv');
    [{ version }] = await Promise.all([
      storeDataset(r, parsed, { source: 'Meteorite_Landings.csv' }),
      spawnWorker(redis.url, { WORKER_CONCURRENCY: '2' }),
    ]);
    app = await buildTestApp(redis.url, { ENABLE_TEST_ANALYSES: true });
  });
  afterAll(async () => {
    await killAllWorkers();
    await app?.close();
    await redis?.close();
  });

  const post = (analysis: string, params?: Record<string, unknown>) =>
    app.inject({ method: 'POST', url: '/jobs', payload: params === undefined ? { analysis } : { analysis, params } });

  /** POST, long-poll to the end, fetch the result. */
  async function run(analysis: string, params: Record<string, unknown> = {}) {
    const created = await post(analysis, params);
    expect([200, 202]).toContain(created.statusCode);
    const id = created.json().id as string;
    const ended = await app.inject(`/jobs/${id}?wait=30`);
    expect(ended.json()).toMatchObject({ id, status: 'finished', error: null });
    const result = await app.inject(`/results/${id}`);
    expect(result.statusCode).toBe(200);
    return { job: ended.json(), result: result.json(), raw: result.body, id };
  }

  /** Keeps both worker slots busy for a while, so jobs posted meanwhile stay queued. */
  async function occupyWorker(ms: number): Promise<string[]> {
    const tag = crypto.randomUUID();
    const ids = [];
    for (const slot of [1, 2]) ids.push((await post('test-sleep', { steps: ms / 100, step_ms: 100, tag: `${tag}-${slot}` })).json().id);
    for (const id of ids)
      await expect.poll(async () => (await app.inject(`/jobs/${id}`)).json().status, { timeout: 20_000 }).toBe('running');
    return ids;
  }

  const fingerprint = async () => ({
    dbsize: await r.dbSize(),
    seq: await r.get(keys.jobsSeq),
    queue: await r.lRange(keys.jobsQueue, 0, -1),
  });

  it('GET /analyses lists every analysis with its params schema', async () => {
    const res = await app.inject('/analyses');
    expect(res.statusCode).toBe(200);
    const list = res.json() as { name: string; description: string; params: { properties: Record<string, unknown> } }[];
    expect(list.map((a) => a.name)).toEqual([
      'mass-by-class',
      'mass-by-year',
      'mass-by-fall',
      'heaviest',
      'geo-grid',
      'group-by',
      'test-sleep',
    ]);
    expect(list.find((a) => a.name === 'mass-by-year')!.params.properties).toHaveProperty('bin');
    expect(list.find((a) => a.name === 'group-by')!.params.properties).toHaveProperty('by');
    expect(list.every((a) => a.description.length > 10)).toBe(true);
  });

  it('mass-by-class matches the source CSV, and names the dataset version', async () => {
    expect(source.length).toBe(parsed.columns.length);
    const { job, result, raw, id } = await run('mass-by-class');
    expect(job).toMatchObject({ dataset_version: version, attempts: 1, progress: 1 });
    expect(result).toMatchObject({ analysis: 'mass-by-class', dataset_version: version, records: source.length });
    expect(raw).toBe(await r.get(keys.result(id)));
    const expected = groupBy(source, (m) => m.recclass);
    expect(result.groups).toHaveLength(expected.size);
    expect(result.excluded.missing_class).toBe(source.filter((m) => m.recclass === null).length);
    const top = [...expected].map(([k, ms]) => [k, stats(ms)] as const).sort((a, b) => b[1].total_mass_g! - a[1].total_mass_g!);
    for (const [key, s] of [...top.slice(0, 5), top.find(([k]) => k === 'L6')!]) {
      expectStats(
        result.groups.find((g: { key: string }) => g.key === key),
        s,
      );
    }
    expect(result.groups[0].key).toBe(top[0]![0]);
  });

  it('mass-by-year (decades, with a year filter) matches the source CSV', async () => {
    const { result } = await run('mass-by-year', { bin: 10, year_from: 1900, year_to: 1999 });
    const inRange = source.filter((m) => m.year !== null && m.year >= 1900 && m.year <= 1999);
    const expected = groupBy(inRange, (m) => Math.floor(m.year! / 10) * 10);
    expect(result.groups.map((g: { key: number }) => g.key)).toEqual([...expected.keys()].sort((a, b) => a - b));
    for (const [key, ms] of expected)
      expectStats(
        result.groups.find((g: { key: number }) => g.key === key),
        stats(ms),
      );
    expect(result.excluded.missing_year).toBe(source.filter((m) => m.year === null).length);
  });

  it('mass-by-fall matches the source CSV', async () => {
    const { result } = await run('mass-by-fall');
    for (const [key, ms] of groupBy(source, (m) => m.fall))
      expectStats(
        result.groups.find((g: { key: string }) => g.key === key),
        stats(ms),
      );
  });

  it('heaviest matches the source CSV', async () => {
    const { result } = await run('heaviest', { n: 7 });
    const expected = source
      .filter((m) => m.mass_g !== null)
      .sort((a, b) => b.mass_g! - a.mass_g! || Number(a.id) - Number(b.id))
      .slice(0, 7);
    expect(result.items.map((m: Meteorite) => [m.id, m.mass_g, m.name])).toEqual(expected.map((m) => [m.id, m.mass_g, m.name]));
  });

  it('geo-grid matches the source CSV', async () => {
    const { result } = await run('geo-grid', { cell_deg: 10 });
    const located = source.filter((m) => m.reclat !== null && m.reclong !== null);
    const real = located.filter((m) => m.reclat !== 0 || m.reclong !== 0);
    expect(result.excluded).toMatchObject({
      missing_location: source.length - located.length,
      zero_location: located.length - real.length,
    });
    const total = result.cells.reduce((n: number, c: { count: number }) => n + c.count, 0);
    expect(total).toBe(real.length);
    // Aachen (50.775, 6.08333) lies in the cell whose south-west corner is (50, 0).
    const cell = real.filter((m) => m.reclat! >= 50 && m.reclat! < 60 && m.reclong! >= 0 && m.reclong! < 10).length;
    expect(result.cells.find((c: { lat: number; lon: number }) => c.lat === 50 && c.lon === 0).count).toBe(cell);
  });

  it('dedups the same request (defaults filled, any key order) on the same dataset version, and computes afresh on a new one', async () => {
    const first = await post('heaviest', { n: 3, year_from: 1990 });
    expect(first.statusCode).toBe(202);
    expect(first.headers.location).toBe(`/jobs/${first.json().id}`);
    expect(first.json().deduplicated).toBe(false);
    const again = await post('heaviest', { year_from: 1990, n: 3 });
    expect(again.statusCode).toBe(200);
    expect(again.json()).toMatchObject({ id: first.json().id, deduplicated: true });
    expect(again.headers.location).toBe(`/jobs/${first.json().id}`);
    const explicit = await post('mass-by-year', { bin: 10 });
    expect((await post('mass-by-year')).json()).toMatchObject({ id: explicit.json().id, deduplicated: true });
    await app.inject(`/jobs/${first.json().id}?wait=30`);

    const { version: next } = await storeDataset(r, parsed, { source: 'reload' });
    const fresh = await post('heaviest', { n: 3, year_from: 1990 });
    expect(fresh.statusCode).toBe(202);
    expect(fresh.json().id).not.toBe(first.json().id);
    const done = await app.inject(`/jobs/${fresh.json().id}?wait=30`);
    expect(done.json()).toMatchObject({ status: 'finished', dataset_version: next });
    version = next;
  });

  it('jobs queued across a new load run on the new version', async () => {
    await occupyWorker(1500);
    const queued = [(await post('mass-by-fall', { year_to: 1950 })).json().id, (await post('heaviest', { n: 2, fall: 'Fell' })).json().id];
    for (const id of queued) expect((await app.inject(`/jobs/${id}`)).json().status).toBe('queued');
    // A smaller dataset: the first half of the records.
    const n = Math.floor(parsed.columns.length / 2);
    const half = { ...parsed, columns: columnsFromRecords(Array.from({ length: n }, (_, i) => meteoriteAt(parsed.columns, i))) };
    const { version: next } = await storeDataset(r, half, { source: 'half' });
    for (const id of queued) {
      const job = (await app.inject(`/jobs/${id}?wait=30`)).json();
      expect(job).toMatchObject({ status: 'finished', dataset_version: next });
      expect((await app.inject(`/results/${id}`)).json()).toMatchObject({ dataset_version: next, records: n });
    }
    await storeDataset(r, parsed, { source: 'full again' });
  });

  it('DELETE cancels a queued job at once (it never runs) and a running one at its next checkpoint', async () => {
    const busy = await occupyWorker(2000);
    const queued = (await post('test-sleep', { steps: 1, step_ms: 0, tag: 'never runs' })).json().id;
    const cancelled = await app.inject({ method: 'DELETE', url: `/jobs/${queued}` });
    expect(cancelled.statusCode).toBe(200);
    expect(cancelled.json()).toMatchObject({ status: 'cancelled', attempts: 0 });
    expect(await r.lRange(keys.jobsQueue, 0, -1)).not.toContain(queued);

    const stopping = await app.inject({ method: 'DELETE', url: `/jobs/${busy[0]}` });
    expect(stopping.statusCode).toBe(202);
    expect(stopping.json()).toMatchObject({ status: 'running', cancel_requested: true });
    const ended = (await app.inject(`/jobs/${busy[0]}?wait=10`)).json();
    expect(ended.status).toBe('cancelled');

    const again = await app.inject({ method: 'DELETE', url: `/jobs/${busy[0]}` });
    expect(again.statusCode).toBe(409);
    expect(again.json().error).toMatchObject({ code: 'job_ended', status: 'cancelled' });
    const noResult = await app.inject(`/results/${busy[0]}`);
    expect(noResult.statusCode).toBe(409);
    expect(noResult.json().error.status).toBe('cancelled');

    await app.inject(`/jobs/${busy[1]}?wait=10`);
    expect((await app.inject(`/jobs/${queued}`)).json()).toMatchObject({ status: 'cancelled', attempts: 0, started_at: null });
    expect(await r.exists(keys.result(queued))).toBe(0);
  });

  it('long-polls: answers as soon as the job ends, at once for an ended job, and with the job as it is when the wait runs out', async () => {
    const id = (await post('test-sleep', { steps: 5, step_ms: 100, tag: 'long-poll' })).json().id;
    const early = await app.inject(`/results/${id}`);
    expect(early.statusCode).toBe(409);
    expect(['queued', 'running']).toContain(early.json().error.status);
    let t0 = Date.now();
    const done = await app.inject(`/jobs/${id}?wait=20`);
    expect(done.json().status).toBe('finished');
    expect(Date.now() - t0).toBeLessThan(5000);

    t0 = Date.now();
    expect((await app.inject(`/jobs/${id}?wait=20`)).json().status).toBe('finished');
    expect(Date.now() - t0).toBeLessThan(500);

    const slow = (await post('test-sleep', { steps: 30, step_ms: 100, tag: 'long-poll slow' })).json().id;
    t0 = Date.now();
    const pending = await app.inject(`/jobs/${slow}?wait=0.5`);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(450);
    expect(['queued', 'running']).toContain(pending.json().status);
    expect(app.jobEvents!.waiting).toBe(0);
    await app.inject({ method: 'DELETE', url: `/jobs/${slow}` });
  });

  it('GET /jobs pages newest first through every job, and filters by status', async () => {
    const seen: { id: string; created_at: string }[] = [];
    let cursor: string | null = null;
    do {
      const res: Awaited<ReturnType<App['inject']>> = await app.inject(`/jobs?limit=3${cursor ? `&cursor=${cursor}` : ''}`);
      expect(res.statusCode).toBe(200);
      expect(res.json().items.length).toBeLessThanOrEqual(3);
      seen.push(...res.json().items);
      cursor = res.json().next_cursor;
    } while (cursor);
    expect(seen.length).toBe(await r.zCard(keys.jobsAll));
    expect(new Set(seen.map((j) => j.id)).size).toBe(seen.length);
    const created = seen.map((j) => j.created_at);
    expect(created).toEqual([...created].sort().reverse());

    const finished = (await app.inject('/jobs?status=finished&limit=1000')).json().items as { status: string }[];
    expect(finished.length).toBeGreaterThan(5);
    expect(finished.every((j) => j.status === 'finished')).toBe(true);
    const cancelled = (await app.inject('/jobs?status=cancelled')).json().items as { status: string }[];
    expect(cancelled.length).toBeGreaterThanOrEqual(2);
    expect(cancelled.every((j) => j.status === 'cancelled')).toBe(true);
    expect(seen.filter((j) => (j as unknown as { status: string }).status === 'finished').length).toBe(finished.length);

    const page = (await app.inject('/jobs?status=finished&limit=1')).json();
    const foreign = await app.inject(`/jobs?status=failed&cursor=${page.next_cursor}`);
    expect(foreign.statusCode).toBe(400);
    expect(foreign.json().error.code).toBe('invalid_cursor');
  });

  it('refuses bad requests with 400/404/409 and writes nothing', async () => {
    await expect.poll(async () => (await r.zCard(keys.jobsLeases)) + (await r.lLen(keys.jobsQueue)), { timeout: 20_000 }).toBe(0);
    const before = await fingerprint();
    const unknownId = crypto.randomUUID();
    const cases: [InjectOptions, number, string][] = [
      [{ method: 'POST', url: '/jobs', payload: { analysis: 'mass-by-nothing' } }, 400, 'unknown_analysis'],
      [{ method: 'POST', url: '/jobs', payload: { analysis: 'heaviest', params: { n: 0 } } }, 400, 'invalid_params'],
      [{ method: 'POST', url: '/jobs', payload: { analysis: 'mass-by-year', params: { bin: 5 } } }, 400, 'invalid_params'],
      [
        { method: 'POST', url: '/jobs', payload: { analysis: 'heaviest', params: { year_from: 2000, year_to: 1990 } } },
        400,
        'invalid_params',
      ],
      [{ method: 'POST', url: '/jobs', payload: { analysis: 'heaviest', params: { colour: 'red' } } }, 400, 'invalid_params'],
      [{ method: 'POST', url: '/jobs', payload: { analysis: 'heaviest', extra: 1 } }, 400, 'validation_failed'],
      [{ method: 'POST', url: '/jobs', payload: { params: {} } }, 400, 'validation_failed'],
      [{ method: 'GET', url: '/jobs/not-a-uuid' }, 400, 'validation_failed'],
      [{ method: 'GET', url: '/jobs/*' }, 400, 'validation_failed'],
      [{ method: 'DELETE', url: '/jobs/job:1' }, 400, 'validation_failed'],
      [{ method: 'GET', url: '/results/..%2Fdataset' }, 400, 'validation_failed'],
      [{ method: 'GET', url: `/jobs/${unknownId}?wait=31` }, 400, 'validation_failed'],
      [{ method: 'GET', url: '/jobs?limit=1001' }, 400, 'validation_failed'],
      [{ method: 'GET', url: '/jobs?status=lost' }, 400, 'validation_failed'],
      [{ method: 'GET', url: '/jobs?cursor=garbage' }, 400, 'invalid_cursor'],
      [{ method: 'GET', url: `/jobs/${unknownId}` }, 404, 'not_found'],
      [{ method: 'GET', url: `/jobs/${unknownId}?wait=1` }, 404, 'not_found'],
      [{ method: 'DELETE', url: `/jobs/${unknownId}` }, 404, 'not_found'],
      [{ method: 'GET', url: `/results/${unknownId}` }, 404, 'not_found'],
    ];
    for (const [req, status, code] of cases) {
      const res = await app.inject(req);
      expect({ req, status: res.statusCode, code: res.json().error?.code }).toEqual({ req, status, code });
    }
    const params = (await app.inject({ method: 'POST', url: '/jobs', payload: { analysis: 'heaviest', params: { n: 1001 } } })).json();
    expect(params.error.message).toContain('params.n');
    expect(params.error.problems).toEqual([expect.stringContaining('params.n')]);
    expect(await fingerprint()).toEqual(before);
  });
});
