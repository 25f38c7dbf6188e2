/**
 * The CLI's API commands as child processes against a real API (the production app, in process,
 * listening on a loopback port) over a test Redis: `summary`, `fetch --load`, `analyses`,
 * `cancel` of a queued and of a running job (a real worker process), their error exits, and
 * `--help`, which needs no API at all. Expectations come from the API's own answers.
 */
import { createServer, type Server } from 'node:http';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiClient, ok, type ApiClient } from '@meteorites/client';
import { startRedis, type TestRedis } from '@meteorites/test-utils/redis';
import { buildTestApp } from '@meteorites/test-utils/app';
import { fullDataset } from '@meteorites/test-utils/env';
import { loadable, readNasaCsv } from '@meteorites/test-utils/source-csv';
import { killAllWorkers, spawnWorker } from '@meteorites/test-utils/worker';
import { runCli } from '@meteorites/test-utils/cli';
import type { App } from '@meteorites/api';

let redis: TestRedis;
let app: App;
let api: ApiClient;
let url: string;
let portal: Server;
let dir: string;

const cli = (...args: string[]) => runCli(args, { API_URL: url });
const submitSleep = (tag: string, steps: number) =>
  ok(api.POST('/jobs', { body: { analysis: 'test-sleep', params: { steps, step_ms: 100, tag } } }));

beforeAll(async () => {
  redis = await startRedis();
  app = await buildTestApp(redis.url, { ENABLE_TEST_ANALYSES: true });
  await app.listen({ host: '127.0.0.1', port: 0 });
  url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
  api = createApiClient(url);
  const csv = readFileSync(fullDataset().csv);
  portal = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/csv', 'content-length': csv.length }).end(csv));
  await new Promise<void>((resolve) => portal.listen(0, '127.0.0.1', resolve));
  dir = mkdtempSync(join(tmpdir(), 'meteorites-cli-'));
});

afterAll(async () => {
  await killAllWorkers();
  await app?.close();
  await redis?.close();
  await new Promise((resolve) => portal?.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

describe('CLI against a real API', () => {
  it('summary of an empty database, as text and as the API answered it', async () => {
    const run = await cli('summary');
    expect(run).toEqual({ code: 0, stdout: 'no dataset loaded (version 0)\n', stderr: '' });
    const json = await cli('summary', '--json');
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual(await ok(api.GET('/data/summary')));
  });

  it('fetch --load downloads the CSV and loads it into the service; summary then shows it', async () => {
    const out = join(dir, 'landings.csv');
    const port = (portal.address() as { port: number }).port;
    const run = await cli('fetch', '--url', `http://127.0.0.1:${port}/rows.csv`, '--out', out, '--load');
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const records = readNasaCsv(fullDataset().csv).filter(loadable).length;
    const lines = run.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^fetched 3\.8 MiB .*: CSV with 45716 records \(0 skipped\); saved as .*landings\.csv \(new\)/);
    expect(lines[1]).toMatch(
      new RegExp(`^loaded ${records} records \\(version 1\\) from landings\\.csv \\(3\\.8 MiB\\) in [\\d.]+ s; skipped 0$`),
    );

    const summary = await ok(api.GET('/data/summary'));
    expect(summary).toMatchObject({ version: 1, state: 'ready', records, source: 'landings.csv' });
    const text = await cli('summary');
    expect(text).toEqual({
      code: 0,
      stdout: `dataset version 1: ready, ${records} records from landings.csv, loaded ${summary.loaded_at}\n`,
      stderr: '',
    });
  });

  it('analyses lists every analysis GET /analyses offers, each with its params', async () => {
    const offered = await ok(api.GET('/analyses'));
    expect(offered.map((a) => a.name)).toContain('test-sleep');
    const run = await cli('analyses');
    expect(run.code).toBe(0);
    const blocks = run.stdout.trim().split('\n\n');
    expect(blocks).toHaveLength(offered.length + 1);
    offered.forEach((a, i) => {
      const lines = blocks[i]!.split('\n');
      expect(lines[0]).toBe(`${a.name}: ${a.description}`);
      expect(lines[1]).toMatch(/^ {2}PARAM +VALUES +MEANING$/);
      const params = Object.keys(a.params.properties as object);
      expect(lines.slice(2).map((l) => l.trim().split(/\s+/)[0])).toEqual(params);
    });
    expect(blocks.find((b) => b.startsWith('heaviest:'))).toMatch(/\n {2}n +integer 1\.\.1000, default 10 +How many landings/);
    expect(blocks.at(-1)).toBe('submit one with: meteorites submit <analysis> --param name=value ...');

    const json = await cli('analyses', '--json');
    expect(JSON.parse(json.stdout)).toEqual(offered);
  });

  it('cancel of a queued job (no worker runs yet); again, unknown and malformed ids are errors (exit 1)', async () => {
    const job = await submitSleep('cli cancel queued', 1);
    expect(job.status).toBe('queued');
    const run = await cli('cancel', job.id);
    expect(run).toEqual({ code: 0, stdout: `job ${job.id} cancelled (test-sleep)\n`, stderr: '' });
    expect((await ok(api.GET('/jobs/{id}', { params: { path: { id: job.id } } }))).status).toBe('cancelled');

    const again = await cli('cancel', job.id);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^error: .*cancelled.* \(HTTP 409, \w+\)\n$/);
    const unknown = await cli('cancel', '00000000-0000-4000-8000-000000000000');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/^error: .* \(HTTP 404, \w+\)\n$/);
    const malformed = await cli('cancel', 'not-a-job');
    expect(malformed.code).toBe(1);
    expect(malformed.stderr).toMatch(/^error: .* \(HTTP 400, \w+\)\n$/);
    const usage = await cli('cancel');
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/^expected one job id, got 0\n\nusage: meteorites cancel <job-id>/);
  });

  it('cancel of a running job asks it to stop; wait then sees it cancelled (exit 1)', async () => {
    await spawnWorker(redis.url, {}, { bundled: true });
    // 10 minutes of steps: it can only end by the cancel.
    const job = await submitSleep('cli cancel running', 6000);
    const deadline = Date.now() + 60_000;
    while ((await ok(api.GET('/jobs/{id}', { params: { path: { id: job.id }, query: { wait: 0 } } }))).status !== 'running') {
      expect(Date.now()).toBeLessThan(deadline);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const run = await cli('cancel', job.id);
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(
      `job ${job.id} is running: asked to stop, it ends cancelled at its next checkpoint (test-sleep); \`wait ${job.id}\` shows when\n`,
    );
    const waited = await cli('wait', job.id, '--timeout', '60');
    expect(waited).toEqual({ code: 1, stdout: `job ${job.id} cancelled (test-sleep)\n`, stderr: '' });
  });

  it('an API that does not answer is exit 1; --help needs no API', async () => {
    const down = await runCli(['summary'], { API_URL: 'http://127.0.0.1:9' });
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(/^error: cannot reach the API at http:\/\/127\.0\.0\.1:9 \(.*\): is it running\?/);
    for (const command of ['analyses', 'cancel', 'summary', 'submit']) {
      const help = await runCli([command, '--help'], { API_URL: 'http://127.0.0.1:9' });
      expect(help.code).toBe(0);
      expect(help.stdout).toMatch(new RegExp(`^usage: meteorites ${command}\\b`));
    }
  });
});
