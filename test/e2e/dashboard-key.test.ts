/**
 * The dashboard where the service takes API keys, in headless chromium, against in-process APIs
 * on one test Redis (no worker: a submitted job stays queued). With API_KEY_PROTECT_READS the
 * page reads nothing before it has the key, asks for it once per tab, and sends it as a Bearer
 * token, the stream of events included (as polls: EventSource cannot send the header). With
 * API_KEY alone the page can go on read-only; a write then asks for the key again.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '@meteorites/api';
import { buildTestApp } from '@meteorites/test-utils/app';
import { launchChromium, watchProblems } from '@meteorites/test-utils/browser';
import { startRedis, type TestRedis } from '@meteorites/test-utils/redis';

const root = fileURLToPath(new URL('../../', import.meta.url));
const artifacts = join(root, 'test-results/dashboard');
const KEY = 'dashboard-test-key-0123456789abcdef';

let redis: TestRedis;
let browser: Browser;
const apps: App[] = [];

async function serve(overrides: Record<string, unknown>): Promise<string> {
  const app = await buildTestApp(redis.url, overrides);
  apps.push(app);
  await app.listen({ host: '127.0.0.1', port: 0 });
  return `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
}

const view = (page: Page, name: string) => page.getByRole('navigation', { name: 'Views' }).getByRole('link', { name, exact: true }).click();

beforeAll(async () => {
  mkdirSync(artifacts, { recursive: true });
  redis = await startRedis();
  const loader = await buildTestApp(redis.url, { API_KEY: KEY });
  apps.push(loader);
  const load = await loader.inject({
    method: 'POST',
    url: '/data?source=sample.json',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` },
    payload: readFileSync(join(root, 'data/sample.json')),
  });
  expect(load.statusCode).toBe(201);
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await Promise.all(apps.map((a) => a.close()));
  await redis?.close();
});

describe('the dashboard with an API key', () => {
  it('API_KEY_PROTECT_READS: asks for the key before reading anything, then works with it, across a reload', async () => {
    const url = await serve({ API_KEY: KEY, API_KEY_PROTECT_READS: true });
    const page = await browser.newPage({ viewport: { width: 1200, height: 800 } });
    const problems = watchProblems(page);
    const asked: string[] = [];
    page.on('request', (req) => asked.push(`${req.method()} ${new URL(req.url()).pathname} ${req.headers().authorization ?? '-'}`));

    await page.goto(`${url}/`);
    const field = page.getByLabel('Key', { exact: true });
    await field.waitFor();
    // Only the page and its bundle so far: no read that would answer 401.
    expect(asked.map((a) => a.split(' ')[1]).sort()).toEqual(['/', '/ui/app.css', '/ui/app.js']);
    expect(await page.getByRole('button', { name: 'Go on read-only' }).count()).toBe(0);
    await page.screenshot({ path: join(artifacts, 'key-prompt.png') });

    await field.fill(KEY);
    await page.getByRole('button', { name: 'Use this key' }).click();
    await expect.poll(() => page.locator('[data-field="records"]').textContent(), { timeout: 30_000 }).toBe('38');
    expect(await page.locator('.live').textContent()).toBe('polling');
    expect(asked.filter((a) => a.startsWith('GET /data/summary')).every((a) => a.endsWith(`Bearer ${KEY}`))).toBe(true);

    // Once per tab: a reload keeps the key.
    await page.reload();
    await expect.poll(() => page.locator('[data-field="records"]').textContent(), { timeout: 30_000 }).toBe('38');
    expect(await field.count()).toBe(0);

    await view(page, 'Ask');
    await page.getByLabel('Analysis').selectOption('mass-by-class');
    await page.getByRole('button', { name: 'Submit' }).click();
    const panel = page.locator('.job-panel');
    await panel.waitFor({ timeout: 30_000 });
    expect(await panel.locator('[data-status]').getAttribute('data-status')).toBe('queued');
    expect(problems).toEqual([]);
    await page.close();
  });

  it('API_KEY alone: read-only without the key; a write answers 401 and the page asks for the key again', async () => {
    const url = await serve({ API_KEY: KEY });
    const page = await browser.newPage({ viewport: { width: 1200, height: 800 } });
    const problems = watchProblems(page);
    await page.goto(`${url}/`);
    await page.getByRole('button', { name: 'Go on read-only' }).click();
    await expect.poll(() => page.locator('[data-field="records"]').textContent(), { timeout: 30_000 }).toBe('38');
    expect(await page.locator('.key-status').textContent()).toContain('read-only');

    await view(page, 'Ask');
    await page.getByLabel('Analysis').selectOption('heaviest');
    await page.getByRole('button', { name: 'Submit' }).click();
    await page.getByRole('alert').waitFor();
    expect(await page.getByRole('alert').textContent()).toContain('API key');
    await page.getByLabel('Key', { exact: true }).fill(KEY);
    await page.getByRole('button', { name: 'Use this key' }).click();
    await page.getByRole('button', { name: 'Submit' }).click();
    await page.locator('.job-panel').waitFor({ timeout: 30_000 });
    // The one refused write, as the response and as chromium's console line about it; nothing else.
    expect(problems).toEqual([expect.stringMatching(/^401 POST .*\/jobs$/), expect.stringMatching(/^console: .*status of 401/)]);
    await page.close();
  });
});
