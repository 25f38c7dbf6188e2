import { describe, expect, it } from 'vitest';
import { ApiRequestError, createApiClient, ok } from './index.ts';

/** A fetch that records the request and answers with the given response. */
function fakeFetch(answer: () => Response) {
  const seen: Request[] = [];
  const fetch = async (input: Parameters<typeof globalThis.fetch>[0]) => {
    seen.push(input as Request);
    return answer();
  };
  return { seen, fetch: fetch as typeof globalThis.fetch };
}

const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

describe('createApiClient', () => {
  it('builds URLs from the base URL, path params and query, and sends the Authorization header when given', async () => {
    const { seen, fetch } = fakeFetch(() => json(200, { id: 'x' }));
    const api = createApiClient('http://api.test:8080/', { authorization: 'Bearer k', fetch });
    await ok(api.GET('/jobs/{id}', { params: { path: { id: 'abc' }, query: { wait: 5 } } }));
    expect(seen[0]!.url).toBe('http://api.test:8080/jobs/abc?wait=5');
    expect(seen[0]!.headers.get('authorization')).toBe('Bearer k');
  });

  it('sends no Authorization header by default', async () => {
    const { seen, fetch } = fakeFetch(() => json(200, { status: 'ok' }));
    await ok(createApiClient('http://api.test', { fetch }).GET('/health'));
    expect(seen[0]!.headers.has('authorization')).toBe(false);
  });
});

describe('ok', () => {
  it('answers the data of a successful response', async () => {
    const { fetch } = fakeFetch(() => json(200, { status: 'ok' }));
    expect(await ok(createApiClient('http://api.test', { fetch }).GET('/health'))).toEqual({ status: 'ok' });
  });

  it("throws the API's own error code and message", async () => {
    const { fetch } = fakeFetch(() =>
      json(409, { error: { code: 'job_not_finished', message: 'job j has no result: it is running', status: 'running' } }),
    );
    const err = await ok(createApiClient('http://api.test', { fetch }).GET('/results/{id}', { params: { path: { id: 'j' } } })).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ApiRequestError);
    expect(err).toMatchObject({
      status: 409,
      code: 'job_not_finished',
      message: 'job j has no result: it is running',
      body: { error: { status: 'running' } },
    });
  });

  it('falls back to the HTTP status when the error body is not the API shape', async () => {
    const { fetch } = fakeFetch(() => new Response('<html>bad gateway</html>', { status: 502, statusText: 'Bad Gateway' }));
    await expect(ok(createApiClient('http://api.test', { fetch }).GET('/health'))).rejects.toMatchObject({
      status: 502,
      code: undefined,
      message: '502 Bad Gateway',
    });
  });
});
