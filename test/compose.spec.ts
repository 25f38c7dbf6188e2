/**
 * compose.yaml and the Dockerfile, checked without a container engine (CI has none): the
 * services, their commands, health checks, ports, volumes and ordering, and every environment
 * variable against the one config schema, so that a renamed setting or a moved entry point
 * fails here instead of in someone's `docker compose up`.
 */
import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { ConfigSchema, loadConfig } from '@meteorites/shared';
import { REDIS_SERVER_ARGS } from '@meteorites/tools';

const root = fileURLToPath(new URL('..', import.meta.url));
const read = (path: string) => readFileSync(`${root}${path}`, 'utf8');

interface Service {
  image?: string;
  build?: string | { context?: string; dockerfile?: string };
  command?: string | string[];
  environment?: Record<string, string | number | boolean | null> | string[];
  ports?: (string | { target: number; published?: string | number })[];
  volumes?: (string | { type?: string; source?: string; target: string })[];
  depends_on?: string[] | Record<string, { condition?: string }>;
  healthcheck?: { test: string | string[]; interval?: string; timeout?: string; retries?: number };
  container_name?: string;
  stop_grace_period?: string;
}

const compose = parse(read('compose.yaml')) as { services: Record<string, Service>; volumes?: Record<string, unknown> };
const { redis, api, worker } = compose.services;

/** `api/dist/server.js` is compiled from `api/src/server.ts`. */
const sourceOf = (entry: string) => entry.replace('/dist/', '/src/').replace(/\.js$/, '.ts');
/** The workspaces `npm run build` compiles, from tsconfig.build.json's references (`./api/tsconfig.build.json`). */
const builtWorkspaces = (JSON.parse(read('tsconfig.build.json')) as { references: { path: string }[] }).references.map(
  (r) => r.path.split('/')[1]!,
);
const words = (cmd: string | string[] | undefined) => (Array.isArray(cmd) ? cmd : (cmd ?? '').split(/\s+/)).map(String);

/** `${NAME:-default}` as compose interpolates it with NAME unset; any other `$` form is refused. */
function interpolate(value: string): string {
  const resolved = value.replace(/\$\{[A-Z0-9_]+:-([^}]*)\}/g, '$1');
  if (resolved.includes('$')) throw new Error(`compose value needs a variable set on the host: ${value}`);
  return resolved;
}

function environment(service: Service): Record<string, string> {
  const env = service.environment ?? {};
  const pairs = Array.isArray(env) ? env.map((e) => e.split(/=(.*)/s).slice(0, 2) as [string, string]) : Object.entries(env);
  return Object.fromEntries(pairs.map(([k, v]) => [k, interpolate(String(v ?? ''))]));
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Compose durations: `20s`, `1m30s`, `500ms`. */
function durationMs(value: string): number {
  let ms = 0;
  for (const [, n, unit] of value.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) ms += Number(n) * UNIT_MS[unit!]!;
  return ms;
}

/** The sources of a COPY (its flags and destination left out). */
const copySources = (args: string) =>
  args
    .split(/\s+/)
    .filter((a) => !a.startsWith('--'))
    .slice(0, -1);

/** The Dockerfile as instructions (continuation lines joined), with the stage each belongs to. */
function dockerfile(): { instruction: string; args: string; stage: number }[] {
  const lines = read('Dockerfile')
    .replace(/\\\r?\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  let stage = -1;
  return lines.map((line) => {
    const [instruction, ...rest] = line.split(/\s+/);
    if (instruction!.toUpperCase() === 'FROM') stage++;
    return { instruction: instruction!.toUpperCase(), args: rest.join(' '), stage };
  });
}

describe('compose.yaml', () => {
  it('has redis, api and worker', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['api', 'redis', 'worker']);
  });

  it('runs redis:7 with AOF on a named volume at /data, and a health check', () => {
    expect(redis!.image).toBe('redis:7');
    expect(words(redis!.command).join(' ')).toMatch(/--appendonly yes\b/);
    const data = (redis!.volumes ?? []).map((v) => (typeof v === 'string' ? v.split(':') : [v.source, v.target]));
    const named = data.find(([, target]) => target === '/data');
    expect(named, 'a volume mounted at /data').toBeDefined();
    expect(named![0]).toMatch(/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/);
    expect(Object.keys(compose.volumes ?? {})).toContain(named![0]);
    expect(words(redis!.healthcheck?.test).join(' ')).toMatch(/redis-cli.*ping/);
  });

  it('gives redis the settings of every Redis the project starts (the id set kept as an intset)', () => {
    expect(words(redis!.command).join(' ')).toContain(REDIS_SERVER_ARGS.join(' '));
  });

  it.each([
    ['api', 'api/dist/server.js'],
    ['worker', 'worker/dist/main.js'],
  ])('builds %s from the root Dockerfile and runs %s, compiled from a source that exists', (name, entry) => {
    const service = compose.services[name]!;
    const build = typeof service.build === 'string' ? { context: service.build } : service.build;
    expect(build?.context).toBe('.');
    expect(build?.dockerfile ?? 'Dockerfile').toBe('Dockerfile');
    expect(words(service.command)).toEqual(['node', '--conditions=production', entry]);
    expect(existsSync(`${root}${sourceOf(entry)}`)).toBe(true);
  });

  it.each(['api', 'worker'])('starts %s after redis is healthy', (name) => {
    expect(compose.services[name]!.depends_on).toEqual({ redis: { condition: 'service_healthy' } });
  });

  it.each(['api', 'worker'])('configures %s only with settings of shared/src/config.ts, each one valid', (name) => {
    const env = environment(compose.services[name]!);
    const known = Object.keys(ConfigSchema.properties);
    for (const key of Object.keys(env)) expect(known, `${name}: ${key} is not a setting`).toContain(key);
    const config = loadConfig(env);
    expect(new URL(config.REDIS_URL!).hostname).toBe('redis');
  });

  it('publishes the port the api listens on, on every interface of the container, and checks /ready there', () => {
    const config = loadConfig(environment(api!));
    expect(config.HOST).toBe('0.0.0.0');
    const ports = (api!.ports ?? []).map((p) => (typeof p === 'string' ? Number(p.split(':').at(-1)) : p.target));
    expect(ports).toEqual([config.PORT]);
    expect(words(api!.healthcheck?.test).join(' ')).toContain(`:${config.PORT}/ready`);
  });

  it('lets the worker scale: no container name, no host port, a health check of its own', () => {
    expect(worker!.container_name).toBeUndefined();
    expect(worker!.ports).toBeUndefined();
    const check = words(worker!.healthcheck?.test);
    expect(check).toEqual(['CMD', 'node', '--conditions=production', 'worker/dist/healthcheck.js']);
    expect(existsSync(`${root}${sourceOf(check[3]!)}`)).toBe(true);
  });

  it('gives a stopping worker longer than its shutdown grace, so running jobs finish or go back', () => {
    const grace = loadConfig(environment(worker!)).WORKER_SHUTDOWN_GRACE_MS;
    expect(durationMs(worker!.stop_grace_period ?? '10s')).toBeGreaterThan(grace);
  });
});

describe('Dockerfile', () => {
  const steps = dockerfile();
  const final = Math.max(...steps.map((s) => s.stage));
  const install = steps.findIndex((s) => s.instruction === 'RUN' && /\bnpm ci\b/.test(s.args));

  it('is multi-stage and runs as a non-root user', () => {
    expect(final).toBeGreaterThanOrEqual(1);
    const user = steps.filter((s) => s.stage === final && s.instruction === 'USER').at(-1);
    expect(user, 'a USER in the final stage').toBeDefined();
    expect(user!.args).not.toMatch(/^(root|0)(:|$)/);
  });

  it('installs production dependencies only, from the lockfile and every workspace package.json copied first', () => {
    expect(install).toBeGreaterThanOrEqual(0);
    expect(steps[install]!.args).toMatch(/npm ci\b.*--omit=dev/);
    const copied = steps
      .slice(0, install)
      .filter((s) => s.instruction === 'COPY' && s.stage === steps[install]!.stage)
      .map((s) => s.args);
    const workspaces = (JSON.parse(read('package.json')) as { workspaces: string[] }).workspaces;
    for (const file of ['package.json', 'package-lock.json', ...workspaces.map((w) => `${w}/package.json`)]) {
      expect(
        copied.some((args) => copySources(args).includes(file)),
        `${file} copied before npm ci`,
      ).toBe(true);
    }
  });

  it('builds the compiled JavaScript in a stage of its own (npm run build, with the dev dependencies)', () => {
    const build = steps.find((s) => s.instruction === 'FROM' && /\bAS build$/i.test(s.args))?.stage;
    expect(build, 'a stage named build').toBeDefined();
    const runs = steps.filter((s) => s.stage === build && s.instruction === 'RUN').map((s) => s.args);
    expect(runs).toEqual([expect.stringMatching(/^npm ci\b(?!.*--omit=dev)/), 'npm run build']);
    // Every workspace the build compiles (tsconfig.build.json's references) is copied in before it runs.
    const copied = steps.filter((s) => s.stage === build && s.instruction === 'COPY').flatMap((s) => copySources(s.args));
    for (const dir of builtWorkspaces) expect(copied, `${dir}/ copied into the build stage`).toContain(dir);
    expect(copied).toEqual(expect.arrayContaining(['tsconfig.base.json', 'tsconfig.build.json']));
  });

  it('copies into the final stage the sources and the compiled dist/ of every workspace production runs', () => {
    const finalCopies = steps.filter((s) => s.stage === final && s.instruction === 'COPY');
    const copied = finalCopies.filter((s) => !s.args.includes('--from')).flatMap((s) => copySources(s.args));
    const built = finalCopies.filter((s) => s.args.includes('--from=build')).map((s) => s.args);
    const entries = [api!, worker!].flatMap((s) => [
      words(s.command).at(-1)!,
      ...words(s.healthcheck?.test).filter((w) => w.endsWith('.js')),
    ]);
    // The entries' workspaces and every workspace they import (the API: shared, dataset, charts).
    for (const dir of new Set([...entries.map((e) => e.split('/')[0]!), 'shared', 'dataset', 'charts'])) {
      expect(copied, `${dir}/ copied`).toContain(dir);
      expect(builtWorkspaces, `${dir} compiled by npm run build`).toContain(dir);
      expect(built, `${dir}/dist copied from the build stage`).toContain(`--from=build /app/${dir}/dist ${dir}/dist`);
    }
  });

  it('copies only files that exist (no engine here to find out)', () => {
    const sources = steps.filter((s) => s.instruction === 'COPY' && !s.args.includes('--from')).flatMap((s) => copySources(s.args));
    for (const source of sources) expect(existsSync(`${root}${source}`), `${source} exists`).toBe(true);
  });

  it('keeps the host node_modules and local data out of the build context', () => {
    const ignored = read('.dockerignore')
      .split('\n')
      .map((l) => l.trim());
    expect(ignored).toEqual(expect.arrayContaining(['node_modules', '**/node_modules', '.data']));
  });
});
