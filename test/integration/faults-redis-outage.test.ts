/**
 * A Redis outage under traffic: clients keep calling every Redis-backed route of a real listening
 * API (plus /ready and /health) while redis-server is stopped for 5 s. While it is down each of
 * those routes must answer 503 with the JSON error within 1 s (no request hangs), /ready 503 and
 * /health 200; once it is back everything answers again without a restart of the API or the
 * worker, and every job the API acknowledged (202) before, during or after finishes.
 */
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, type TestRedis } from '@meteorites/test-utils/redis';
import { buildTestApp } from '@meteorites/test-utils/app';
import { killAllWorkers, spawnWorker } from '@meteorites/test-utils/worker';
import { mixedJobRequests } from '@meteorites/test-utils/job-requests';
import type { App } from '@meteorites/api';
import { type Job, closeRedis, connectRedis, RedisUnavailableError } from '@meteorites/shared';

const OUTAGE_MS = 5000;
const CLIENTS = 4;
const SAMPLE = new URL('../../data/sample.json', import.meta.url);

interface Call {
  route: string;
  start: number;
  end: number;
  status: number;
  /** `error.code` of an error answer; `invalid JSON` when the body was not JSON. */
  code?: string;
}

describe('faults: Redis outage under traffic', () => {
  let redis: TestRedis;
  let app: App;
  let base: string;

  beforeAll(async () => {
    redis = await startRedis();
    [app] = await Promise.all([buildTestApp(redis.url), spawnWorker(redis.url, {}, { bundled: true })]);
    await app.listen({ host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
  });
  afterAll(async () => {
    await killAllWorkers();
    await app?.close();
    await redis?.close();
  });

  it(`answers 503 within 1 s on every Redis-backed route during a ${OUTAGE_MS / 1000} s outage, recovers alone, loses no acknowledged job`, async (ctx) => {
    if (!redis.controllable) ctx.skip();
    const loaded = await fetch(`${base}/data`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: readFileSync(SAMPLE),
    });
    expect(loaded.status).toBe(201);
    const first = (await (await fetch(`${base}/meteorites?limit=1`)).json()) as { items: { id: string }[] };
    const meteoriteId = first.items[0]!.id;
    const seed = (await (
      await fetch(`${base}/jobs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ analysis: 'mass-by-class' }),
      })
    ).json()) as Job;
    await expect.poll(async () => ((await (await fetch(`${base}/jobs/${seed.id}`)).json()) as Job).status).toBe('finished');

    let next = 0;
    const acknowledged: string[] = [];
    const routes: [string, () => { path: string; init?: RequestInit }][] = [
      ['GET /data/summary', () => ({ path: '/data/summary' })],
      ['GET /data', () => ({ path: '/data' })],
      ['GET /meteorites', () => ({ path: '/meteorites?limit=5&recclass=L6' })],
      ['GET /meteorites/{id}', () => ({ path: `/meteorites/${meteoriteId}` })],
      ['GET /jobs', () => ({ path: '/jobs?limit=5' })],
      ['GET /jobs/{id}', () => ({ path: `/jobs/${seed.id}` })],
      ['GET /results/{id}', () => ({ path: `/results/${seed.id}` })],
      [
        'POST /jobs',
        () => ({
          path: '/jobs',
          init: { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(mixedJobRequests(1, next++)[0]) },
        }),
      ],
      ['GET /ready', () => ({ path: '/ready' })],
      ['GET /health', () => ({ path: '/health' })],
    ];
    const calls: Call[] = [];
    let running = true;
    const client = async (offset: number) => {
      for (let i = offset; running; i++) {
        const [route, make] = routes[i % routes.length]!;
        const { path, init } = make();
        const start = Date.now();
        let status = 0;
        let code: string | undefined;
        try {
          const res = await fetch(`${base}${path}`, { ...init, signal: AbortSignal.timeout(5000) });
          status = res.status;
          const text = await res.text();
          try {
            const body = JSON.parse(text) as { error?: { code?: string }; id?: string };
            code = body.error?.code;
            if (route === 'POST /jobs' && status === 202) acknowledged.push(body.id!);
          } catch {
            code = 'invalid JSON';
          }
        } catch (err) {
          code = (err as Error).name;
        }
        calls.push({ route, start, end: Date.now(), status, code });
      }
    };
    const clients = Array.from({ length: CLIENTS }, (_, k) => client(k * 3));

    await sleep(1000);
    await redis.stop();
    const down = Date.now();
    await sleep(OUTAGE_MS);
    const up = Date.now();
    await redis.start();
    // Recovered once every route has answered 2xx from a request started after Redis was back.
    let recovered = 0;
    await expect
      .poll(
        () => {
          const ok = new Set(calls.filter((c) => c.start >= up && c.status >= 200 && c.status < 300).map((c) => c.route));
          if (ok.size === routes.length && !recovered) recovered = Date.now();
          return ok.size;
        },
        { timeout: 20_000, interval: 50 },
      )
      .toBe(routes.length);
    await sleep(1000);
    running = false;
    await Promise.all(clients);

    const during = calls.filter((c) => c.start >= down && c.end <= up);
    const maxMs = Math.max(...during.map((c) => c.end - c.start));
    for (const [route] of routes) {
      const answers = during.filter((c) => c.route === route);
      expect(answers.length, route).toBeGreaterThan(0);
      const expected = route === 'GET /health' ? { status: 200, code: undefined } : { status: 503, code: 'redis_unavailable' };
      for (const c of answers) expect({ status: c.status, code: c.code }, route).toEqual(expected);
    }
    expect(maxMs).toBeLessThan(1000);
    // Around the outage too: nothing but answers and 503s, never a 500, a hang or a broken body.
    const unexpected = calls.filter((c) => !((c.status >= 200 && c.status < 300) || (c.status === 503 && c.code === 'redis_unavailable')));
    expect(unexpected).toEqual([]);

    await expect
      .poll(
        async () => {
          const jobs = await Promise.all(
            acknowledged.map(async (id) => ((await (await fetch(`${base}/jobs/${id}`)).json()) as Job).status),
          );
          return jobs.filter((s) => s === 'finished').length;
        },
        { timeout: 30_000, interval: 250 },
      )
      .toBe(acknowledged.length);

    const count = (route: string, status: number) => calls.filter((c) => c.route === route && c.status === status).length;
    console.log(
      `redis outage: ${calls.length} requests by ${CLIENTS} clients; ${during.length} while Redis was down for ${OUTAGE_MS / 1000} s, ` +
        `all 503 redis_unavailable (GET /health 200), max latency ${maxMs} ms; recovered ${recovered - up} ms after restart ` +
        `without restarting the API or worker; ${acknowledged.length} acknowledged jobs (202), ${acknowledged.length} finished, ` +
        `POST /jobs refused with 503 ${count('POST /jobs', 503)} times`,
    );
  });

  it('fails MULTI and pipelines at once while Redis is down, as single commands (node-redis would hold them)', async (ctx) => {
    if (!redis.controllable) ctx.skip();
    const client = await connectRedis(redis.url, { connectTimeoutMs: 5000 });
    try {
      await redis.stop();
      // Past the first reconnect attempts, into the backoff node-redis would otherwise hold batches for.
      await sleep(1500);
      for (const batch of [() => client.multi().get('a').exec(), () => client.multi().get('a').execAsPipeline()]) {
        const t0 = Date.now();
        await expect(batch()).rejects.toThrow(RedisUnavailableError);
        expect(Date.now() - t0).toBeLessThan(100);
      }
    } finally {
      await redis.start();
      await closeRedis(client);
    }
  });
});
