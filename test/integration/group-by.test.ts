/**
 * The general question through the API on the full dataset: group-by jobs run by a real worker,
 * compared with the same query computed here from NASA's CSV by brute force; results as CSV
 * parsed back; the classification on landings, as filters and in the CSV export; bad params.
 */
import { createReadStream } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '@meteorites/api';
import { classify, type Meteorite } from '@meteorites/shared';
import { parseDataset, storeDataset } from '@meteorites/dataset';
import { buildTestApp } from '@meteorites/test-utils/app';
import { fullDataset } from '@meteorites/test-utils/env';
import { expectClose, groupByReference } from '@meteorites/test-utils/group-by-reference';
import { startRedis, type TestRedis } from '@meteorites/test-utils/redis';
import { byNumericId, loadable, readNasaCsv, splitCsvLine } from '@meteorites/test-utils/source-csv';
import { killAllWorkers, spawnWorker } from '@meteorites/test-utils/worker';

let redis: TestRedis;
let app: App;
let source: Meteorite[];

beforeAll(async () => {
  redis = await startRedis();
  const r = await redis.client();
  source = readNasaCsv(fullDataset().csv).filter(loadable).sort(byNumericId);
  const parsed = await parseDataset(createReadStream(fullDataset().csv), 'csv');
  await Promise.all([storeDataset(r, parsed, { source: 'Meteorite_Landings.csv' }), spawnWorker(redis.url, { WORKER_CONCURRENCY: '2' })]);
  app = await buildTestApp(redis.url);
});
afterAll(async () => {
  await killAllWorkers();
  await app?.close();
  await redis?.close();
});

async function run(params: Record<string, unknown>) {
  const created = await app.inject({ method: 'POST', url: '/jobs', payload: { analysis: 'group-by', params } });
  expect([200, 202], created.body).toContain(created.statusCode);
  const id = created.json().id as string;
  const ended = await app.inject(`/jobs/${id}?wait=30`);
  expect(ended.json()).toMatchObject({ status: 'finished', error: null });
  const result = await app.inject(`/results/${id}`);
  return {
    id,
    result: result.json() as {
      params: Record<string, unknown>;
      groups: Record<string, unknown>[];
      matched: number;
      excluded: Record<string, number>;
    },
  };
}

describe('group-by through the API, on the full dataset', () => {
  it.each([
    { by: ['fall', 'year'], year_bin: 10, measures: ['count', 'median_mass_g', 'p90_mass_g'], sort: 'key', limit: 1000 },
    { by: ['class_group'], measures: ['count', 'with_mass', 'total_mass_g', 'p25_mass_g', 'stddev_mass_g'], limit: 20 },
    { by: ['lat_band', 'class_type'], band_deg: 10, year_from: 1950, lat_min: -60, lat_max: 60, sort: 'p90_mass_g', limit: 30 },
    { by: ['mass_decade', 'hemisphere'], measures: ['count', 'mean_mass_g'], name_contains: 'northwest', sort: 'key' },
  ])('equals the query computed from the CSV: %j', async (params) => {
    const { result } = await run(params);
    const expected = groupByReference(source, result.params as never);
    expectClose(result.groups, expected.groups);
    expect(result.matched).toBe(expected.matched);
    for (const [reason, n] of Object.entries(expected.excluded)) expect(result.excluded[reason], reason).toBe(n);
  });

  it('answers the result as CSV, which parses back to the JSON rows', async () => {
    const { id, result } = await run({ by: ['class_type', 'fall'], measures: ['count', 'median_mass_g', 'stddev_mass_g'], limit: 8 });
    for (const request of [{ url: `/results/${id}?format=csv` }, { url: `/results/${id}`, headers: { accept: 'text/csv' } }]) {
      const res = await app.inject(request);
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toBe('text/csv; charset=utf-8');
      expect(res.headers['content-disposition']).toBe(`attachment; filename="group-by-${id}.csv"`);
      const [header, ...lines] = res.body.trimEnd().split('\n');
      expect(header).toBe('class_type,fall,count,median_mass_g,stddev_mass_g');
      const parsed = lines.map((line) => {
        const [type, fall, ...numbers] = splitCsvLine(line);
        return {
          class_type: type,
          fall,
          ...Object.fromEntries(
            ['count', 'median_mass_g', 'stddev_mass_g'].map((m, k) => [m, numbers[k] === '' ? null : Number(numbers[k])]),
          ),
        };
      });
      expect(parsed).toEqual(result.groups);
    }
    expect((await app.inject({ url: `/results/${id}`, headers: { accept: 'image/png' } })).statusCode).toBe(406);
  });

  it.each([
    [{ by: ['colour'] }, 'params.by'],
    [{ by: ['fall'], measures: ['mode'] }, 'params.measures'],
    [{ by: ['fall'], sort: 'name' }, 'params.sort'],
    [{ by: ['lat_band'], band_deg: 4 }, 'params.band_deg'],
  ])('refuses %j with 400 invalid_params naming %s, and queues nothing', async (params, named) => {
    const before = await (await redis.client()).lLen('jobs:queue');
    const res = await app.inject({ method: 'POST', url: '/jobs', payload: { analysis: 'group-by', params } });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.code).toBe('invalid_params');
    expect(res.json().error.message).toContain(named);
    expect(await (await redis.client()).lLen('jobs:queue')).toBe(before);
  });
});

describe('the classification on landings', () => {
  it('is on every landing GET /meteorites/{id} answers', async () => {
    for (const id of ['1', '433', '5163']) {
      const m = (await app.inject(`/meteorites/${id}`)).json() as Meteorite;
      expect(m).toMatchObject(classify(m.recclass)!);
    }
  });

  it('filters GET /meteorites, page by page, to the landings of the class group', async () => {
    const expected = source.filter((m) => classify(m.recclass)?.class_group === 'IIIAB').map((m) => m.id);
    expect(expected.length).toBeGreaterThan(100);
    const got: string[] = [];
    let cursor: string | undefined;
    do {
      const page = (
        await app.inject({
          url: '/meteorites',
          query: { class_type: 'Iron', class_group: 'IIIAB', limit: '100', ...(cursor ? { cursor } : {}) },
        })
      ).json();
      got.push(...page.items.map((m: Meteorite) => m.id));
      cursor = page.next_cursor ?? undefined;
    } while (cursor);
    expect(got).toEqual(expected);
  });

  it('streams every matching landing as CSV, NASA columns then the classification', async () => {
    const res = await app.inject({
      url: '/meteorites',
      query: { class_type: 'Stony-iron', fall: 'Fell' },
      headers: { accept: 'text/csv' },
    });
    expect(res.statusCode).toBe(200);
    const [header, ...lines] = res.body.trimEnd().split('\n');
    expect(header).toBe('name,id,nametype,recclass,mass (g),fall,year,reclat,reclong,GeoLocation,class_type,class_group');
    const expected = source.filter((m) => m.fall === 'Fell' && classify(m.recclass)?.class_type === 'Stony-iron');
    expect(lines.map((l) => splitCsvLine(l)[1])).toEqual(expected.map((m) => m.id));
    expect(lines.map((l) => splitCsvLine(l).slice(10))).toEqual(expected.map((m) => [m.class_type, m.class_group]));
  });
});
