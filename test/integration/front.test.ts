/**
 * The front door: GET / (the dashboard's HTML shell, with the links a newcomer needs), its bundle
 * under /ui/, and GET /help (every route the app registers, and a curl walk-through that the last test runs
 * for real, with curl, against a listening API and a worker).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Fastify, { type RouteOptions } from 'fastify';
import fp from 'fastify-plugin';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '@meteorites/shared';
import { appPlugin, serverOptions, NO_SUMMARY } from '@meteorites/api';
import { startRedis, type TestRedis } from '@meteorites/test-utils/redis';
import { buildTestApp } from '@meteorites/test-utils/app';
import { projectRoot } from '@meteorites/test-utils/process';
import { killAllWorkers, spawnWorker } from '@meteorites/test-utils/worker';

const SAMPLE = readFileSync(join(projectRoot, 'data/sample.json'));
const KEY = 'front-door-test-key-0123456789';
const LINKS = ['docs', 'openapi.json', 'help', 'metrics'];

/** The app as production builds it, with every route it registers recorded (buildApp gives no hook before routes). */
async function appWithRoutes(config: Config) {
  const routes: RouteOptions[] = [];
  const app = Fastify(serverOptions(config));
  app.addHook('onRoute', (route: RouteOptions) => {
    routes.push(route);
  });
  await app.register(fp(appPlugin, { name: 'app' }), { config });
  await app.ready();
  return { app, routes };
}

describe('GET / and GET /help', () => {
  let redis: TestRedis;
  let built: Awaited<ReturnType<typeof appWithRoutes>>;
  const apps: { close(): Promise<unknown> }[] = [];

  beforeAll(async () => {
    redis = await startRedis();
    built = await appWithRoutes({ ...loadConfig({ REDIS_URL: redis.url, LOG_LEVEL: 'silent' }) });
    apps.push(built.app);
    // The worked example of /help asks for an analysis: it needs a dataset.
    const load = await built.app.inject({ method: 'POST', url: '/data', headers: { 'content-type': 'application/json' }, payload: SAMPLE });
    expect(load.statusCode).toBe(201);
  });
  afterAll(async () => {
    await killAllWorkers();
    await Promise.all(apps.map((a) => a.close()));
    await redis?.close();
  });

  it('GET /: the dashboard shell, its one script a module from this origin, nothing the CSP refuses, relative links only', async () => {
    const res = await built.app.inject('/');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(res.headers['content-security-policy']).toContain("script-src 'self'");
    expect(res.body).toMatch(/^<!doctype html>/);
    expect(res.body.match(/<script[^>]*>/g)).toEqual(['<script type="module" src="ui/app.js">']);
    expect(res.body).toContain('<link rel="stylesheet" href="ui/app.css">');
    // Nothing the CSP would refuse: no inline script, no event handler or style attribute.
    expect(res.body).not.toMatch(/<script(?![^>]*\ssrc=)|\son[a-z]+=|\sstyle=/i);
    for (const href of LINKS) expect(res.body, href).toContain(`<a href="${href}">`);
    // Relative URLs only, so a path prefix in front of the API keeps them working.
    expect(res.body).not.toMatch(/(href|src)="(\/|https?:)/);
    expect(res.body).toContain('<meta name="meteorites-auth" content="none">');
    expect(res.body).toMatch(/<meta name="meteorites-live" content="(sse|poll)">/);
    expect((await built.app.inject({ method: 'HEAD', url: '/' })).statusCode).toBe(200);
  });

  it("GET /ui/app.js and /ui/app.css: the dashboard's bundle, without eval, asking the API by relative URLs", async () => {
    const script = await built.app.inject('/ui/app.js');
    expect(script.statusCode).toBe(200);
    expect(script.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(script.body.length).toBeGreaterThan(10_000);
    // The CSP has no 'unsafe-eval': code that builds code would be refused in the browser.
    expect(script.body).not.toMatch(/\beval\(|new Function\(/);
    // The routes it asks for are there (bundled from api/web/), and none with a leading slash.
    for (const path of ['jobs', 'analyses', 'data/summary', 'metrics', 'meteorites', 'results/']) expect(script.body, path).toContain(path);
    expect(script.body).not.toMatch(/["'`]\/(jobs|data|meteorites|results|analyses|metrics|events)\b/);
    const style = await built.app.inject('/ui/app.css');
    expect(style.statusCode).toBe(200);
    expect(style.headers['content-type']).toBe('text/css; charset=utf-8');
    expect(style.body).toContain('progress');
  });

  it('GET /help lists every route the app registers, with its method and summary', async () => {
    const res = await built.app.inject('/help');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/plain; charset=utf-8');
    const lines = res.body.split('\n');
    const registered = built.routes.flatMap((r) =>
      (Array.isArray(r.method) ? r.method : [r.method]).map((method) => ({ method, route: r })),
    );
    let listed = 0;
    for (const { method, route } of registered) {
      if (method === 'HEAD') continue; // Fastify's automatic twin of each GET
      const schema = route.schema as { hide?: boolean; summary?: string } | undefined;
      if (schema?.hide) {
        // Undocumented on purpose: only Swagger UI and the document it loads, which the help names.
        expect(route.url, `${method} ${route.url} is hidden`).toMatch(/^\/(docs(\/.*)?|openapi\.json)$/);
        continue;
      }
      const path = route.url.replace(/:([A-Za-z_]+)/g, '{$1}');
      const name = `${method} ${path}`;
      expect(schema?.summary, `${name} declares no summary`).toEqual(expect.stringMatching(/\S/));
      const line = lines.find((l) => new RegExp(`^  ${method} +${path.replace(/[.{}]/g, '\\$&')} +\\S`).test(l));
      expect(line, `${name} is not in /help`).toBeDefined();
      expect(line!.replace(/^ +\S+ +\S+ +/, ''), name).toBe(schema!.summary!.replace(/`/g, ''));
      listed++;
    }
    expect(listed).toBeGreaterThanOrEqual(20);
    expect(res.body).not.toContain(NO_SUMMARY);
    expect(res.body).toContain('/docs');
    expect(res.body).toContain('/openapi.json');
    for (const route of ['GET    /', 'GET    /help'])
      expect(
        lines.some((l) => l.startsWith(`  ${route} `)),
        route,
      ).toBe(true);
  });

  it('all are in the OpenAPI document, with their content types', async () => {
    const doc = (await built.app.inject('/openapi.json')).json() as {
      paths: Record<string, { get: { tags: string[]; responses: Record<string, { content: object }> } }>;
    };
    expect(Object.keys(doc.paths['/']!.get.responses['200']!.content)).toEqual(['text/html']);
    expect(Object.keys(doc.paths['/help']!.get.responses['200']!.content)).toEqual(['text/plain']);
    expect(doc.paths['/']!.get.tags).toEqual(['service']);
    expect(Object.keys(doc.paths['/ui/app.js']!.get.responses['200']!.content)).toEqual(['text/javascript']);
    expect(Object.keys(doc.paths['/ui/app.css']!.get.responses['200']!.content)).toEqual(['text/css']);
  });

  it('with API_KEY the page says who needs the key; with API_KEY_PROTECT_READS the page, its bundle and help stay open', async () => {
    const guarded = await buildTestApp(redis.url, { API_KEY: KEY, API_KEY_PROTECT_READS: true });
    apps.push(guarded);
    expect((await guarded.inject('/data/summary')).statusCode).toBe(401);
    const page = await guarded.inject('/');
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('<meta name="meteorites-auth" content="reads">');
    for (const url of ['/ui/app.js', '/ui/app.css', '/help']) expect((await guarded.inject(url)).statusCode, url).toBe(200);

    const writesOnly = await buildTestApp(redis.url, { API_KEY: KEY });
    apps.push(writesOnly);
    expect((await writesOnly.inject('/')).body).toContain('<meta name="meteorites-auth" content="writes">');
  });

  it('GET / and its bundle still answer while Redis does not', async (ctx) => {
    if (!redis.controllable) ctx.skip();
    await redis.stop();
    try {
      for (const url of ['/', '/ui/app.js']) expect((await built.app.inject(url)).statusCode, url).toBe(200);
    } finally {
      await redis.start();
    }
    await expect.poll(async () => (await built.app.inject('/ready')).statusCode, { timeout: 30_000 }).toBe(200);
  });

  it("the help's worked example runs as it stands: submit, wait, result, download", async () => {
    const served = await buildTestApp(redis.url);
    apps.push(served);
    await served.listen({ host: '127.0.0.1', port: 0 });
    const { port } = served.server.address() as { port: number };
    await spawnWorker(redis.url);

    const help = await (await fetch(`http://127.0.0.1:${port}/help`)).text();
    const example = help
      .slice(help.indexOf('Worked example'))
      .split('\n')
      .slice(1)
      .map((l) => l.replace(/^ {2}/, ''))
      .join('\n');
    expect(example).toContain(`API=http://127.0.0.1:${port}\n`);

    const dir = mkdtempSync(join(tmpdir(), 'meteorites-help-'));
    try {
      const { stdout } = await promisify(execFile)('sh', ['-e', '-c', example], { cwd: dir, timeout: 90_000 });
      const [jobLine, jobJson, resultJson] = stdout.trim().split('\n');
      const id = /^job ([0-9a-f-]{36})$/.exec(jobLine ?? '')?.[1];
      expect(id, stdout).toBeDefined();
      expect(JSON.parse(jobJson!)).toMatchObject({ id, analysis: 'mass-by-class', status: 'finished' });
      expect(JSON.parse(resultJson!)).toBeTypeOf('object');
      const png = join(dir, `mass-by-class-${id}.png`);
      expect(existsSync(png), readdirSync(dir).join(', ')).toBe(true);
      expect(readFileSync(png).subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
