/**
 * The dataset layer against a real Redis: full loads from NASA's CSV and the course JSON checked
 * record by record against the source files (read here without the service's parsers), replace,
 * delete, refused loads, the snapshot cache, filtered listing and iteration.
 */
import { createReadStream, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  parseDataset,
  DatasetFormatError,
  EmptyDatasetError,
  deleteDataset,
  getMeteorite,
  getSummary,
  iterateMeteorites,
  storeDataset,
  InvalidCursorError,
  queryMeteorites,
  type InputFormat,
  type MeteoriteQuery,
} from '@meteorites/dataset';
import { idsOf, DatasetNotReadyError, SnapshotCache, keys, type Redis, type Meteorite } from '@meteorites/shared';
import { startRedis, type TestRedis } from '@meteorites/test-utils/redis';
import { fullDataset } from '@meteorites/test-utils/env';
import { byNumericId, expectedRecords, loadable, readNasaCsv, withClass } from '@meteorites/test-utils/source-csv';
import { expectStored, parseText } from '@meteorites/test-utils/stored';

/** The course JSON read plainly: values trimmed, empty = null, numbers as JavaScript reads them. */
function readCourseJson(path: string): Meteorite[] {
  const rows = (JSON.parse(readFileSync(path, 'utf8')) as { meteorite_landings: Record<string, string | undefined>[] }).meteorite_landings;
  const str = (v: string | undefined) => (v === undefined || v.trim() === '' ? null : v.trim());
  const num = (v: string | undefined) => (str(v) === null ? null : Number(v));
  return rows.map((r) =>
    withClass({
      id: str(r.id)!,
      name: str(r.name)!,
      nametype: str(r.nametype),
      recclass: str(r.recclass),
      mass_g: num(r['mass (g)']),
      fall: str(r.fall),
      year: num(r.year),
      reclat: num(r.reclat),
      reclong: num(r.reclong),
    }),
  );
}

async function load(redis: Redis, file: string, format: InputFormat) {
  return storeDataset(redis, await parseDataset(createReadStream(file), format), { source: file });
}

async function loadText(redis: Redis, text: string, format: InputFormat) {
  return storeDataset(redis, await parseText(text, format), { source: 'text' });
}

describe('the dataset in Redis', () => {
  let redis: TestRedis;
  let db: Redis;
  let csvSource: Meteorite[];
  let allCsvRows: number;

  beforeAll(async () => {
    redis = await startRedis();
    db = await redis.client();
    const rows = readNasaCsv(fullDataset().csv);
    allCsvRows = rows.length;
    csvSource = rows.filter(loadable).sort(byNumericId);
  });
  afterAll(async () => {
    await redis?.close();
  });

  it('answers an empty summary, no records and an empty snapshot before anything is loaded', async () => {
    expect(await getSummary(db)).toEqual({ version: 0, state: 'empty', records: 0, loaded_at: null, source: null });
    expect(await getMeteorite(db, '1')).toBeNull();
    const batches = [];
    for await (const b of iterateMeteorites(db)) batches.push(b);
    expect(batches).toEqual([]);
    expect((await new SnapshotCache(db).current()).columns.length).toBe(0);
  });

  it('loads the full NASA CSV: every record stored exactly as the source has it', async () => {
    const parsed = await parseDataset(createReadStream(fullDataset().csv), 'csv');
    expect(parsed.columns.length + parsed.skipped.length).toBe(allCsvRows);
    // DESIGN.md: the whole file loads, Meridiani Planum's 354.47 longitude included.
    expect(parsed.skipped).toEqual([]);
    expect(parsed.skipped.map((s) => s.id)).toEqual(
      readNasaCsv(fullDataset().csv)
        .filter((m) => !loadable(m))
        .map((m) => m.id),
    );
    const result = await storeDataset(db, parsed, { source: 'Meteorite_Landings.csv' });
    expect(result).toEqual({ version: 1, records: csvSource.length });
    await expectStored(db, csvSource);
    const summary = await getSummary(db);
    expect(summary).toMatchObject({ version: 1, state: 'ready', records: csvSource.length, source: 'Meteorite_Landings.csv' });
    expect(Date.now() - Date.parse(summary.loaded_at!)).toBeLessThan(120_000);
    expect(await db.exists(keys.datasetLock)).toBe(0);
    expect(await db.exists(keys.meteoriteIdsNext)).toBe(0);
  });

  it('serves single records in the API shape', async () => {
    for (const m of [
      csvSource[0]!,
      csvSource[1000]!,
      csvSource.at(-1)!,
      csvSource.find((x) => x.mass_g === null)!,
      csvSource.find((x) => x.reclat === null)!,
    ]) {
      expect(await getMeteorite(db, m.id)).toEqual(m);
    }
    expect(await getMeteorite(db, '999999999999999')).toBeNull();
  });

  it('iterates every record in id order, equal to the source', async () => {
    const all: Meteorite[] = [];
    let batches = 0;
    for await (const batch of iterateMeteorites(db, 5000)) {
      expect(batch.length).toBeLessThanOrEqual(5000);
      all.push(...batch);
      batches++;
    }
    expect(batches).toBe(Math.ceil(csvSource.length / 5000));
    expect(all).toEqual(csvSource);
  });

  it('loads the full course JSON to the same records, checked against the JSON itself', async () => {
    const jsonSource = readCourseJson(fullDataset().json).filter(loadable).sort(byNumericId);
    expect(jsonSource).toEqual(csvSource);
    const result = await load(db, fullDataset().json, 'json');
    expect(result).toEqual({ version: 2, records: jsonSource.length });
    await expectStored(db, jsonSource);
    // Only the current version's snapshot is kept.
    const snapshotKeys: string[] = [];
    for await (const batch of db.scanIterator({ MATCH: keys.snapshotPattern })) snapshotKeys.push(...batch);
    expect(snapshotKeys.length).toBeGreaterThan(0);
    expect(snapshotKeys.every((k) => k.startsWith('dataset:snapshot:2:'))).toBe(true);
  });

  describe('filtered listing', () => {
    let cache: SnapshotCache;
    beforeAll(() => {
      cache = new SnapshotCache(db);
    });

    const matches = (m: Meteorite, q: Omit<MeteoriteQuery, 'limit' | 'cursor'>) =>
      (q.recclass === undefined || m.recclass === q.recclass) &&
      (q.fall === undefined || m.fall === q.fall) &&
      (q.year_from === undefined || (m.year !== null && m.year >= q.year_from)) &&
      (q.year_to === undefined || (m.year !== null && m.year <= q.year_to)) &&
      (q.mass_min === undefined || (m.mass_g !== null && m.mass_g >= q.mass_min)) &&
      (q.mass_max === undefined || (m.mass_g !== null && m.mass_g <= q.mass_max));

    it.each<[string, Omit<MeteoriteQuery, 'limit' | 'cursor'>, number]>([
      ['everything', {}, 1000],
      ['L6 finds', { recclass: 'L6', fall: 'Found' }, 1000],
      ['a class with a comma', { recclass: 'Iron, IVA' }, 10],
      ['the 1990s', { year_from: 1990, year_to: 1999 }, 700],
      ['heavy falls', { fall: 'Fell', mass_min: 10_000 }, 50],
      ['a mass window', { mass_min: 1.5, mass_max: 2.5 }, 33],
      ['a class nobody has', { recclass: 'Cheese' }, 5],
    ])('%s: every page, following next_cursor, matches the source', async (_name, filters, limit) => {
      const expected = csvSource.filter((m) => matches(m, filters));
      const got: Meteorite[] = [];
      let cursor: string | undefined;
      for (;;) {
        const page = await queryMeteorites(db, cache, { ...filters, limit, cursor });
        got.push(...page.items);
        if (page.next_cursor === null) break;
        expect(page.items).toHaveLength(limit);
        cursor = page.next_cursor;
      }
      expect(got.length).toBe(expected.length);
      expect(got).toEqual(expected);
    });

    it('refuses a cursor made for other filters, or not made here', async () => {
      const first = await queryMeteorites(db, cache, { recclass: 'L6', limit: 2 });
      await expect(queryMeteorites(db, cache, { recclass: 'H5', limit: 2, cursor: first.next_cursor! })).rejects.toThrow(
        InvalidCursorError,
      );
      await expect(queryMeteorites(db, cache, { limit: 2, cursor: 'bogus!' })).rejects.toThrow(InvalidCursorError);
      expect((await queryMeteorites(db, cache, { recclass: 'L6', limit: 5, cursor: first.next_cursor! })).items[0]!.id).not.toBe(
        first.items[0]!.id,
      );
    });
  });

  it('keeps the snapshot in memory per version and reads it again when the version changes', async () => {
    const cache = new SnapshotCache(db);
    const a = await cache.current();
    expect(a.columns.length).toBe(csvSource.length);
    expect(idsOf(a.columns)).toEqual(csvSource.map((m) => m.id));
    expect(await cache.current()).toBe(a);

    const small = await loadText(
      db,
      'name,id,nametype,recclass,mass (g),fall,year,reclat,reclong\nA,5,Valid,L5,1,Fell,1990,1,2\nB,3,Valid,H5,,Found,,,\n',
      'csv',
    );
    const b = await cache.current();
    expect(b.version).toBe(small.version);
    expect(idsOf(b.columns)).toEqual(['3', '5']);
    expect([...b.columns.mass]).toEqual([NaN, 1]);

    await db.hSet(keys.dataset, 'state', 'loading');
    await expect(cache.current()).rejects.toThrow(DatasetNotReadyError);
    await expect(iterateMeteorites(db).next()).rejects.toThrow(DatasetNotReadyError);
    await db.hSet(keys.dataset, 'state', 'ready');
    expect(await cache.current()).toBe(b);
  });

  it('replaces a dataset with a smaller one: the records not in it are gone', async () => {
    await load(db, fullDataset().csv, 'csv');
    const text = readFileSync(fullDataset().csv, 'utf8').split('\n').slice(0, 1001).join('\n');
    const subset = expectedRecords(text);
    const result = await loadText(db, text, 'csv');
    expect(result.records).toBe(subset.length);
    await expectStored(db, subset);
    expect(idsOf((await new SnapshotCache(db).current()).columns)).toEqual(subset.map((m) => m.id));
  });

  it('a replace leaves no field of the record it replaces, and adds the new ones', async () => {
    const header = 'name,id,nametype,recclass,mass (g),fall,year,reclat,reclong';
    await loadText(db, `${header}\nOld,1,Valid,L5,21,Fell,1880,50.775,6.08333\nSparse,2,,,,,,,\n`, 'csv');
    await loadText(db, `${header}\nNew,1,Relict,,,Found,,,\nFull,2,Valid,H5,3.5,Fell,2001,-1,-2\n`, 'csv');
    expect(await db.hGetAll(keys.meteorite('1'))).toEqual({ name: 'New', id: '1', nametype: 'Relict', fall: 'Found' });
    expect(await db.hGetAll(keys.meteorite('2'))).toEqual({
      name: 'Full',
      id: '2',
      nametype: 'Valid',
      recclass: 'H5',
      mass_g: '3.5',
      fall: 'Fell',
      year: '2001',
      reclat: '-1',
      reclong: '-2',
    });
  });

  describe('refused loads change nothing', () => {
    const state = async () => ({
      dataset: await db.hGetAll(keys.dataset),
      keys: await db.dbSize(),
      ids: await db.sCard(keys.meteoriteIds),
    });

    it.each<[string, string, InputFormat, new (...args: never[]) => Error]>([
      ['broken JSON', '{"meteorite_landings": [{"id": "1", "name": "A"}, {"id": ', 'json', DatasetFormatError],
      ['JSON of another shape', '{"hello": "world"}', 'json', DatasetFormatError],
      ['a CSV without the required columns', 'a,b,c\n1,2,3\n', 'csv', DatasetFormatError],
      [
        'a CSV with an unterminated quote',
        'name,id,nametype,recclass,mass (g),fall,year,reclat,reclong\n"A,1,Valid,L5,1,Fell,1880,,\n',
        'csv',
        DatasetFormatError,
      ],
      [
        'no usable record',
        'name,id,nametype,recclass,mass (g),fall,year,reclat,reclong\nA,x,Valid,L5,1,Fell,1880,,\n',
        'csv',
        EmptyDatasetError,
      ],
      ['an empty array', '[]', 'json', EmptyDatasetError],
    ])('%s', async (_name, text, format, error) => {
      const before = await state();
      await expect(loadText(db, text, format)).rejects.toThrow(error);
      expect(await state()).toEqual(before);
    });

    it('storing an empty parse result writes nothing either', async () => {
      const before = await state();
      const parsed = await parseDataset(
        (async function* () {
          yield '[{"id": "1", "name": "A"}]';
        })(),
        'json',
      );
      parsed.columns.length = 0;
      await expect(storeDataset(db, parsed, { source: 'x' })).rejects.toThrow(EmptyDatasetError);
      expect(await state()).toEqual(before);
    });
  });

  it('deletes everything under a new version, then loads again from empty', async () => {
    const before = await getSummary(db);
    const removed = await deleteDataset(db);
    expect(removed).toEqual({ version: before.version + 1, removed: before.records });
    expect(await getSummary(db)).toEqual({ version: before.version + 1, state: 'empty', records: 0, loaded_at: null, source: null });
    // The dataset hash, and the event stream that tells of the delete.
    expect((await db.keys('*')).sort()).toEqual([keys.dataset, keys.events].sort());
    expect((await new SnapshotCache(db).current()).columns.length).toBe(0);
    const again = await load(db, fullDataset().csv, 'csv');
    expect(again.version).toBe(before.version + 2);
    await expectStored(db, csvSource);
  });
});
