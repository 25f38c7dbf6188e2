import { createReadStream } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Meteorite, Redis } from '@meteorites/shared';
import type { MeteoriteFilters } from '@meteorites/dataset';
import type { App } from '@meteorites/api';
import { startRedis, type TestRedis } from '@meteorites/test-utils/redis';
import { buildTestApp } from '@meteorites/test-utils/app';
import { fullDataset } from '@meteorites/test-utils/env';
import { byNumericId, loadable, readNasaCsv } from '@meteorites/test-utils/source-csv';

type Filters = MeteoriteFilters;

/** The filters' meaning, written independently of the service: inclusive bounds, missing values fail a bound. */
function matches(m: Meteorite, f: Filters): boolean {
  if (f.recclass !== undefined && m.recclass !== f.recclass) return false;
  if (f.fall !== undefined && m.fall !== f.fall) return false;
  if ((f.year_from !== undefined || f.year_to !== undefined) && m.year === null) return false;
  if (f.year_from !== undefined && m.year! < f.year_from) return false;
  if (f.year_to !== undefined && m.year! > f.year_to) return false;
  if ((f.mass_min !== undefined || f.mass_max !== undefined) && m.mass_g === null) return false;
  if (f.mass_min !== undefined && m.mass_g! < f.mass_min) return false;
  if (f.mass_max !== undefined && m.mass_g! > f.mass_max) return false;
  return true;
}

const qs = (params: Record<string, string | number | undefined>) =>
  new URLSearchParams(
    Object.entries(params)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => [k, String(v)] as [string, string]),
  ).toString();

describe('GET /meteorites and /meteorites/{id} over the full dataset', () => {
  let redis: TestRedis;
  let app: App;
  let db: Redis;
  let source: Meteorite[];

  const state = async () => ({ keys: await db.dbSize(), dataset: await db.hGetAll('dataset') });

  /** Follows next_cursor to the end; checks every page on the way. */
  async function everyPage(filters: Filters, limit: number): Promise<Meteorite[]> {
    const items: Meteorite[] = [];
    let cursor: string | undefined;
    for (let pages = 0; ; pages++) {
      expect(pages).toBeLessThan(10_000);
      const res = await app.inject(`/meteorites?${qs({ ...filters, limit, cursor })}`);
      expect(res.statusCode, res.body).toBe(200);
      const page = res.json() as { items: Meteorite[]; next_cursor: string | null };
      expect(page.items.length).toBeLessThanOrEqual(limit);
      items.push(...page.items);
      if (page.next_cursor === null) return items;
      expect(page.items.length).toBe(limit);
      cursor = page.next_cursor;
    }
  }

  beforeAll(async () => {
    redis = await startRedis();
    app = await buildTestApp(redis.url);
    db = await redis.client();
    source = readNasaCsv(fullDataset().csv).filter(loadable).sort(byNumericId);
    const res = await app.inject({
      method: 'POST',
      url: '/data',
      headers: { 'content-type': 'text/csv' },
      payload: createReadStream(fullDataset().csv),
    });
    expect(res.statusCode, res.body).toBe(201);
  });
  afterAll(async () => {
    await app?.close();
    await redis?.close();
  });

  it('answers the first 100 records in id order by default', async () => {
    const res = await app.inject('/meteorites');
    expect(res.statusCode).toBe(200);
    const page = res.json();
    expect(page.items).toEqual(source.slice(0, 100));
    expect(page.next_cursor).toEqual(expect.any(String));
  });

  const cases: [string, Filters, number][] = [
    ['no filter', {}, 1000],
    ['recclass L6', { recclass: 'L6' }, 1000],
    ['a recclass with a comma', { recclass: 'Iron, IVA' }, 37],
    ['fall Fell', { fall: 'Fell' }, 500],
    ['the 1990s', { year_from: 1990, year_to: 1999 }, 1000],
    ['from 2010', { year_from: 2010 }, 1000],
    ['up to 1800', { year_to: 1800 }, 7],
    ['1 kg to 5 kg', { mass_min: 1000, mass_max: 5000 }, 1000],
    ['over 100 kg', { mass_min: 100_000 }, 250],
    ['small H5 finds since 2000', { recclass: 'H5', fall: 'Found', year_from: 2000, mass_max: 100 }, 1000],
    ['every filter at once', { recclass: 'L5', fall: 'Fell', year_from: 1900, year_to: 1950, mass_min: 100, mass_max: 100_000 }, 3],
    ['a class nobody has', { recclass: 'Cheese' }, 100],
  ];
  it.each(cases)('%s: following next_cursor yields exactly the matching records', async (_name, filters, limit) => {
    const expected = source.filter((m) => matches(m, filters));
    const got = await everyPage(filters, limit);
    expect(got.length).toBe(expected.length);
    expect(got).toEqual(expected);
  });

  it('serves one record by id, equal to the source', async () => {
    for (const m of [source[0]!, source[Math.floor(source.length / 2)]!, source.at(-1)!]) {
      const res = await app.inject(`/meteorites/${m.id}`);
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual(m);
    }
  });

  it('answers 404 for an id that is not loaded', async () => {
    const ids = new Set(source.map((m) => m.id));
    const absent = ['0', '999999999999999', '3'].find((id) => !ids.has(id))!;
    const res = await app.inject(`/meteorites/${absent}`);
    expect(res.statusCode).toBe(404);
    expect(res.json().error).toEqual({ code: 'not_found', message: `meteorite ${absent} not found` });
  });

  describe('refuses malformed ids with 400 before they reach Redis', () => {
    it.each([
      ['a glob', '*'],
      ['a glob after digits', '1*'],
      ['a character class', '[12]'],
      ['a colon', '1%3A2'],
      ['an encoded slash', '1%2F2'],
      ['a key of another namespace', 'job%3A1'],
      ['65 characters', '1'.repeat(65)],
      ['16 digits', '1'.repeat(16)],
      ['letters', 'abc'],
      ['a sign', '-1'],
      ['a leading zero', '01'],
      ['a space', '1%202'],
    ])('%s', async (_name, id) => {
      const before = await state();
      const res = await app.inject(`/meteorites/${id}`);
      expect(res.statusCode, res.body).toBe(400);
      expect(res.json().error).toMatchObject({ code: 'validation_failed', field: 'params.id' });
      expect(res.json().error.message).toMatch(/^params\.id /);
      expect(await state()).toEqual(before);
    });

    it('answers a literal slash as an unknown route', async () => {
      expect((await app.inject('/meteorites/1/2')).statusCode).toBe(404);
    });
  });

  describe('refuses out-of-range queries with 400 naming the field', () => {
    it.each([
      ['limit=1001', 'querystring.limit', /querystring\.limit must be <= 1000/],
      ['limit=0', 'querystring.limit', /querystring\.limit must be >= 1/],
      ['limit=ten', 'querystring.limit', /querystring\.limit must be integer/],
      ['year_from=19x', 'querystring.year_from', /querystring\.year_from/],
      ['mass_min=-1', 'querystring.mass_min', /querystring\.mass_min must be >= 0/],
      ['year_from=2000&year_to=1999', 'querystring.year_from', /year_from \(2000\) is after year_to \(1999\)/],
      ['mass_min=10&mass_max=9.5', 'querystring.mass_min', /mass_min \(10\) is over mass_max \(9\.5\)/],
      ['colour=red', 'querystring.colour', /querystring\.colour is not a known field/],
      ['recclass=', 'querystring.recclass', /querystring\.recclass/],
    ])('%s', async (query, field, message) => {
      const before = await state();
      const res = await app.inject(`/meteorites?${query}`);
      expect(res.statusCode, res.body).toBe(400);
      expect(res.json().error.code).toBe('validation_failed');
      expect(res.json().error.field).toBe(field);
      expect(res.json().error.message).toMatch(message);
      expect(await state()).toEqual(before);
    });

    it('refuses a cursor that is not one of ours, and one reused with other filters', async () => {
      const garbage = await app.inject('/meteorites?cursor=not-a-cursor');
      expect(garbage.statusCode).toBe(400);
      expect(garbage.json().error.code).toBe('invalid_cursor');

      const first = (await app.inject('/meteorites?recclass=L6&limit=5')).json();
      expect((await app.inject(`/meteorites?recclass=L6&limit=5&cursor=${first.next_cursor}`)).statusCode).toBe(200);
      const reused = await app.inject(`/meteorites?recclass=H5&limit=5&cursor=${first.next_cursor}`);
      expect(reused.statusCode).toBe(400);
      expect(reused.json().error.code).toBe('invalid_cursor');
    });
  });

  it('answers 409 dataset_loading with Retry-After while a load is in progress, then serves again', async () => {
    await db.hSet('dataset', 'state', 'loading');
    try {
      const res = await app.inject('/meteorites?limit=1');
      expect(res.statusCode).toBe(409);
      expect(res.json().error.code).toBe('dataset_loading');
      expect(res.headers['retry-after']).toBe('1');
    } finally {
      await db.hSet('dataset', 'state', 'ready');
    }
    expect((await app.inject('/meteorites?limit=1')).statusCode).toBe(200);
  });
});
