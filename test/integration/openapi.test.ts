import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import Fastify, { type RouteOptions } from 'fastify';
import fp from 'fastify-plugin';
import { compileErrors, validate } from '@readme/openapi-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '@meteorites/shared';
import { appPlugin, serverOptions } from '@meteorites/api';
import { generateOpenApi } from '../../scripts/openapi.ts';

type Operation = {
  tags?: string[];
  summary?: string;
  requestBody?: { content: Record<string, unknown> };
  responses: Record<string, unknown>;
};
type Document = { openapi: string; paths: Record<string, Record<string, Operation>> };

const committedPath = fileURLToPath(new URL('../../openapi.json', import.meta.url));

describe('OpenAPI document and Swagger UI', () => {
  const routes: RouteOptions[] = [];
  let app: ReturnType<typeof Fastify>;
  let committed: Document;

  beforeAll(async () => {
    // The production plugin on a bare instance, so every route it registers can be listed.
    app = Fastify(serverOptions({ ...loadConfig({}), LOG_LEVEL: 'silent' }));
    app.addHook('onRoute', (route: RouteOptions) => {
      routes.push(route);
    });
    await app.register(fp(appPlugin, { name: 'app' }), { config: { ...loadConfig({}), LOG_LEVEL: 'silent' }, connectRedis: false });
    await app.ready();
    committed = JSON.parse(readFileSync(committedPath, 'utf8'));
  });
  afterAll(async () => {
    await app?.close();
  });

  /** Every documented route as `METHOD /openapi/{path}`. */
  const documented = () =>
    routes
      .filter((r) => !(r.schema as { hide?: boolean } | undefined)?.hide)
      .flatMap((r) => (Array.isArray(r.method) ? r.method : [r.method]).map((m) => [m, r.url] as const))
      .filter(([method]) => method !== 'HEAD')
      .map(([method, url]) => `${method} ${url.replace(/:([A-Za-z_]+)/g, '{$1}')}`);

  it('committed openapi.json equals a fresh generation (run `npm run openapi` when this fails)', async () => {
    expect(readFileSync(committedPath, 'utf8')).toBe(await generateOpenApi());
  });

  it('is a valid OpenAPI 3.1 document, without warnings', async () => {
    expect(committed.openapi).toBe('3.1.0');
    const result = await validate(structuredClone(committed) as never);
    expect(result.valid, result.valid ? '' : compileErrors(result)).toBe(true);
    expect(result.warnings).toEqual([]);
  });

  it('documents every route the app serves, each with a tag, a summary and its error responses', () => {
    const expected = documented();
    expect(expected).toEqual(
      expect.arrayContaining([
        'GET /health',
        'POST /data',
        'GET /data',
        'DELETE /data',
        'GET /data/summary',
        'GET /meteorites',
        'GET /meteorites/{id}',
      ]),
    );
    const inDocument = Object.entries(committed.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`));
    expect(inDocument.sort()).toEqual([...expected].sort());
    for (const [path, ops] of Object.entries(committed.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        const name = `${method.toUpperCase()} ${path}`;
        expect(op.tags?.length, name).toBeGreaterThan(0);
        expect(op.summary, name).toEqual(expect.any(String));
        expect(
          Object.keys(op.responses).some((code) => code.startsWith('2')),
          name,
        ).toBe(true);
        for (const [code, response] of Object.entries(op.responses)) {
          if (Number(code) >= 400) {
            expect(JSON.stringify(response), `${name} ${code}`).toContain('"$ref":"#/components/schemas/Error"');
          }
        }
      }
    }
  });

  it('documents the request bodies of POST /data (JSON and CSV) and both GET /data representations', () => {
    const post = committed.paths['/data']!.post!;
    expect(Object.keys(post.requestBody!.content).sort()).toEqual(['application/json', 'text/csv']);
    const get = committed.paths['/data']!.get!;
    expect(Object.keys((get.responses['200'] as { content: object }).content).sort()).toEqual(['application/json', 'text/csv']);
    expect(JSON.stringify(get.responses['200'])).toContain('#/components/schemas/Meteorite');
    expect(JSON.stringify(committed.paths['/meteorites/{id}']!.get!.responses['200'])).toContain('#/components/schemas/Meteorite');
    expect(JSON.stringify(committed.paths['/data/summary']!.get!.responses['200'])).toContain('#/components/schemas/DatasetSummary');
  });

  it('serves Swagger UI at /docs, and the same document at /docs/json and /openapi.json', async () => {
    let res = await app.inject('/docs');
    for (let hops = 0; res.statusCode >= 300 && res.statusCode < 400 && hops < 3; hops++) {
      res = await app.inject(new URL(res.headers.location!, 'http://localhost/docs/').pathname);
    }
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/text\/html/);
    expect(res.body).toMatch(/swagger-ui/i);

    for (const url of ['/docs/json', '/openapi.json']) {
      const doc = await app.inject(url);
      expect(doc.statusCode, url).toBe(200);
      expect(doc.json(), url).toEqual(committed);
    }
  });
});
