/**
 * The whole user flow through the client generated from openapi.json, against the service as
 * `npm start` runs it (or E2E_API_URL's): load the full dataset, browse and filter it, run every
 * analysis, fetch results and charts, cancel a job, drive the CLI, delete the data; then Ctrl-C
 * must stop every process the start created. Expectations come from NASA's CSV itself.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiRequestError, createApiClient, ok, type ApiClient } from '@meteorites/client';
import { checkedFetch } from '@meteorites/test-utils/response-check';
import { fullDataset } from '@meteorites/test-utils/env';
import { byNumericId, loadable, readNasaCsv } from '@meteorites/test-utils/source-csv';
import { alive, serviceUnderTest, waitForJob, type StartedService } from '@meteorites/test-utils/service';
import { runCli } from '@meteorites/test-utils/cli';
import type { Meteorite } from '@meteorites/shared';

type Result = NonNullable<Awaited<ReturnType<typeof fetchResult>>>;

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/;

let api: ApiClient;
let url: string;
let own: StartedService | undefined;
let source: Meteorite[];
let version: number;

/** The JSON answer of a route that can also answer CSV (the client types its 200 as either). */
const json = <T>(answer: T) => answer as Exclude<T, string>;

const fetchResult = async (id: string) => json(await ok(api.GET('/results/{id}', { params: { path: { id } } })));

/** Counts per key over the source records, leaving out those without a key. */
function countBy(records: Meteorite[], key: (m: Meteorite) => string | number | null): Map<string, number> {
  const counts = new Map<string, number>();
  for (const m of records) {
    const k = key(m);
    if (k !== null) counts.set(String(k), (counts.get(String(k)) ?? 0) + 1);
  }
  return counts;
}

const groupCounts = (r: Result) => new Map(r.groups!.map((g) => [String(g.key), g.count]));

/** The CLI as a child process against the service (its sources, as `npm run cli` runs them). */
const cli = (...args: string[]) => runCli(args, { API_URL: url });

beforeAll(async () => {
  // The worker must offer test-sleep (a slow job to cancel); a service at E2E_API_URL may not.
  ({ url, own } = await serviceUnderTest({ ENABLE_TEST_ANALYSES: 'true' }));
  api = createApiClient(url, { fetch: checkedFetch });
  source = readNasaCsv(fullDataset().csv).filter(loadable);
});

afterAll(async () => {
  await own?.kill();
});

describe('end to end, through the generated client', () => {
  it('answers /health and /ready; a fresh start loaded the full dataset from data/', async () => {
    expect(await ok(api.GET('/health'))).toEqual({ status: 'ok' });
    expect((await api.GET('/ready')).response.status).toBe(200);
    if (own) {
      expect(await ok(api.GET('/data/summary'))).toMatchObject({
        version: 1,
        state: 'ready',
        records: source.length,
        source: 'data/Meteorite_Landings.csv',
      });
      expect(own.output()).toMatch(/loaded 45716 records from data\/Meteorite_Landings\.csv in [\d.]+ s \(version 1\)/);
    }
  });

  it('loads the full dataset (NASA CSV, streamed) and counts every loadable row', async () => {
    const csv = fullDataset().csv;
    const before = await ok(api.GET('/data/summary'));
    const loaded = await ok(
      api.POST('/data', {
        params: { query: { source: 'Meteorite_Landings.csv' } },
        body: readFileSync(csv) as never,
        bodySerializer: (b) => b,
        headers: { 'content-type': 'text/csv' },
      }),
    );
    const rows = readNasaCsv(csv).length;
    expect(loaded.records).toBe(source.length);
    expect(loaded.skipped_total).toBe(rows - source.length);
    expect(loaded.version).toBeGreaterThan(before.version);
    version = loaded.version;
    expect(await ok(api.GET('/data/summary'))).toMatchObject({
      version,
      state: 'ready',
      records: source.length,
      source: 'Meteorite_Landings.csv',
    });
  });

  it('lists and filters meteorites: every page of a filter equals the source rows it selects', async () => {
    const query = { recclass: 'L6', fall: 'Found', year_from: 1950, year_to: 1999, mass_min: 10 };
    const expected = source
      .filter((m) => m.recclass === 'L6' && m.fall === 'Found' && m.year !== null && m.year >= 1950 && m.year <= 1999)
      .filter((m) => m.mass_g !== null && m.mass_g >= 10)
      .sort(byNumericId);
    expect(expected.length).toBeGreaterThan(1000); // more than one page
    const got: Meteorite[] = [];
    let cursor: string | undefined;
    do {
      const page = json(await ok(api.GET('/meteorites', { params: { query: { ...query, limit: 1000, ...(cursor ? { cursor } : {}) } } })));
      got.push(...page.items);
      cursor = page.next_cursor ?? undefined;
    } while (cursor);
    expect(got.map((m) => m.id)).toEqual(expected.map((m) => m.id));
    expect(got).toEqual(expected);

    const first = json(await ok(api.GET('/meteorites', { params: { query: {} } })));
    expect(first.items).toHaveLength(100); // the default limit, not sent
    const one = source.find((m) => m.id === first.items[0]!.id)!;
    expect(await ok(api.GET('/meteorites/{id}', { params: { path: { id: one.id } } }))).toEqual(one);
    await expect(ok(api.GET('/meteorites/{id}', { params: { path: { id: '999999999' } } }))).rejects.toMatchObject({ status: 404 });
  });

  const jobIds = new Map<string, string>();

  it('runs every analysis the service offers; each result agrees with the source', async () => {
    const offered = (await ok(api.GET('/analyses'))).map((a) => a.name).filter((name) => name !== 'test-sleep');
    expect(offered).toEqual(expect.arrayContaining(['mass-by-class', 'mass-by-year', 'mass-by-fall', 'heaviest', 'geo-grid']));
    for (const analysis of offered) {
      const job = await ok(api.POST('/jobs', { body: { analysis, params: {} } }));
      expect(job).toMatchObject({ analysis, deduplicated: false, status: expect.stringMatching(/^(queued|running|finished)$/) });
      jobIds.set(analysis, job.id);
    }
    for (const [analysis, id] of jobIds) {
      const job = await waitForJob(api, id);
      expect(job, analysis).toMatchObject({ status: 'finished', progress: 1, dataset_version: version, error: null });
      const result = await fetchResult(id);
      expect(result).toMatchObject({ analysis, dataset_version: version, records: source.length });
      const excluded = Object.values(result.excluded).reduce((a, b) => a + b, 0);
      if (result.groups) expect(result.groups.reduce((a, g) => a + Number(g.count), 0) + excluded).toBe(result.matched);
      if (result.cells) expect(result.cells.reduce((a, c) => a + c.count, 0) + excluded).toBe(result.matched);
    }

    const byClass = await fetchResult(jobIds.get('mass-by-class')!);
    expect(groupCounts(byClass)).toEqual(countBy(source, (m) => m.recclass));
    const byFall = await fetchResult(jobIds.get('mass-by-fall')!);
    expect(groupCounts(byFall)).toEqual(countBy(source, (m) => m.fall));
    const byYear = await fetchResult(jobIds.get('mass-by-year')!);
    expect(groupCounts(byYear)).toEqual(countBy(source, (m) => (m.year === null ? null : Math.floor(m.year / 10) * 10)));
    const heaviest = await fetchResult(jobIds.get('heaviest')!);
    const masses = source
      .map((m) => m.mass_g)
      .filter((g): g is number => g !== null)
      .sort((a, b) => b - a);
    expect(heaviest.items!.map((m) => m.mass_g)).toEqual(masses.slice(0, heaviest.items!.length));
  });

  it('answers the same request with the same job (deduplicated) and lists the jobs', async () => {
    const again = await api.POST('/jobs', { body: { analysis: 'mass-by-class', params: {} } });
    expect(again.response.status).toBe(200);
    expect(again.data).toMatchObject({ id: jobIds.get('mass-by-class'), deduplicated: true, status: 'finished' });
    const finished = await ok(api.GET('/jobs', { params: { query: { status: 'finished', limit: 1000 } } }));
    expect(finished.items.map((j) => j.id)).toEqual(expect.arrayContaining([...jobIds.values()]));
    expect(finished.items.every((j) => j.status === 'finished')).toBe(true);
  });

  it('draws every result as a chart: SVG and PNG', async () => {
    for (const [analysis, id] of jobIds) {
      const svg = await ok(api.GET('/results/{id}/chart.svg', { params: { path: { id } }, parseAs: 'text' }));
      expect(svg, analysis).toMatch(/^(<\?xml[^>]*>\s*)?<svg[\s>]/);
      const png = await api.GET('/results/{id}/chart.png', { params: { path: { id } }, parseAs: 'arrayBuffer' });
      expect(png.response.headers.get('content-type')).toBe('image/png');
      const bytes = Buffer.from(png.data!);
      expect(bytes.subarray(0, 8).equals(PNG_SIGNATURE), analysis).toBe(true);
      expect(bytes.length).toBeGreaterThan(5000);
    }
  });

  it('cancels a running job: it ends cancelled and has no result', async (ctx) => {
    const offered = (await ok(api.GET('/analyses'))).map((a) => a.name);
    if (!offered.includes('test-sleep')) ctx.skip(); // a deployment without ENABLE_TEST_ANALYSES
    const job = await ok(
      api.POST('/jobs', { body: { analysis: 'test-sleep', params: { steps: 600, step_ms: 100, tag: `e2e-${Date.now()}` } } }),
    );
    let status = job.status;
    for (let i = 0; i < 300 && status === 'queued'; i++) {
      await sleep(100);
      status = (await ok(api.GET('/jobs/{id}', { params: { path: { id: job.id } } }))).status;
    }
    expect(status).toBe('running');
    const cancel = await api.DELETE('/jobs/{id}', { params: { path: { id: job.id } } });
    expect(cancel.response.status).toBe(202);
    expect(cancel.data).toMatchObject({ cancel_requested: true });
    const ended = await waitForJob(api, job.id, 30_000);
    expect(ended.status).toBe('cancelled');
    expect(ended.progress).toBeLessThan(1);
    const err = await fetchResult(job.id).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiRequestError);
    expect(err).toMatchObject({ status: 409, code: 'job_not_finished' });
    const again = await api.DELETE('/jobs/{id}', { params: { path: { id: job.id } } });
    expect(again.response.status).toBe(409);
  });

  it('drives the CLI: load (JSON this time), submit, wait, result --chart', async () => {
    const { json } = fullDataset();
    const load = await cli('load', json);
    expect(load.stderr).toBe('');
    expect(load.code).toBe(0);
    expect(load.stdout).toMatch(new RegExp(`^loaded ${source.length} records \\(version ${version + 1}\\) from Meteorite_Landings.json`));

    const submit = await cli('submit', 'mass-by-year', '--param', 'bin=100', '--param', 'year_from=1800');
    expect(submit.code).toBe(0);
    expect(submit.stdout).toMatch(/ queued \(new job\)|running \(new job\)|finished \(new job\)/);
    const id = UUID.exec(submit.stdout)![0];
    const job = await ok(api.GET('/jobs/{id}', { params: { path: { id } } }));
    expect(job.params).toEqual({ bin: 100, year_from: 1800 }); // numbers, not strings

    const wait = await cli('wait', id, '--timeout', '120');
    expect(wait).toMatchObject({ code: 0, stdout: expect.stringMatching(new RegExp(`^job ${id} finished`)) });

    const dir = mkdtempSync(join(tmpdir(), 'meteorites-cli-'));
    try {
      const chart = join(dir, 'chart.png');
      const result = await cli('result', id, '--chart', chart);
      expect(result.code).toBe(0);
      const printed = JSON.parse(result.stdout) as Result;
      expect(printed).toMatchObject({ analysis: 'mass-by-year', dataset_version: version + 1, params: { bin: 100, year_from: 1800 } });
      expect(printed).toEqual(await fetchResult(id));
      expect(readFileSync(chart).subarray(0, 8).equals(PNG_SIGNATURE)).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }

    const failed = await cli('result', '00000000-0000-4000-8000-000000000000');
    expect(failed).toMatchObject({ code: 1, stdout: '' });
    expect(failed.stderr).toMatch(/^error: .*not found.* \(HTTP 404, not_found\)/i);
  });

  it('deletes the data', async () => {
    const removed = await ok(api.DELETE('/data'));
    expect(removed.removed).toBe(source.length);
    expect(await ok(api.GET('/data/summary'))).toMatchObject({ state: 'empty', records: 0, version: removed.version });
    expect(json(await ok(api.GET('/meteorites', { params: { query: {} } }))).items).toEqual([]);
  });

  it('stops on Ctrl-C (SIGINT): exit code 0 and no process of the start left behind', async (ctx) => {
    if (!own) return ctx.skip(); // E2E_API_URL: not ours to stop
    const children = own.descendants();
    const commands = children.map((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
      } catch {
        return ''; // a short-lived helper that has exited since
      }
    });
    expect(children).toContain(own.redisPid());
    expect(commands).toEqual(
      expect.arrayContaining([expect.stringContaining('api/src/server.ts'), expect.stringContaining('worker/src/main.ts')]),
    );
    const exit = await own.interrupt();
    expect(exit, own.output()).toEqual({ code: 0, signal: null });
    // start.ts waited for its children; a helper of theirs (none today) gets a moment to notice its parent is gone.
    for (let i = 0; i < 50 && children.some(alive); i++) await sleep(100);
    expect(children.filter(alive)).toEqual([]);
    expect(existsSync(join(own.dataDir, 'redis', 'redis-server.pid'))).toBe(false); // removed by a clean shutdown
    expect(own.output()).toContain('[start] stopped');
  });
});
