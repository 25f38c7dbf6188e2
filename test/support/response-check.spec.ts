import { createServer } from 'node:http';
import { once } from 'node:events';
import { beforeAll, describe, expect, it } from 'vitest';
import { createApiClient } from '@meteorites/client';
import { checkedFetch, responseChecker, takeViolations, type ResponseChecker, type SeenResponse } from './response-check.ts';

const job = {
  id: '3f2c1a7e-9b4d-4c2e-8f1a-0123456789ab',
  analysis: 'heaviest',
  params: { n: 5 },
  status: 'queued',
  progress: 0,
  attempts: 0,
  dataset_version: null,
  created_at: '2026-01-01T00:00:00.000Z',
  started_at: null,
  finished_at: null,
  error: null,
  cancel_requested: false,
};

const seen = (r: Partial<Omit<SeenResponse, 'body'>> & { body?: unknown }): SeenResponse => ({
  method: 'GET',
  template: '/jobs/{id}',
  url: `/jobs/${job.id}`,
  status: 200,
  contentType: 'application/json; charset=utf-8',
  ...r,
  body:
    typeof r.body === 'string' || Buffer.isBuffer(r.body) || r.body === undefined ? (r.body as string | undefined) : JSON.stringify(r.body),
});

describe('the response check against openapi.json', () => {
  let checker: ResponseChecker;
  beforeAll(async () => {
    checker = await responseChecker();
  });

  it('passes responses that match the document', () => {
    expect(checker.check(seen({ body: job }))).toEqual([]);
    expect(checker.check(seen({ status: 404, body: { error: { code: 'not_found', message: 'job not found', id: job.id } } }))).toEqual([]);
    expect(
      checker.check(
        seen({ template: undefined, url: '/nowhere', status: 404, body: { error: { code: 'not_found', message: 'no route' } } }),
      ),
    ).toEqual([]);
    expect(
      checker.check(
        seen({
          template: '/results/{id}/chart.svg',
          contentType: 'image/svg+xml; charset=utf-8',
          body: '<svg xmlns="http://www.w3.org/2000/svg"><text>a</text></svg>',
        }),
      ),
    ).toEqual([]);
  });

  it('finds the operation of a concrete path', () => {
    expect(checker.templateOf(`/jobs/${job.id}`)).toBe('/jobs/{id}');
    expect(checker.templateOf(`/results/${job.id}/chart.png`)).toBe('/results/{id}/chart.png');
    expect(checker.templateOf('/data/summary')).toBe('/data/summary');
    expect(checker.templateOf('/nowhere')).toBeUndefined();
  });

  it('reports a status the operation does not document', () => {
    expect(checker.check(seen({ status: 414, body: { error: { code: 'uri_too_long', message: 'x' } } }))).toEqual([
      expect.stringMatching(/^status 414 is not documented for GET \/jobs\/\{id\}/),
    ]);
  });

  it('reports a body of the right types that breaks a constraint, and a missing field', () => {
    expect(checker.check(seen({ body: { ...job, progress: 1.5 } }))).toEqual([
      expect.stringMatching(/breaks its schema: .*progress must be <= 1/),
    ]);
    expect(checker.check(seen({ body: { ...job, created_at: 'yesterday' } }))).toEqual([
      expect.stringMatching(/created_at must match format "date-time"/),
    ]);
    const { status: _, ...noStatus } = job;
    expect(checker.check(seen({ body: noStatus }))).toEqual([expect.stringMatching(/must have required property 'status'/)]);
  });

  it('reports an error without the envelope, a media type not documented, a body that is not JSON, an ill-formed SVG', () => {
    expect(checker.check(seen({ status: 404, body: { message: 'gone' } })).join()).toMatch(/without the error envelope/);
    expect(checker.check(seen({ status: 400, contentType: 'text/plain', body: 'bad' })).join()).toMatch(/a 400 that is not JSON/);
    expect(checker.check(seen({ contentType: 'text/csv', body: 'id\n1\n' }))).toEqual([
      expect.stringMatching(/answered text\/csv; documented: application\/json/),
    ]);
    expect(checker.check(seen({ body: '{"id": ' })).join()).toMatch(/the body is not JSON/);
    const svg = checker.check(
      seen({
        template: '/results/{id}/chart.svg',
        contentType: 'image/svg+xml',
        body: '<svg xmlns="http://www.w3.org/2000/svg"><text>a\u0000</text></svg>',
      }),
    );
    expect(svg).toEqual([expect.stringMatching(/not well-formed XML: U\+0000/)]);
  });
});

describe('checkedFetch', () => {
  it('checks what the generated client receives from a server in another process, and leaves the body to the caller', async () => {
    // A stand-in for an API in a child process that drifted: a 414 no operation documents.
    const server = createServer((_req, res) => {
      res.writeHead(414, { 'content-type': 'application/json' }).end('{"error":{"code":"uri_too_long","message":"too long"}}');
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const { port } = server.address() as { port: number };
      takeViolations();
      const api = createApiClient(`http://127.0.0.1:${port}`, { fetch: checkedFetch });
      const { error, response } = await api.GET('/jobs/{id}', { params: { path: { id: '1'.repeat(101) }, query: {} } });
      expect(response.status).toBe(414);
      expect(error).toEqual({ error: { code: 'uri_too_long', message: 'too long' } });
      expect(takeViolations()).toEqual([
        expect.stringMatching(/^GET \/jobs\/1{101}\S* → 414: status 414 is not documented for GET \/jobs\/\{id\}/),
      ]);
    } finally {
      server.close();
    }
  });
});
