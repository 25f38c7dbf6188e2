/**
 * Production runs compiled JavaScript (`npm start`, the Docker image): `npm run build`, then
 * scripts/dist/start.js under `--conditions=production`, whose API and worker run api/dist and
 * worker/dist; the `meteorites` bin then runs scripts/dist/cli.js. Every other suite runs the
 * TypeScript sources through tsx, so only this one sees a compiled module that cannot find a file
 * it reads beside itself (a Lua script, the dashboard's sources) or a package export without its
 * `production` target.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiClient, ok, type ApiClient } from '@meteorites/client';
import { runCli } from '@meteorites/test-utils/cli';
import { checkedFetch } from '@meteorites/test-utils/response-check';
import { descendantsOf, startService, waitForJob, type StartedService } from '@meteorites/test-utils/service';

const root = fileURLToPath(new URL('../..', import.meta.url));
const START = 'node --conditions=production scripts/dist/start.js';
const sample = (JSON.parse(readFileSync(`${root}data/sample.json`, 'utf8')) as { meteorite_landings: { recclass: string }[] })
  .meteorite_landings;

let service: StartedService;
let api: ApiClient;

/** `npm run build` as `npm start` runs it first; its output in the error when it fails. */
async function build(): Promise<void> {
  const child = spawn('npm', ['run', '-s', 'build'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const [code] = (await once(child, 'close')) as [number | null];
  if (code !== 0) throw new Error(`npm run build exited with ${code}:\n${output}`);
}

/** The command line of a process, from /proc (empty once it has exited). */
function commandLine(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return [];
  }
}

beforeAll(async () => {
  await build();
  service = await startService({ SAMPLE_DATA: 'data/sample.json' }, { compiled: true });
  api = createApiClient(service.url, { fetch: checkedFetch });
});

afterAll(async () => {
  await service?.kill();
});

describe('npm start, compiled', () => {
  it('is what npm start runs: the build, then scripts/dist/start.js, whose children run api/dist and worker/dist', () => {
    const pkg = JSON.parse(readFileSync(`${root}package.json`, 'utf8')) as { scripts: Record<string, string> };
    expect(pkg.scripts.start).toBe(`npm run -s build && ${START}`);
    expect(commandLine(service.pid).slice(1)).toEqual(START.split(' ').slice(1));
    const children = service.descendants().map((pid) => commandLine(pid).slice(1).join(' '));
    expect(children).toEqual(
      expect.arrayContaining([`--conditions=production ${root}api/dist/server.js`, `--conditions=production ${root}worker/dist/main.js`]),
    );
    expect(children.join('\n')).not.toMatch(/tsx|\.ts\b/);
  });

  it('loads SAMPLE_DATA, runs mass-by-class on the worker and draws its chart', async () => {
    expect(await ok(api.GET('/health'))).toEqual({ status: 'ok' });
    expect(await ok(api.GET('/data/summary'))).toMatchObject({ state: 'ready', records: sample.length });
    const submitted = await ok(api.POST('/jobs', { body: { analysis: 'mass-by-class', params: {} } }));
    const job = await waitForJob(api, submitted.id, 60_000);
    expect(job).toMatchObject({ status: 'finished', error: null });
    const result = await ok(api.GET('/results/{id}', { params: { path: { id: job.id } } }));
    const expected = new Map<string, number>();
    for (const m of sample) expected.set(m.recclass, (expected.get(m.recclass) ?? 0) + 1);
    const groups = (result as Exclude<typeof result, string>).groups!;
    expect(new Map(groups.map((g) => [String(g.key), g.count]))).toEqual(expected);
    // The chart store's Lua (api/dist/routes/chart-store.lua), and the fonts the PNG is drawn with.
    const svg = await ok(api.GET('/results/{id}/chart.svg', { params: { path: { id: job.id } }, parseAs: 'text' }));
    expect(svg).toMatch(/^(<\?xml[^>]*>\s*)?<svg[\s>]/);
    const png = await api.GET('/results/{id}/chart.png', { params: { path: { id: job.id } }, parseAs: 'arrayBuffer' });
    expect(png.response.headers.get('content-type')).toBe('image/png');
    expect(Buffer.from(png.data!).subarray(1, 4).toString()).toBe('PNG');
  });

  it('serves the dashboard: the page and its bundle, built from api/web by the compiled API', async () => {
    const page = await fetch(`${service.url}/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('src="ui/app.js"');
    const script = await fetch(`${service.url}/ui/app.js`);
    expect(script.status).toBe(200);
    expect(script.headers.get('content-type')).toMatch(/javascript/);
    expect((await script.text()).length).toBeGreaterThan(1000);
  });

  it('the meteorites bin runs the compiled CLI: --help, and summary against the compiled API', async () => {
    const help = await runCli(['--help'], {}, { bin: true });
    expect(help).toMatchObject({ code: 0, stderr: '' });
    expect(help.stdout).toMatch(/^usage: meteorites <command>/);
    const summary = await runCli(['summary', '--json'], { API_URL: service.url }, { bin: true });
    expect(summary).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(summary.stdout)).toEqual(await ok(api.GET('/data/summary')));
  });

  it('the meteorites bin: its child is scripts/dist/cli.js under the production condition, and a SIGINT sent to the bin stops it', async () => {
    // A portal that sends NASA's header and one landing, then nothing: the download stays under way.
    const head =
      'name,id,nametype,recclass,mass (g),fall,year,reclat,reclong,GeoLocation\nAachen,1,Valid,L5,21,Fell,1880,50.775000,6.083330,"(50.775, 6.08333)"\n';
    const portal: Server = createServer((_req, res) => void res.writeHead(200, { 'content-type': 'text/csv' }).write(head));
    await new Promise<void>((resolve) => portal.listen(0, '127.0.0.1', resolve));
    const dir = mkdtempSync(join(tmpdir(), 'meteorites-bin-'));
    const out = join(dir, 'landings.csv');
    try {
      const url = `http://127.0.0.1:${(portal.address() as { port: number }).port}/landings.csv`;
      let children: string[][] = [];
      const run = await runCli(
        ['fetch', '--url', url, '--out', out],
        {},
        {
          bin: true,
          onStart: (bin) => {
            const poll = setInterval(() => {
              if (!existsSync(`${out}.partial`)) return;
              clearInterval(poll);
              children = descendantsOf(bin.pid!).map(commandLine);
              bin.kill('SIGINT');
            }, 50);
            bin.once('exit', () => clearInterval(poll));
          },
        },
      );
      expect(children.map((c) => c.slice(1))).toEqual([
        ['--conditions=production', `${root}scripts/dist/cli.js`, 'fetch', '--url', url, '--out', out],
      ]);
      expect(run).toEqual({ code: 130, stdout: '', stderr: 'interrupted: the download was removed, the old file is as it was\n' });
      expect(readdirSync(dir)).toEqual([]);
    } finally {
      portal.closeAllConnections();
      portal.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('stops cleanly on SIGTERM: exit 0, no process left', async () => {
    const pids = service.descendants();
    expect(await service.terminate()).toEqual({ code: 0, signal: null });
    for (const pid of pids) expect(commandLine(pid), `pid ${pid}`).toEqual([]);
    expect(service.output()).toContain('[start] stopped');
  });
});
