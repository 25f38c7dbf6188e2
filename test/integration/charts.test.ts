/**
 * Charts over HTTP end to end: the API (in-process) and a real worker process against a real
 * Redis holding the sample dataset. Every analysis' chart is checked against the result it was
 * drawn from (marks, title, axes), as SVG, PNG and download; then the cache (one render per
 * chart, also under concurrent first requests, stored with the result's lifetime), conditional
 * requests, the refusals (which write nothing), and charts expiring with their result.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createReadStream } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { startRedis, type TestRedis } from '@meteorites/test-utils/redis';
import { buildTestApp } from '@meteorites/test-utils/app';
import { killAllWorkers, spawnWorker } from '@meteorites/test-utils/worker';
import { parseSvg } from '@meteorites/test-utils/svg';
import type { App } from '@meteorites/api';
import { type Redis, keys, type AnalysisResult } from '@meteorites/shared';
import { parseDataset, storeDataset } from '@meteorites/dataset';

const SAMPLE = fileURLToPath(new URL('../../data/sample.json', import.meta.url));
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** Loads the sample dataset and starts a worker with `workerEnv`, then the API. */
async function setUp(workerEnv: Record<string, string> = {}) {
  const redis = await startRedis();
  const r = await redis.client();
  await Promise.all([
    parseDataset(createReadStream(SAMPLE), 'json').then((parsed) => storeDataset(r, parsed, { source: 'sample.json' })),
    spawnWorker(redis.url, workerEnv),
  ]);
  const ttl = Number(workerEnv.RESULT_TTL_SECONDS ?? 0);
  const app = await buildTestApp(redis.url, { ENABLE_TEST_ANALYSES: true, RESULT_TTL_SECONDS: ttl });
  return { redis, r, app };
}

/** POSTs a job and long-polls it to its end. */
async function runJob(app: App, analysis: string, params: Record<string, unknown> = {}): Promise<{ id: string; status: string }> {
  const created = await app.inject({ method: 'POST', url: '/jobs', payload: { analysis, params } });
  expect([200, 202]).toContain(created.statusCode);
  const job = (await app.inject(`/jobs/${created.json().id}?wait=30`)).json();
  return { id: job.id, status: job.status };
}

/**
 * Chart writes so far: the chart store script writes each rendered chart with one SET, and
 * nothing else here SETs once the job has finished (its result was written before).
 */
async function evalCalls(r: Redis): Promise<number> {
  return Number(/^cmdstat_set:calls=(\d+)/m.exec(await r.info('commandstats'))?.[1] ?? 0);
}

const png = (body: Buffer) => ({
  signature: body.subarray(0, 8),
  chunk: body.toString('latin1', 12, 16),
  width: body.readUInt32BE(16),
  height: body.readUInt32BE(20),
});

const positive = (v: number | null) => v !== null && v > 0;

interface Case {
  analysis: string;
  params: Record<string, unknown>;
  title: string;
  axisTitles: RegExp[];
  /** Items per mark group, from the result the chart was drawn from. */
  marks: (result: AnalysisResult) => { type: string; counts: number[] }[];
}

const groups = (result: AnalysisResult) => result.groups!;

const cases: Case[] = [
  {
    analysis: 'mass-by-class',
    params: {},
    title: 'Total mass by meteorite class',
    axisTitles: [/^Class \(landings\)$/, /^Total mass \(g(, log scale)?\)$/],
    // The sample has fewer classes than the chart's top 25, so no "other" bar.
    marks: (result) => [{ type: 'rect', counts: [groups(result).filter((g) => positive(g.total_mass_g)).length] }],
  },
  {
    analysis: 'mass-by-year',
    params: { bin: 10 },
    title: 'Landings and total mass per decade',
    axisTitles: [/^Landings$/, /^Total mass \(g(, log scale)?\)$/, /^Year \(bars span one decade\)$/],
    marks: (result) => [{ type: 'rect', counts: [groups(result).length, groups(result).filter((g) => positive(g.total_mass_g)).length] }],
  },
  {
    analysis: 'mass-by-fall',
    params: {},
    title: 'Landings and mass by fall: seen falling (Fell) or found later (Found)',
    axisTitles: [/^Fall$/, /^Landings$/, /^Total mass \(g(, log scale)?\)$/, /^Median mass \(g(, log scale)?\)$/],
    marks: (result) => {
      const g = groups(result);
      return [
        {
          type: 'rect',
          counts: [g.length, g.filter((x) => positive(x.total_mass_g)).length, g.filter((x) => positive(x.median_mass_g)).length],
        },
      ];
    },
  },
  {
    analysis: 'heaviest',
    params: { n: 5 },
    title: 'The 5 heaviest meteorites',
    axisTitles: [/^Mass \(g(, log scale)?\)$/],
    marks: () => [{ type: 'rect', counts: [5] }],
  },
  {
    analysis: 'geo-grid',
    params: { cell_deg: 10 },
    title: 'Landings per 10° × 10° cell of latitude and longitude',
    axisTitles: [],
    // Cells over the sphere, the land and the graticule.
    marks: (result) => [
      { type: 'rect', counts: [result.cells!.length] },
      { type: 'shape', counts: [1, 1, 1] },
    ],
  },
];

describe('charts of finished jobs (results kept without a TTL)', () => {
  let redis: TestRedis;
  let r: Redis;
  let app: App;
  const ids = new Map<string, string>();

  beforeAll(async () => {
    ({ redis, r, app } = await setUp());
  });
  afterAll(async () => {
    await killAllWorkers();
    await app?.close();
    await redis?.close();
  });

  describe.each(cases)('$analysis', (c) => {
    let id: string;
    let result: AnalysisResult;

    beforeAll(async () => {
      const job = await runJob(app, c.analysis, c.params);
      expect(job.status).toBe('finished');
      id = job.id;
      ids.set(c.analysis, id);
      result = (await app.inject(`/results/${id}`)).json();
    });

    it('SVG: well-formed, one mark per item of the result, title and axis titles', async () => {
      const res = await app.inject(`/results/${id}/chart.svg`);
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toMatch(/^image\/svg\+xml/);
      const svg = parseSvg(res.body);
      for (const { type, counts } of c.marks(result)) expect(svg.marks(type), type).toEqual(counts);
      expect(svg.texts('role-title-text')).toEqual([c.title]);
      expect(svg.texts('role-title-subtitle')[0]).toContain(`${result.matched} landings matched`);
      const axisTitles = svg.texts('role-axis-title');
      for (const re of c.axisTitles)
        expect(
          axisTitles.some((t) => re.test(t)),
          `${re} in ${JSON.stringify(axisTitles)}`,
        ).toBe(true);
      for (const t of axisTitles)
        expect(
          c.axisTitles.some((re) => re.test(t)),
          `unexpected axis title ${t}`,
        ).toBe(true);
      if (c.analysis === 'heaviest') {
        const top = result.items![0]!;
        expect(svg.texts('role-axis-label').join(' | ')).toContain(`1. ${top.name}`);
      }
      if (c.analysis === 'geo-grid') expect(svg.texts('role-legend-title')).toEqual(['Landings']);
    });

    it('PNG: a PNG 800 px wide with the SVG’s aspect ratio; the download is the same PNG as an attachment', async () => {
      const res = await app.inject(`/results/${id}/chart.png`);
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toBe('image/png');
      const image = png(res.rawPayload);
      expect(image.signature).toEqual(PNG_SIGNATURE);
      expect(image.chunk).toBe('IHDR');
      expect(image.width).toBe(800);
      const { root } = parseSvg((await app.inject(`/results/${id}/chart.svg`)).body);
      expect(image.height).toBe(Math.round((Number(root.height) * 800) / Number(root.width)));

      const download = await app.inject(`/download/${id}`);
      expect(download.statusCode).toBe(200);
      expect(download.headers['content-type']).toBe('image/png');
      expect(download.headers['content-disposition']).toBe(`attachment; filename="${c.analysis}-${id}.png"`);
      expect(download.rawPayload.equals(res.rawPayload)).toBe(true);
    });

    it('is rendered once: stored in Redis without a TTL (the result has none), later requests read it back', async () => {
      expect(await r.pTTL(keys.result(id))).toBe(-1);
      expect(await r.pTTL(keys.chart(id, 'svg'))).toBe(-1);
      expect(await r.pTTL(keys.chart(id, 'png'))).toBe(-1);
      expect(await r.get(keys.chart(id, 'svg'))).toBe((await app.inject(`/results/${id}/chart.svg`)).body);
      const renders = await evalCalls(r);
      const [svg, image, download] = await Promise.all(
        [`/results/${id}/chart.svg`, `/results/${id}/chart.png`, `/download/${id}`].map((u) => app.inject(u)),
      );
      expect([svg!.statusCode, image!.statusCode, download!.statusCode]).toEqual([200, 200, 200]);
      expect(await evalCalls(r)).toBe(renders);
    });
  });

  it('concurrent first requests for a chart share one render per format', async () => {
    const { id } = await runJob(app, 'heaviest', { n: 3, fall: 'Fell' });
    const before = await evalCalls(r);
    const urls = [...Array(4).fill(`/results/${id}/chart.svg`), ...Array(4).fill(`/results/${id}/chart.png`), `/download/${id}`];
    const responses = await Promise.all(urls.map((url: string) => app.inject(url)));
    expect(responses.map((res) => res.statusCode)).toEqual(urls.map(() => 200));
    expect(await evalCalls(r)).toBe(before + 2);
    expect(new Set(responses.slice(0, 4).map((res) => res.body)).size).toBe(1);
    expect(new Set(responses.slice(4).map((res) => res.rawPayload.toString('base64'))).size).toBe(1);
  });

  it('sends an ETag and immutable caching; If-None-Match answers 304 without a body', async () => {
    const id = ids.get('mass-by-fall')!;
    for (const url of [`/results/${id}/chart.svg`, `/results/${id}/chart.png`, `/download/${id}`]) {
      const res = await app.inject(url);
      expect(res.headers['cache-control'], url).toBe('public, max-age=31536000, immutable');
      const etag = res.headers.etag as string;
      expect(etag, url).toMatch(/^"[A-Za-z0-9_-]{16,}"$/);
      const again = await app.inject({ url, headers: { 'if-none-match': `"other", W/${etag}` } });
      expect(again.statusCode, url).toBe(304);
      expect(again.body, url).toBe('');
      expect(again.headers.etag, url).toBe(etag);
      expect((await app.inject({ url, headers: { 'if-none-match': '"other"' } })).statusCode, url).toBe(200);
    }
    const svg = await app.inject(`/results/${id}/chart.svg`);
    const image = await app.inject(`/results/${id}/chart.png`);
    expect(svg.headers.etag).not.toBe(image.headers.etag);
  });

  it('refuses charts of unknown, unfinished, failed and cancelled jobs and of bad ids, writing nothing', async () => {
    const paths = (id: string) => [`/results/${id}/chart.svg`, `/results/${id}/chart.png`, `/download/${id}`];
    const chartKeys = async () => (await r.keys('chart:*')).sort();

    const slow = (
      await app.inject({
        method: 'POST',
        url: '/jobs',
        payload: { analysis: 'test-sleep', params: { steps: 100, step_ms: 100, tag: 'charts slow' } },
      })
    ).json().id;
    const keysBefore = await chartKeys();
    for (const url of paths(slow)) {
      const res = await app.inject(url);
      expect(res.statusCode, url).toBe(409);
      expect(res.json().error.code, url).toBe('job_not_finished');
      expect(['queued', 'running'], url).toContain(res.json().error.status);
    }
    expect(await chartKeys()).toEqual(keysBefore);
    await app.inject({ method: 'DELETE', url: `/jobs/${slow}` });
    const cancelled = await app.inject(`/jobs/${slow}?wait=10`);
    expect(cancelled.json().status).toBe('cancelled');
    const failed = await runJob(app, 'test-sleep', { steps: 1, step_ms: 0, fail: 'on purpose', tag: 'charts fail' });
    expect(failed.status).toBe('failed');
    const chartless = await runJob(app, 'test-sleep', { steps: 1, step_ms: 0, tag: 'charts none' });
    expect(chartless.status).toBe('finished');

    const size = await r.dbSize();
    const cases: [string[], number, string, string?][] = [
      [paths(crypto.randomUUID()), 404, 'not_found'],
      [paths(slow), 409, 'job_not_finished', 'cancelled'],
      [paths(failed.id), 409, 'job_not_finished', 'failed'],
      [paths(chartless.id), 404, 'no_chart'],
      [
        [
          '/results/not-a-uuid/chart.svg',
          '/results/..%2Fdataset/chart.png',
          '/download/job:1',
          `/download/${crypto.randomUUID().toUpperCase()}`,
        ],
        400,
        'validation_failed',
      ],
    ];
    for (const [urls, status, code, jobStatus] of cases) {
      for (const url of urls) {
        const res = await app.inject(url);
        expect({ url, status: res.statusCode, code: res.json().error?.code }).toEqual({ url, status, code });
        expect(res.headers['content-type'], url).toMatch(/^application\/json/);
        if (jobStatus) expect(res.json().error.status, url).toBe(jobStatus);
      }
    }
    expect(await r.dbSize()).toBe(size);
    expect(await chartKeys()).toEqual(keysBefore);
  });
});

describe('charts expire with their result (RESULT_TTL_SECONDS)', () => {
  const TTL_S = 4;
  let redis: TestRedis;
  let r: Redis;
  let app: App;

  beforeAll(async () => {
    ({ redis, r, app } = await setUp({ RESULT_TTL_SECONDS: String(TTL_S) }));
  });
  afterAll(async () => {
    await killAllWorkers();
    await app?.close();
    await redis?.close();
  });

  it('stores each chart with the remaining TTL of its result, and both are gone together', async () => {
    const { id, status } = await runJob(app, 'mass-by-fall');
    expect(status).toBe('finished');
    const image = await app.inject(`/results/${id}/chart.png`);
    expect(image.statusCode).toBe(200);
    const [result, svg, pngTtl] = (await r
      .multi()
      .pTTL(keys.result(id))
      .pTTL(keys.chart(id, 'svg'))
      .pTTL(keys.chart(id, 'png'))
      .exec()) as unknown as number[];
    expect(result).toBeGreaterThan(0);
    expect(result).toBeLessThanOrEqual(TTL_S * 1000);
    // Copied inside one script: the same expiry instant, whatever the render took.
    expect(Math.abs(svg! - result!)).toBeLessThanOrEqual(2);
    expect(Math.abs(pngTtl! - result!)).toBeLessThanOrEqual(2);
    const maxAge = Number(/max-age=(\d+)/.exec(image.headers['cache-control'] as string)?.[1]);
    expect(maxAge).toBeLessThanOrEqual(TTL_S);
    expect(maxAge).toBeGreaterThanOrEqual(Math.floor(result! / 1000) - 1);

    await expect.poll(() => r.exists(keys.result(id)), { timeout: (TTL_S + 5) * 1000, interval: 100 }).toBe(0);
    expect(await r.exists([keys.job(id), keys.chart(id, 'svg'), keys.chart(id, 'png')])).toBe(0);
    const gone = await app.inject(`/results/${id}/chart.svg`);
    expect(gone.statusCode).toBe(404);
    expect(await r.exists(keys.chart(id, 'svg'))).toBe(0);
  });
});
