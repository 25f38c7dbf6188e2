import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from '@meteorites/shared';
import type { InjectOptions } from 'fastify';
import type { App } from '@meteorites/api';
import { startRedis, type TestRedis } from '@meteorites/test-utils/redis';
import { buildTestApp } from '@meteorites/test-utils/app';

const CSV = [
  'name,id,nametype,recclass,mass (g),fall,year,reclat,reclong,GeoLocation',
  'Aachen,1,Valid,L5,21,Fell,1880,50.775000,6.083330,"(50.775, 6.08333)"',
  'Aarhus,2,Valid,H6,720,Fell,1951,56.183330,10.233330,"(56.18333, 10.23333)"',
].join('\n');
const load = { method: 'POST' as const, url: '/data', headers: { 'content-type': 'text/csv' }, payload: CSV };

/** Every route that needs Redis to answer. */
const redisRoutes: [string, InjectOptions][] = [
  ['POST /data', load],
  ['GET /data', { url: '/data' }],
  ['GET /data as CSV', { url: '/data', headers: { accept: 'text/csv' } }],
  ['DELETE /data', { method: 'DELETE', url: '/data' }],
  ['GET /data/summary', { url: '/data/summary' }],
  ['GET /meteorites', { url: '/meteorites?recclass=L5' }],
  ['GET /meteorites/{id}', { url: '/meteorites/1' }],
];

describe('API errors', () => {
  let redis: TestRedis;
  let app: App;
  let db: Redis;

  beforeAll(async () => {
    redis = await startRedis();
    app = await buildTestApp(redis.url);
    db = await redis.client();
    expect((await app.inject(load)).statusCode).toBe(201);
  });
  afterAll(async () => {
    await app?.close();
    await redis?.close();
  });

  it('answers a Redis error that is not an outage with a 500 that leaks nothing', async () => {
    await db.set('meteorite:2', 'not a hash');
    const res = await app.inject('/meteorites/2');
    expect(res.statusCode).toBe(500);
    expect(res.json()).toEqual({ error: { code: 'internal', message: 'internal server error' } });
    expect(res.body).not.toMatch(/WRONGTYPE|hGetAll|at .*\.ts/i);
    await db.del('meteorite:2');
  });

  it('answers every Redis-backed route with a quick 503 while Redis is down, and recovers', async (ctx) => {
    if (!redis.controllable) ctx.skip();
    await db.close();
    await redis.stop();
    try {
      for (const [name, request] of redisRoutes) {
        const t0 = Date.now();
        const res = await app.inject(request);
        expect(Date.now() - t0, name).toBeLessThan(1500);
        expect(res.statusCode, `${name}: ${res.body}`).toBe(503);
        expect(res.json().error.code, name).toBe('redis_unavailable');
        expect(res.headers['retry-after'], name).toBe('1');
        expect(res.body, name).not.toMatch(/ECONNREFUSED|127\.0\.0\.1|offline|closed/i);
      }
      expect((await app.inject('/health')).statusCode).toBe(200);
    } finally {
      await redis.start();
    }
    await expect.poll(async () => (await app.inject('/data/summary')).statusCode, { timeout: 10_000 }).toBe(200);
    for (const [name, request] of redisRoutes) {
      expect((await app.inject(request)).statusCode, name).toBeLessThan(500);
    }
  });
});
