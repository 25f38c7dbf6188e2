/**
 * The dashboard at / in a real browser (Debian's chromium through playwright-core), on the
 * service as `npm start` runs it with the 38-landing sample and the test analyses. A user looks
 * at the overview, uploads data/sample.json, asks a group-by from the form and watches it reach
 * 100 % and its chart appear without a reload, downloads its CSV, cancels a running test-sleep
 * job from the Jobs table, reloads in the middle of a job to see it go on from the last event it
 * had (GET /events?last_event_id=), and opens the page behind a proxy under a path prefix. The
 * page must say nothing wrong all along: no script or console error (chromium reports CSP
 * violations there), no failed request, no error response.
 *
 * Screenshots of each view go to test-results/dashboard/; with DOCS_SCREENSHOTS=1
 * (`npm run docs:screenshots`) the dashboard and result ones are also written to docs/images/.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiClient, ok, type ApiClient } from '@meteorites/client';
import { checkedFetch } from '@meteorites/test-utils/response-check';
import { serviceUnderTest, waitForJob, type StartedService } from '@meteorites/test-utils/service';
import { launchChromium, watchProblems } from '@meteorites/test-utils/browser';
import { testEnv } from '@meteorites/test-utils/env';

const root = fileURLToPath(new URL('../../', import.meta.url));
const artifacts = join(root, 'test-results/dashboard');
const docsImages = join(root, 'docs/images');
const SAMPLE = join(root, 'data/sample.json');
const SAMPLE_RECORDS = 38;

let url: string;
let own: StartedService | undefined;
let api: ApiClient;
let browser: Browser;
let page: Page;
let problems: string[];
/** The group-by job the form asked, for the result page's screenshot. */
let groupById: string;

/** A view's screenshot for the artifacts, and for the docs when they are being regenerated. */
async function shot(name: string, docsName?: string): Promise<void> {
  const path = join(artifacts, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  if (docsName && testEnv().DOCS_SCREENSHOTS) {
    // The viewport only, at scale 1: small enough for the README.
    await page.screenshot({ path: join(docsImages, `${docsName}.png`), fullPage: false });
  }
}

/** Opens a view from the header's navigation, as a click would. */
const view = (name: string) => page.getByRole('navigation', { name: 'Views' }).getByRole('link', { name, exact: true }).click();

const progressOf = (scope: Locator) => scope.locator('progress').first().getAttribute('value').then(Number);

/** A reverse proxy that serves the service under `/api/`, as one in front of a deployment might. */
async function prefixProxy(target: string): Promise<{ url: string; server: Server }> {
  const upstream = new URL(target);
  const server = createServer((req, res) => {
    if (!req.url?.startsWith('/api/')) {
      res.writeHead(404).end('not under /api/');
      return;
    }
    const out = httpRequest(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url.slice('/api'.length), headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode!, answer.headers);
        answer.pipe(res);
      },
    );
    out.on('error', () => res.destroy());
    req.pipe(out);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

async function submitTestSleep(params: Record<string, unknown>): Promise<string> {
  const job = await ok(api.POST('/jobs', { body: { analysis: 'test-sleep', params } }));
  return job.id;
}

beforeAll(async () => {
  mkdirSync(artifacts, { recursive: true });
  mkdirSync(docsImages, { recursive: true });
  ({ url, own } = await serviceUnderTest({ SAMPLE_DATA: 'data/sample.json', ENABLE_TEST_ANALYSES: 'true', WORKER_CONCURRENCY: '2' }));
  api = createApiClient(url, { fetch: checkedFetch });
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 1200, height: 800 }, acceptDownloads: true });
  problems = watchProblems(page);
});

afterAll(async () => {
  await browser?.close();
  await own?.interrupt();
  await own?.kill();
});

describe('the dashboard in headless chromium', () => {
  it('opens / on the overview: the dataset, the queue, the workers', async () => {
    const res = await page.goto(`${url}/`);
    expect(res?.status()).toBe(200);
    expect(res?.headers()['content-security-policy']).toContain("script-src 'self'");
    const summary = await ok(api.GET('/data/summary'));
    await expect.poll(() => page.locator('[data-field="records"]').textContent(), { timeout: 30_000 }).toBe(String(summary.records));
    expect(await page.locator('[data-field="version"]').textContent()).toBe(String(summary.version));
    await expect.poll(() => page.locator('[data-field="workers"]').textContent(), { timeout: 30_000 }).toBe('1');
    expect(await page.locator('h1').textContent()).toBe('Overview');
    // The service streams its events (GET /events): the page listens instead of polling.
    await expect.poll(() => page.locator('.live').textContent(), { timeout: 30_000 }).toBe('live');
    await shot('overview');
    expect(problems).toEqual([]);
  });

  it('uploads data/sample.json from the Data view, with the outcome, and the overview follows live', async () => {
    const before = await ok(api.GET('/data/summary'));
    await view('Data');
    const loaded = page.locator('[data-field="loaded-records"]');

    // First a file with two records that cannot be used: the page lists them with their reasons.
    const sample = JSON.parse(readFileSync(SAMPLE, 'utf8')) as { meteorite_landings: object[] };
    const landings = [...sample.meteorite_landings, { name: 'No id at all' }, sample.meteorite_landings[0]!];
    const buffer = Buffer.from(JSON.stringify({ meteorite_landings: landings }));
    await page.getByLabel('File').setInputFiles({ name: 'with-bad-rows.json', mimeType: 'application/json', buffer });
    await page.getByRole('button', { name: 'Upload' }).click();
    await expect.poll(() => page.locator('[data-field="skipped-total"]').textContent(), { timeout: 60_000 }).toBe('2');
    const reasons = await page
      .locator('.outcome tbody tr')
      .evaluateAll((rows) => rows.map((r) => (r as unknown as { innerText: string }).innerText));
    expect(reasons.map((r) => r.split('\t'))).toEqual([
      [String(SAMPLE_RECORDS), '—', 'missing id'],
      [String(SAMPLE_RECORDS + 1), expect.any(String), 'duplicate id'],
    ]);
    await shot('data-skipped');

    await page.getByLabel('File').setInputFiles(SAMPLE);
    await page.getByRole('button', { name: 'Upload' }).click();
    await expect.poll(() => page.locator('[data-field="skipped-total"]').textContent(), { timeout: 60_000 }).toBe('0');
    expect(await loaded.textContent()).toBe(String(SAMPLE_RECORDS));
    expect(await page.locator('[data-field="skipped-total"]').textContent()).toBe('0');
    expect(await page.locator('#upload-progress').getAttribute('value')).toBe('100');
    const after = await ok(api.GET('/data/summary'));
    expect(after).toMatchObject({ version: before.version + 2, records: SAMPLE_RECORDS, source: 'sample.json' });
    // The landings table lists the loaded records, each linking to its page.
    await page.locator('table a').first().waitFor();
    await shot('data');
    await page.locator('table a').first().click();
    await page.locator('dl.card').waitFor();
    await shot('landing');

    await view('Overview');
    await expect.poll(() => page.locator('[data-field="version"]').textContent(), { timeout: 30_000 }).toBe(String(after.version));
    expect(problems).toEqual([]);
  });

  it('asks a group-by from the form: its progress bar reaches 100 %, its chart appears without a reload, its CSV downloads', async () => {
    await view('Ask');
    await page.getByLabel('Analysis').selectOption('group-by');
    // Dimensions and measures are checkbox groups generated from the schema's enums.
    const by = page.getByRole('group', { name: /^by/ });
    await by.getByLabel('class_type', { exact: true }).uncheck();
    await by.getByLabel('fall', { exact: true }).check();
    const measures = page.getByRole('group', { name: /^measures/ });
    for (const m of ['with_mass', 'mean_mass_g', 'median_mass_g', 'min_mass_g', 'max_mass_g']) {
      await measures.getByLabel(m, { exact: true }).uncheck();
    }
    await page.getByLabel('sort', { exact: true }).selectOption('key');
    await page.evaluate(() => ((globalThis as unknown as { notReloaded: boolean }).notReloaded = true));
    await shot('ask');
    await page.getByRole('button', { name: 'Submit' }).click();

    const panel = page.locator('.job-panel');
    await panel.waitFor({ timeout: 30_000 });
    const id = (await panel.getAttribute('data-job'))!;
    await expect.poll(() => progressOf(panel), { timeout: 60_000 }).toBe(100);
    const chart = page.locator('img.chart');
    await chart.waitFor({ timeout: 60_000 });
    expect(await chart.evaluate((img) => (img as unknown as { naturalWidth: number }).naturalWidth)).toBeGreaterThan(300);
    expect(await page.evaluate(() => (globalThis as unknown as { notReloaded?: boolean }).notReloaded)).toBe(true);

    const job = await ok(api.GET('/jobs/{id}', { params: { path: { id }, query: {} } }));
    const asked = { by: ['fall'], measures: ['count', 'total_mass_g'], sort: 'key' };
    expect(job).toMatchObject({ analysis: 'group-by', status: 'finished', params: asked });
    // The table shows the result's rows, sortable: Fell before Found by key, Found first by count descending.
    const firstCell = () => page.locator('.result-table tbody tr').first().locator('td').first().textContent();
    expect(await firstCell()).toBe('Fell');
    const countHeader = page.getByRole('button', { name: /^count/ });
    await countHeader.click();
    await countHeader.click();
    expect(await page.locator('.result-table th[aria-sort="descending"]').textContent()).toContain('count');
    await shot('ask-result');
    groupById = id;

    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download CSV' }).click()]);
    expect(download.suggestedFilename()).toBe(`group-by-${id}.csv`);
    const csv = readFileSync((await download.path())!, 'utf8');
    const served = await (await checkedFetch(`${url}/results/${id}?format=csv`)).text();
    expect(csv).toBe(served);
    expect(csv.split('\n')[0]).toBe('fall,count,total_mass_g');

    // The same question again: the service answers the job it has, and the page says so.
    await page.getByRole('button', { name: 'Submit' }).click();
    await page.locator('[data-field="deduplicated"]').waitFor({ timeout: 30_000 });
    expect(await page.locator('.job-panel').getAttribute('data-job')).toBe(id);
    expect(problems).toEqual([]);
  });

  it('cancels a running test-sleep job from the Jobs table', async () => {
    const id = await submitTestSleep({ steps: 600, step_ms: 100, tag: 'cancel-from-table' });
    await view('Jobs');
    const row = page.locator(`tr[data-job="${id}"]`);
    await expect.poll(() => row.locator('[data-status]').getAttribute('data-status'), { timeout: 60_000 }).toBe('running');
    await expect.poll(() => progressOf(row), { timeout: 60_000 }).toBeGreaterThan(0);
    await shot('jobs');
    await row.getByRole('button', { name: /^Cancel/ }).click();
    await expect.poll(() => row.locator('[data-status]').getAttribute('data-status'), { timeout: 60_000 }).toBe('cancelled');
    expect((await waitForJob(api, id)).status).toBe('cancelled');
    expect(await row.getByRole('button', { name: /^Cancel/ }).count()).toBe(0);

    // Filters: by analysis (on the page read), by status (on the server).
    const analyses = async () => (await page.locator('table.jobs tbody tr td:first-child').allTextContents()).sort();
    await page.getByLabel('Analysis').selectOption('group-by');
    await expect.poll(analyses, { timeout: 30_000 }).toEqual(['group-by']);
    await page.getByLabel('Analysis').selectOption('');
    await page.getByLabel('Status').selectOption('cancelled');
    const ids = () => page.locator('table.jobs tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-job')));
    await expect.poll(ids, { timeout: 30_000 }).toEqual([id]);
    await page.getByLabel('Status').selectOption('');
    await expect.poll(analyses, { timeout: 30_000 }).toEqual(['group-by', 'test-sleep']);
    expect(problems).toEqual([]);
  });

  it('reloads in the middle of a job and sees it go on to the end', async () => {
    const id = await submitTestSleep({ steps: 60, step_ms: 150, tag: 'reload' });
    await page.goto(`${url}/#/result/${id}`);
    const panel = page.locator('.job-panel');
    await expect.poll(() => progressOf(panel), { timeout: 60_000 }).toBeGreaterThan(0);
    const beforeReload = await progressOf(panel);
    expect(beforeReload).toBeLessThan(100);
    const streams: string[] = [];
    page.on('request', (req) => req.resourceType() === 'eventsource' && streams.push(new URL(req.url()).search));
    await page.reload();
    await expect.poll(() => progressOf(page.locator('.job-panel')), { timeout: 60_000 }).toBeGreaterThan(beforeReload);
    await expect.poll(() => page.locator('.job-panel [data-status]').getAttribute('data-status'), { timeout: 60_000 }).toBe('finished');
    expect(await progressOf(page.locator('.job-panel'))).toBe(100);
    await page.locator('.result').waitFor();
    // The reloaded page went on from the last event it had seen, not from now.
    expect(streams[0]).toMatch(/^\?last_event_id=\d+-\d+$/);
    expect(problems).toEqual([]);
  });

  it("shows a job's result page, and the overview with the latest jobs", async () => {
    await page.goto(`${url}/#/result/${groupById}`);
    await page.locator('img.chart').waitFor({ timeout: 30_000 });
    expect(await page.locator('.result-table tbody tr').count()).toBe(2);
    await shot('result', 'result');

    // "Ask the same again" opens the form filled in with this job's params.
    await page.getByRole('link', { name: 'Ask the same again' }).click();
    await expect.poll(() => page.getByLabel('Analysis').inputValue(), { timeout: 30_000 }).toBe('group-by');
    const by = page.getByRole('group', { name: /^by/ });
    await expect.poll(() => by.getByLabel('fall', { exact: true }).isChecked(), { timeout: 30_000 }).toBe(true);
    expect(await by.getByLabel('class_type', { exact: true }).isChecked()).toBe(false);
    expect(await page.getByLabel('sort', { exact: true }).inputValue()).toBe('key');

    await view('Overview');
    const latest = page.locator(`section[aria-labelledby="ov-recent"] tr[data-job="${groupById}"]`);
    await latest.waitFor({ timeout: 30_000 });
    expect(await latest.locator('[data-status]').getAttribute('data-status')).toBe('finished');
    await expect.poll(() => page.locator('[data-field="finished"]').textContent(), { timeout: 30_000 }).toBe('2');
    await shot('overview-jobs', 'dashboard');
    expect(problems).toEqual([]);
  });

  it('names every control of every view, for screen readers and keyboard users', async () => {
    for (const hash of ['#/overview', '#/ask/group-by', '#/jobs', `#/result/${groupById}`, '#/data']) {
      await page.goto(`${url}/${hash}`);
      await page.locator('main h1').waitFor();
      await page.locator('main :is(dl, table, form)').first().waitFor({ timeout: 30_000 });
      const unnamed = await page.locator('input, select, button, progress, textarea').evaluateAll((els) =>
        els
          .filter((el) => {
            const e = el as unknown as { labels?: ArrayLike<unknown>; textContent: string | null; getAttribute(n: string): string | null };
            return !(e.labels?.length || e.getAttribute('aria-label') || e.getAttribute('aria-labelledby') || e.textContent?.trim());
          })
          .map((el) => (el as unknown as { outerHTML: string }).outerHTML.slice(0, 120)),
      );
      expect(unnamed, hash).toEqual([]);
    }
    expect(problems).toEqual([]);
  });

  it('works behind a proxy that serves the service under a path prefix: every request stays under it', async () => {
    const proxy = await prefixProxy(url);
    const behind = await browser.newPage({ viewport: { width: 1200, height: 800 } });
    try {
      const trouble = watchProblems(behind);
      const paths: string[] = [];
      behind.on('request', (req) => paths.push(new URL(req.url()).pathname));
      await behind.goto(`${proxy.url}/api/`);
      const summary = await ok(api.GET('/data/summary'));
      await expect.poll(() => behind.locator('[data-field="records"]').textContent(), { timeout: 30_000 }).toBe(String(summary.records));
      await behind.getByRole('navigation', { name: 'Views' }).getByRole('link', { name: 'Jobs', exact: true }).click();
      await behind.locator(`tr[data-job="${groupById}"]`).waitFor({ timeout: 30_000 });
      await behind.goto(`${proxy.url}/api/#/result/${groupById}`);
      await behind.locator('img.chart').waitFor({ timeout: 30_000 });
      expect(paths.filter((p) => !p.startsWith('/api/'))).toEqual([]);
      expect(paths).toEqual(expect.arrayContaining(['/api/ui/app.js', '/api/jobs', `/api/results/${groupById}`]));
      expect(trouble).toEqual([]);
    } finally {
      await behind.close();
      proxy.server.closeAllConnections();
      await new Promise((resolve) => proxy.server.close(resolve));
    }
  });
});
