import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, type TestRedis } from '@meteorites/test-utils/redis';
import { buildTestApp } from '@meteorites/test-utils/app';
import type { App } from '@meteorites/api';

describe('GET /health and /ready', () => {
  let redis: TestRedis;
  let app: App;
  beforeAll(async () => {
    redis = await startRedis();
    app = await buildTestApp(redis.url);
  });
  afterAll(async () => {
    await app?.close();
    await redis?.close();
  });

  it('answers 200 on both while Redis is up', async () => {
    expect((await app.inject('/health')).statusCode).toBe(200);
    const ready = await app.inject('/ready');
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toEqual({ status: 'ready' });
  });

  it('answers /ready 503 quickly while Redis is down, /health still 200, and recovers', async (ctx) => {
    if (!redis.controllable) ctx.skip();
    await redis.stop();
    const t0 = Date.now();
    const ready = await app.inject('/ready');
    expect(Date.now() - t0).toBeLessThan(1500);
    expect(ready.statusCode).toBe(503);
    expect(ready.json().error.code).toBe('redis_unavailable');
    expect((await app.inject('/health')).statusCode).toBe(200);
    await redis.start();
    await expect.poll(async () => (await app.inject('/ready')).statusCode, { timeout: 10_000 }).toBe(200);
  });

  it('answers unknown routes with a JSON 404', async () => {
    const res = await app.inject('/nope');
    expect(res.statusCode).toBe(404);
    expect(res.json().error.code).toBe('not_found');
  });
});
