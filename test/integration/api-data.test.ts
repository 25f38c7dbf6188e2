import { createReadStream, readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keys, type Meteorite, type Redis } from '@meteorites/shared';
import type { InjectOptions } from 'fastify';
import type { App } from '@meteorites/api';
import { startRedis, type TestRedis } from '@meteorites/test-utils/redis';
import { buildTestApp } from '@meteorites/test-utils/app';
import { fullDataset } from '@meteorites/test-utils/env';
import { byNumericId, loadable, parseNasaCsv, readNasaCsv } from '@meteorites/test-utils/source-csv';

const HEADER = 'name,id,nametype,recclass,mass (g),fall,year,reclat,reclong,GeoLocation';
const SMALL_CSV = [
  HEADER,
  'Aachen,1,Valid,L5,21,Fell,1880,50.775000,6.083330,"(50.775, 6.08333)"',
  'Akyumak,433,Valid,"Iron, IVA",50000,Fell,1981,39.916670,42.816670,"(39.91667, 42.81667)"',
  'Bulls Run,5163,Valid,Iron?,2250,Fell,1964,,,',
  'Broken,not-an-id,Valid,L5,21,Fell,1880,,,',
].join('\n');

const AACHEN: Meteorite = {
  id: '1',
  name: 'Aachen',
  nametype: 'Valid',
  recclass: 'L5',
  mass_g: 21,
  fall: 'Fell',
  year: 1880,
  reclat: 50.775,
  reclong: 6.08333,
  class_type: 'Chondrite',
  class_group: 'L',
};

type Body = string | Buffer | Readable;
const post = (contentType: string, payload: Body, url: string) => ({
  method: 'POST' as const,
  url,
  headers: { 'content-type': contentType },
  payload,
});
const csv = (payload: Body, url = '/data') => post('text/csv', payload, url);
const json = (payload: Body, url = '/data') => post('application/json', payload, url);
/** 64 KiB chunks and no Content-Length: a limit must hold on the stream itself. */
const chunked = (text: string) => Readable.from(text.match(/[\s\S]{1,65536}/g) ?? []);

describe('the /data routes', () => {
  let redis: TestRedis;
  let app: App;
  let db: Redis;
  let source: Meteorite[];

  /** Everything a refused request must leave alone. */
  const state = async () => ({ keys: await db.dbSize(), dataset: await db.hGetAll('dataset') });

  beforeAll(async () => {
    redis = await startRedis();
    app = await buildTestApp(redis.url);
    db = await redis.client();
    source = readNasaCsv(fullDataset().csv).filter(loadable).sort(byNumericId);
  });
  afterAll(async () => {
    await app?.close();
    await redis?.close();
  });

  it('describes an empty database before anything is loaded', async () => {
    const summary = await app.inject('/data/summary');
    expect(summary.statusCode).toBe(200);
    expect(summary.json()).toEqual({ version: 0, state: 'empty', records: 0, loaded_at: null, source: null });
    const all = await app.inject('/data');
    expect(all.statusCode).toBe(200);
    expect(all.json()).toEqual([]);
    const asCsv = await app.inject({ url: '/data', headers: { accept: 'text/csv' } });
    expect(asCsv.body).toBe(`${HEADER}\n`);
  });

  it('loads CSV, answers 201 with version, records and the skipped record, and records the source', async () => {
    const res = await app.inject(csv(SMALL_CSV));
    expect(res.statusCode).toBe(201);
    const body = res.json();
    expect(body).toMatchObject({ version: 1, records: 3, skipped_total: 1 });
    expect(body.skipped).toHaveLength(1);
    expect(body.skipped[0]).toMatchObject({ index: 3 });
    expect(body.skipped[0].reason).toEqual(expect.any(String));

    const summary = (await app.inject('/data/summary')).json();
    expect(summary).toMatchObject({ version: 1, state: 'ready', records: 3, source: 'POST /data (text/csv)' });
    expect(Date.parse(summary.loaded_at)).toBeGreaterThan(Date.now() - 60_000);
    expect((await app.inject('/meteorites/1')).json()).toEqual(AACHEN);
    expect((await app.inject('/meteorites/433')).json().recclass).toBe('Iron, IVA');
  });

  it('takes the source from ?source= and accepts a charset parameter', async () => {
    const res = await app.inject({
      ...csv(SMALL_CSV, '/data?source=landings.csv'),
      headers: { 'content-type': 'text/csv; charset=UTF-8' },
    });
    expect(res.statusCode).toBe(201);
    expect((await app.inject('/data/summary')).json()).toMatchObject({ version: 2, source: 'landings.csv' });
  });

  it('loads the course JSON shape, a plain array and the NASA portal export, all to the same record', async () => {
    const course = {
      meteorite_landings: [
        {
          name: 'Aachen',
          id: '1',
          nametype: 'Valid',
          recclass: 'L5',
          'mass (g)': '21',
          fall: 'Fell',
          year: '1880',
          reclat: '50.775000',
          reclong: '6.083330',
          GeoLocation: '(50.775, 6.08333)',
        },
      ],
    };
    const portal = [
      {
        name: 'Aachen',
        id: '1',
        nametype: 'Valid',
        recclass: 'L5',
        mass: '21',
        fall: 'Fell',
        year: '1880-01-01T00:00:00.000',
        reclat: '50.775000',
        reclong: '6.083330',
        geolocation: { type: 'Point', coordinates: [6.08333, 50.775] },
      },
    ];
    for (const payload of [course, course.meteorite_landings, portal]) {
      const res = await app.inject(json(JSON.stringify(payload)));
      expect(res.statusCode, res.body).toBe(201);
      expect(res.json()).toMatchObject({ records: 1, skipped: [], skipped_total: 0 });
      expect((await app.inject('/data')).json()).toEqual([AACHEN]);
      expect((await app.inject('/data/summary')).json().source).toBe('POST /data (application/json)');
    }
  });

  it('accepts a gzip-encoded body', async () => {
    const res = await app.inject({ ...csv(gzipSync(SMALL_CSV)), headers: { 'content-type': 'text/csv', 'content-encoding': 'gzip' } });
    expect(res.statusCode, res.body).toBe(201);
    expect(res.json().records).toBe(3);
  });

  it('lists at most 1000 skipped records and counts them all', async () => {
    const bad = Array.from({ length: 1500 }, (_, i) => `Bad ${i},x${i},Valid,L5,1,Fell,2000,,,`);
    const res = await app.inject(csv([HEADER, ...bad, 'Good,7,Valid,L5,1,Fell,2000,,,'].join('\n')));
    expect(res.statusCode).toBe(201);
    const body = res.json();
    expect(body.records).toBe(1);
    expect(body.skipped_total).toBe(1500);
    expect(body.skipped).toHaveLength(1000);
    expect(body.skipped.map((s: { index: number }) => s.index)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
  });

  describe('refuses bad loads without touching Redis', () => {
    const refusals: [string, InjectOptions, number, string][] = [
      [
        'text/plain',
        { method: 'POST', url: '/data', headers: { 'content-type': 'text/plain' }, payload: SMALL_CSV },
        415,
        'unsupported_media_type',
      ],
      [
        'application/xml',
        { method: 'POST', url: '/data', headers: { 'content-type': 'application/xml' }, payload: '<a/>' },
        415,
        'unsupported_media_type',
      ],
      ['no content type', { method: 'POST', url: '/data', payload: Buffer.from(SMALL_CSV) }, 415, 'unsupported_media_type'],
      ['no content type, no body', { method: 'POST', url: '/data' }, 415, 'unsupported_media_type'],
      ['a latin1 charset', { ...csv(SMALL_CSV), headers: { 'content-type': 'text/csv; charset=latin1' } }, 415, 'unsupported_media_type'],
      [
        'brotli encoding',
        { ...csv(SMALL_CSV), headers: { 'content-type': 'text/csv', 'content-encoding': 'br' } },
        415,
        'unsupported_media_type',
      ],
      ['an empty CSV body', csv(''), 400, 'empty_body'],
      ['an empty JSON body', json(''), 400, 'empty_body'],
      ['broken JSON', json('{"meteorite_landings": [{"id": "1", "name": '), 400, 'invalid_dataset'],
      ['JSON of another shape', json('{"hello": "world"}'), 400, 'invalid_dataset'],
      ['a CSV without the required columns', csv('a,b,c\n1,2,3\n'), 400, 'invalid_dataset'],
      ['no usable record', csv(`${HEADER}\nBad,x,Valid,L5,1,Fell,2000,,,\n`), 400, 'empty_dataset'],
      ['an empty JSON array', json('[]'), 400, 'empty_dataset'],
      [
        'corrupt gzip',
        { ...csv(Buffer.from('not gzip at all')), headers: { 'content-type': 'text/csv', 'content-encoding': 'gzip' } },
        400,
        'invalid_encoding',
      ],
      ['an unknown query parameter', csv(SMALL_CSV, '/data?sauce=x'), 400, 'validation_failed'],
    ];
    it.each(refusals)('%s', async (_name, request, status, code) => {
      const before = await state();
      const res = await app.inject(request);
      expect(res.statusCode, res.body).toBe(status);
      expect(res.json().error.code).toBe(code);
      expect(res.json().error.message).toEqual(expect.any(String));
      expect(await state()).toEqual(before);
    });

    it('names the refused content type', async () => {
      const res = await app.inject({ method: 'POST', url: '/data', headers: { 'content-type': 'application/xml' }, payload: '<a/>' });
      expect(res.json().error.message).toBe('unsupported Content-Type: application/xml');
    });

    it('names what is wrong in a malformed dataset', async () => {
      const res = await app.inject(csv('name,id,mass (g)\nAachen,1,21\n'));
      expect(res.statusCode).toBe(400);
      expect(res.json().error.message).toMatch(/nametype|recclass|fall|year|reclat|reclong|column|header/i);
    });
  });

  describe('over BODY_LIMIT_MB', () => {
    let small: App;
    beforeAll(async () => {
      small = await buildTestApp(redis.url, { BODY_LIMIT_MB: 1 });
    });
    afterAll(async () => {
      await small?.close();
    });
    const big = `${HEADER}\n${'Aachen,1,Valid,L5,21,Fell,1880,50.775000,6.083330,"(50.775, 6.08333)"\n'.repeat(20_000)}`;

    it.each([
      ['declared by Content-Length', () => csv(big)],
      ['streamed without a length', () => csv(chunked(big))],
      ['hidden in gzip', () => ({ ...csv(gzipSync(big)), headers: { 'content-type': 'text/csv', 'content-encoding': 'gzip' } })],
    ])('answers 413 %s and writes nothing', async (_name, request) => {
      expect(big.length).toBeGreaterThan(1024 * 1024);
      const before = await state();
      const res = await small.inject(request());
      expect(res.statusCode).toBe(413);
      expect(res.json().error.code).toBe('payload_too_large');
      expect(await state()).toEqual(before);
    });

    it('still loads a body under the limit', async () => {
      const res = await small.inject(csv(SMALL_CSV));
      expect(res.statusCode).toBe(201);
    });
  });

  it('answers 409 dataset_busy to a load or delete while another load holds the lock, writing nothing', async () => {
    await db.set(keys.datasetLock, 'another-load', { PX: 30_000 });
    try {
      for (const request of [csv(SMALL_CSV), { method: 'DELETE' as const, url: '/data' }]) {
        const before = await state();
        const res = await app.inject(request);
        expect(res.statusCode, res.body).toBe(409);
        expect(res.json().error.code).toBe('dataset_busy');
        expect(await state()).toEqual(before);
      }
    } finally {
      await db.del(keys.datasetLock);
    }
    expect((await app.inject(csv(SMALL_CSV))).statusCode).toBe(201);
  });

  it('answers 406 when the client accepts neither JSON nor CSV', async () => {
    const res = await app.inject({ url: '/data', headers: { accept: 'text/html' } });
    expect(res.statusCode).toBe(406);
    expect(res.json().error.code).toBe('not_acceptable');
  });

  it('loads the full NASA CSV, streamed, and serves every record back equal to the source as JSON and CSV', async () => {
    const res = await app.inject(csv(createReadStream(fullDataset().csv), '/data?source=Meteorite_Landings.csv'));
    expect(res.statusCode, res.body).toBe(201);
    const loaded = res.json();
    expect(loaded.records).toBe(source.length);
    expect(loaded.skipped_total + loaded.records).toBe(readNasaCsv(fullDataset().csv).length);

    const summary = (await app.inject('/data/summary')).json();
    expect(summary).toMatchObject({ version: loaded.version, state: 'ready', records: source.length, source: 'Meteorite_Landings.csv' });

    const all = await app.inject('/data');
    expect(all.statusCode).toBe(200);
    expect(all.headers['content-type']).toMatch(/^application\/json/);
    const records: Meteorite[] = all.json();
    expect(records).toHaveLength(source.length);
    expect([...records].sort(byNumericId)).toEqual(source);

    const asCsv = await app.inject({ url: '/data', headers: { accept: 'text/csv' } });
    expect(asCsv.headers['content-type']).toMatch(/^text\/csv/);
    expect(asCsv.body.startsWith(`${HEADER}\n`)).toBe(true);
    expect(parseNasaCsv(asCsv.body).sort(byNumericId)).toEqual(source);

    // The CSV the API writes loads back to the same dataset.
    const again = await app.inject(csv(asCsv.body));
    expect(again.statusCode).toBe(201);
    expect(again.json()).toMatchObject({ records: source.length, skipped_total: 0 });
    expect(((await app.inject('/data')).json() as Meteorite[]).sort(byNumericId)).toEqual(source);
  });

  it('loads the full course JSON, streamed, to the same records', async () => {
    const res = await app.inject(json(createReadStream(fullDataset().json)));
    expect(res.statusCode, res.body).toBe(201);
    expect(res.json().records).toBe(source.length);
    const count = (JSON.parse(readFileSync(fullDataset().json, 'utf8')).meteorite_landings as unknown[]).length;
    expect(res.json().records + res.json().skipped_total).toBe(count);
    expect((await app.inject('/data/summary')).json()).toMatchObject({ state: 'ready', records: source.length });
    expect(((await app.inject('/data')).json() as Meteorite[]).sort(byNumericId)).toEqual(source);
  });

  it('deletes the dataset: 200 with the number removed, then an empty dataset under a new version', async () => {
    const before = (await app.inject('/data/summary')).json();
    const res = await app.inject({ method: 'DELETE', url: '/data' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ version: before.version + 1, removed: source.length });
    expect((await app.inject('/data/summary')).json()).toMatchObject({ version: before.version + 1, state: 'empty', records: 0 });
    expect((await app.inject('/data')).json()).toEqual([]);
    expect(await db.exists('meteorite:1')).toBe(0);
    expect((await app.inject('/meteorites/1')).statusCode).toBe(404);
  });
});
