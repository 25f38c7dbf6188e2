/**
 * Text that cannot go into an XML document: control characters (C0, DEL, C1), lone surrogates
 * and non-characters. In a request's string params and body fields they are refused with a 400
 * naming the field, writing nothing. Already in the data (a load keeps what it is given), they
 * must still leave every chart a well-formed SVG, a PNG and a download.
 */
import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '@meteorites/api';
import type { Redis } from '@meteorites/shared';
import { parseDataset, storeDataset } from '@meteorites/dataset';
import { startRedis, type TestRedis } from '@meteorites/test-utils/redis';
import { buildTestApp } from '@meteorites/test-utils/app';
import { killAllWorkers, spawnWorker } from '@meteorites/test-utils/worker';
import { parseSvg } from '@meteorites/test-utils/svg';

const SAMPLE = fileURLToPath(new URL('../../data/sample.json', import.meta.url));
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** One of each kind XML 1.0 cannot hold, plus DEL and C1 controls, which it can but no filter value needs. */
const BAD = [
  '\u0000',
  '\u0001',
  '\u0007',
  '\u0009',
  '\u000a',
  '\u001f',
  '\u007f',
  '\u0085',
  '\u009f',
  '\ud800',
  '\udc00',
  '\ufdd0',
  '\ufffe',
  '\uffff',
];
/** A URL cannot carry a lone surrogate: it is sent as UTF-8, where one reads back as U+FFFD. */
const BAD_IN_URLS = BAD.filter((c) => !/[\ud800-\udfff]/.test(c));
const show = (c: string) => `U+${c.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}`;
const ANALYSES = ['mass-by-class', 'mass-by-year', 'mass-by-fall', 'heaviest', 'geo-grid'];

/** Landings (the course's JSON shape) whose text holds every bad character: a load keeps what it is given. */
const hostileRecords = BAD.map((c, i) => ({
  id: String(900_000 + i),
  name: `Bad${c}name ${show(c)}`,
  nametype: 'Valid',
  recclass: `L${c}${i}`,
  'mass (g)': String(1e9 + i), // the heaviest of all: on the heaviest chart, whatever n
  fall: i % 2 ? `Fe${c}ll` : 'Found',
  year: String(1900 + i),
  reclat: '10',
  reclong: '10',
}));

interface Digest {
  size: number;
  keys: string[];
}

async function digest(r: Redis): Promise<Digest> {
  return { size: await r.dbSize(), keys: (await r.keys('*')).sort() };
}

describe('control characters and non-characters', () => {
  let redis: TestRedis;
  let r: Redis;
  let app: App;

  beforeAll(async () => {
    redis = await startRedis();
    r = await redis.client();
    const sample = JSON.parse(readFileSync(SAMPLE, 'utf8')) as { meteorite_landings: object[] };
    const body = JSON.stringify({ meteorite_landings: [...sample.meteorite_landings, ...hostileRecords] });
    const load = async () => {
      const parsed = await parseDataset(Readable.from([Buffer.from(body)]), 'json');
      expect(parsed.columns.length).toBe(sample.meteorite_landings.length + hostileRecords.length);
      await storeDataset(r, parsed, { source: 'sample.json and hostile text' });
    };
    await Promise.all([load(), spawnWorker(redis.url)]);
    app = await buildTestApp(redis.url);
  });
  afterAll(async () => {
    await killAllWorkers();
    await app?.close();
    await redis?.close();
  });

  describe('in a request: 400 naming the field, nothing written', () => {
    const inBodies = BAD.flatMap((c) => [
      ...ANALYSES.flatMap((analysis) =>
        (['recclass', 'fall'] as const).map((param) => ({
          name: `POST /jobs ${analysis} params.${param} with ${show(c)}`,
          inject: { method: 'POST' as const, url: '/jobs', payload: { analysis, params: { [param]: `L${c}6` } } },
          field: `params.${param}`,
        })),
      ),
      {
        name: `POST /jobs analysis with ${show(c)}`,
        inject: { method: 'POST' as const, url: '/jobs', payload: { analysis: `heaviest${c}` } },
        field: 'body.analysis',
      },
    ]);
    const inUrls = BAD_IN_URLS.flatMap((c) => [
      ...(['recclass', 'fall', 'cursor'] as const).map((param) => ({
        name: `GET /meteorites ${param} with ${show(c)}`,
        inject: { method: 'GET' as const, url: `/meteorites?${new URLSearchParams({ [param]: `L${c}6` })}` },
        field: `querystring.${param}`,
      })),
      {
        name: `GET /jobs cursor with ${show(c)}`,
        inject: { method: 'GET' as const, url: `/jobs?${new URLSearchParams({ cursor: `x${c}` })}` },
        field: 'querystring.cursor',
      },
      {
        name: `POST /data source with ${show(c)}`,
        inject: {
          method: 'POST' as const,
          url: `/data?${new URLSearchParams({ source: `file${c}.csv` })}`,
          headers: { 'content-type': 'text/csv' },
          payload: 'name,id\nA,1\n',
        },
        field: 'querystring.source',
      },
    ]);

    it.each([...inBodies, ...inUrls].map((q) => [q.name, q] as const))('%s', async (_name, q) => {
      const before = await digest(r);
      const res = await app.inject(q.inject);
      expect(res.statusCode, res.body).toBe(400);
      const { error } = res.json() as { error: { code: string; message: string; field?: string } };
      expect(error.message).toContain(q.field);
      expect(error.message).toMatch(/control characters/);
      expect(await digest(r)).toEqual(before);
    });
  });

  it('still accepts the text a filter needs: letters with accents, symbols, astral characters', async () => {
    for (const recclass of ['Iron, IIAB', 'Mesosiderite-A1', 'Pallasite? ☄️ 𝔏6 ÄÖü']) {
      const res = await app.inject(`/meteorites?${new URLSearchParams({ recclass })}`);
      expect(res.statusCode, recclass).toBe(200);
      const job = await app.inject({ method: 'POST', url: '/jobs', payload: { analysis: 'mass-by-class', params: { recclass } } });
      expect([200, 202], recclass).toContain(job.statusCode);
    }
  });

  describe('already in the data: every chart is still well-formed', () => {
    it.each(['mass-by-class', 'mass-by-fall', 'heaviest', 'mass-by-year', 'geo-grid'])(
      '%s: SVG parses, PNG and download answer 200',
      async (analysis) => {
        const params = analysis === 'heaviest' ? { n: BAD.length + 5 } : {};
        const created = await app.inject({ method: 'POST', url: '/jobs', payload: { analysis, params } });
        expect([200, 202], created.body).toContain(created.statusCode);
        const job = (await app.inject(`/jobs/${created.json().id}?wait=30`)).json() as { id: string; status: string };
        expect(job.status).toBe('finished');

        const svg = await app.inject(`/results/${job.id}/chart.svg`);
        expect(svg.statusCode).toBe(200);
        const parsed = parseSvg(svg.body); // throws on a document that is not well-formed XML
        if (analysis === 'heaviest') expect(parsed.texts('role-axis-label').join(' | ')).toMatch(/Bad.?name U\+0000/);
        for (const url of [`/results/${job.id}/chart.png`, `/download/${job.id}`]) {
          const res = await app.inject(url);
          expect(res.statusCode, `${url}: ${res.body.slice(0, 200)}`).toBe(200);
          expect(res.rawPayload.subarray(0, 8)).toEqual(PNG_SIGNATURE);
        }
      },
    );
  });
});
