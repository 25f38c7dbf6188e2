import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, type TestRedis } from '@meteorites/test-utils/redis';

describe('test support: startRedis', () => {
  let redis: TestRedis;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis?.close();
  });

  it('gives a Redis that answers and keeps AOF data across SIGTERM and SIGKILL', async (ctx) => {
    if (!redis.controllable) ctx.skip();
    const c = await redis.client();
    expect(await c.ping()).toBe('PONG');
    await c.set('probe', 'after-term');
    await c.close();
    await redis.stop();
    await redis.start();
    const c2 = await redis.client();
    expect(await c2.get('probe')).toBe('after-term');
    await c2.set('probe', 'after-kill');
    await new Promise((r) => setTimeout(r, 1200)); // past one `appendfsync everysec`
    await c2.close();
    await redis.kill();
    await redis.start();
    const c3 = await redis.client();
    expect(await c3.get('probe')).toBe('after-kill');
  });
});
