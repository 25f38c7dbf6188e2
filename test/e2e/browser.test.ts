/**
 * The service in a real browser: Debian's chromium, headless, driven by playwright-core. A user
 * opens the dashboard at / and follows its footer links (dashboard.test.ts drives the dashboard
 * itself); opens /docs, runs a mass-by-class job from POST /jobs, sees its 202 and id, then
 * opens the job's chart. Screenshots are kept under
 * test-results/browser/ as artifacts.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiClient, ok, type ApiClient } from '@meteorites/client';
import { checkedFetch } from '@meteorites/test-utils/response-check';
import { serviceUnderTest, waitForJob, type StartedService } from '@meteorites/test-utils/service';
import { launchChromium, watchProblems } from '@meteorites/test-utils/browser';

const artifacts = fileURLToPath(new URL('../../test-results/browser/', import.meta.url));
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/;

let url: string;
let own: StartedService | undefined;
let api: ApiClient;
let browser: Browser;
let page: Page;
let jobId: string;

/** Share of a PNG's pixels that are drawn and not near-white, decoded by the browser (on a blank page: no CSP in the way). */
async function inkedShare(png: Buffer): Promise<number> {
  const scratch = await browser.newPage();
  try {
    return await scratch.evaluate(async (b64) => {
      // DOM APIs: the test project is typed for Node only.
      const dom = globalThis as unknown as {
        createImageBitmap(blob: Blob): Promise<{ width: number; height: number }>;
        OffscreenCanvas: new (
          w: number,
          h: number,
        ) => {
          getContext(type: '2d'): {
            drawImage(img: unknown, x: number, y: number): void;
            getImageData(...a: number[]): { data: Uint8ClampedArray };
          };
        };
      };
      const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const bitmap = await dom.createImageBitmap(new Blob([bytes], { type: 'image/png' }));
      const g = new dom.OffscreenCanvas(bitmap.width, bitmap.height).getContext('2d');
      g.drawImage(bitmap, 0, 0);
      const { data } = g.getImageData(0, 0, bitmap.width, bitmap.height);
      let inked = 0;
      for (let i = 0; i < data.length; i += 4)
        if (data[i + 3]! > 0 && (data[i]! < 200 || data[i + 1]! < 200 || data[i + 2]! < 200)) inked++;
      return inked / (data.length / 4);
    }, png.toString('base64'));
  } finally {
    await scratch.close();
  }
}

beforeAll(async () => {
  mkdirSync(artifacts, { recursive: true });
  ({ url, own } = await serviceUnderTest());
  api = createApiClient(url, { fetch: checkedFetch });
  // A fresh start holds the full dataset; a service at E2E_API_URL may hold nothing (the flow suite ends with a delete).
  if ((await ok(api.GET('/data/summary'))).records === 0) {
    await ok(
      api.POST('/data', {
        params: { query: { source: 'data/sample.json' } },
        body: readFileSync(fileURLToPath(new URL('../../data/sample.json', import.meta.url))) as never,
        bodySerializer: (b) => b,
        headers: { 'content-type': 'application/json' },
      }),
    );
  }
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
});

afterAll(async () => {
  await browser?.close();
  await own?.interrupt();
  await own?.kill();
});

describe('the front page in headless chromium', () => {
  it('opens / without a console error or CSP violation, shows the dataset, and every footer link answers 200', async () => {
    const front = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    try {
      const problems = watchProblems(front);
      const res = await front.goto(`${url}/`);
      expect(res?.status()).toBe(200);
      expect(res?.headers()['content-security-policy']).toContain("script-src 'self'");
      const summary = await ok(api.GET('/data/summary'));
      // The dashboard's overview draws the summary once its script has run.
      await expect
        .poll(() => front.locator('[data-field="records"]').textContent(), { timeout: 30_000 })
        .toBe(summary.records.toLocaleString('en-US'));
      await front.screenshot({ path: join(artifacts, 'front.png'), fullPage: true });
      expect(await front.title()).toBe('Meteorite analysis service');
      if (own) expect(summary.records).toBe(45_716);

      // Not networkidle: the dashboard holds its event stream open for as long as it is shown.
      await front.locator('[data-field="workers"]').waitFor();
      expect(problems).toEqual([]);

      // Followed as a click would (redirects too: docs goes on to docs/). Chromium asks the text
      // and JSON pages for a /favicon.ico, which this service does not have: not the page's fault.
      const hrefs = await front.locator('footer a').evaluateAll((links) => links.map((a) => (a as unknown as { href: string }).href));
      expect(hrefs.map((h) => new URL(h).pathname.replace(/^.*\//, '')).sort()).toEqual(['docs', 'help', 'metrics', 'openapi.json']);
      for (const href of hrefs) {
        const linked = await front.goto(href);
        expect(linked?.status(), href).toBe(200);
      }
    } finally {
      await front.close();
    }
  });
});

describe('Swagger UI in headless chromium', () => {
  it('runs a mass-by-class job from POST /jobs: "Try it out", Execute, a 202 with the job id', async () => {
    // What the page itself complains about (script errors, CSP violations, failed loads), for a failure's message.
    const problems: string[] = [];
    page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
    page.on('console', (msg) => msg.type() === 'error' && problems.push(`console: ${msg.text()}`));
    page.on('response', (res) => res.status() >= 400 && problems.push(`${res.status()} ${res.url()}`));
    await page.goto(`${url}/docs`);
    const op = page.locator('#operations-jobs-post_jobs');
    try {
      await op.waitFor({ timeout: 60_000 });
    } catch (err) {
      await page.screenshot({ path: join(artifacts, 'docs-failed.png'), fullPage: true });
      throw new Error(`Swagger UI shows no POST /jobs (see docs-failed.png): ${[(err as Error).message, ...problems].join('; ')}`);
    }
    await page.screenshot({ path: join(artifacts, 'docs.png') });
    await op.locator('.opblock-summary').click();
    await op.getByRole('button', { name: 'Try it out' }).click();
    await op.locator('textarea.body-param__text').fill('{"analysis":"mass-by-class","params":{}}');
    await op.getByRole('button', { name: 'Execute' }).click();

    const live = op.locator('.live-responses-table');
    await live.waitFor({ timeout: 30_000 });
    await op.screenshot({ path: join(artifacts, 'docs-post-jobs.png') });
    const response = live.locator('tr.response').first();
    const status = (await response.locator('.response-col_status').innerText()).trim();
    const body = await response.locator('.response-col_description pre').first().innerText();
    // A deployment may already hold this very job (deduplicated: 200); a fresh start must queue it.
    expect(status).toEqual(own ? '202' : expect.stringMatching(/^20[02]$/));
    const shown = JSON.parse(body) as { id: string; analysis: string; deduplicated: boolean };
    expect(shown).toMatchObject({ id: expect.stringMatching(UUID), analysis: 'mass-by-class', deduplicated: status === '200' });
    jobId = shown.id;
  });

  it("opens the job's chart: an SVG with drawn marks, not a blank page", async () => {
    expect(jobId, 'the job from Swagger UI').toMatch(UUID);
    expect((await waitForJob(api, jobId)).status).toBe('finished');
    const res = await page.goto(`${url}/results/${jobId}/chart.svg`);
    expect(res?.status()).toBe(200);
    expect(res?.headers()['content-type']).toMatch(/^image\/svg\+xml/);
    const svg = page.locator('svg').first();
    const box = await svg.boundingBox();
    expect(box?.width).toBeGreaterThan(300);
    expect(box?.height).toBeGreaterThan(200);
    // vega draws bars and axes as paths; the title and labels as text.
    expect(await page.locator('svg path').count()).toBeGreaterThan(10);
    expect(await page.locator('svg text').count()).toBeGreaterThan(5);
    const shot = await page.screenshot({ path: join(artifacts, 'chart-svg.png') });
    expect(await inkedShare(shot)).toBeGreaterThan(0.02);
  });
});
