/** The fault-injecting TCP proxy of test/support: what it swallows, holds and forwards again. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, type TestRedis } from '@meteorites/test-utils/redis';
import { startTcpProxy, type TcpProxy } from '@meteorites/test-utils/tcp-proxy';
import { connectRedis, deadline, type Redis } from '@meteorites/shared';

describe('test support: TCP proxy', () => {
  let redis: TestRedis;
  let proxy: TcpProxy;
  let direct: Redis;
  const clients: Redis[] = [];
  const client = async () => {
    const c = await connectRedis(proxy.url, { connectTimeoutMs: 5000 });
    c.on('error', () => {});
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    redis = await startRedis();
    direct = await redis.client();
    proxy = await startTcpProxy(redis.url);
  });
  afterAll(async () => {
    for (const c of clients) c.destroy();
    await proxy?.close();
    await redis?.close();
  });

  it('forwards commands and replies', async () => {
    const c = await client();
    await c.set('k', 'v');
    expect(await c.get('k')).toBe('v');
    expect(await c.hGetAll('nothing')).toEqual({});
  });

  it('swallows the reply to a matching command: Redis ran it, the client hears nothing, later replies stay in order', async () => {
    const c = await client();
    const swallowed = proxy.swallowReply({ match: /^INCR lost/, then: 'close' });
    const before = c.get('k');
    const incr = c.incr('lost');
    incr.catch(() => {});
    expect(await before).toBe('v');
    expect(await swallowed).toBe('INCR lost');
    await expect(incr).rejects.toThrow();
    expect(await direct.get('lost')).toBe('1');
  });

  it('goes silent without closing, then resumes: held commands run, held replies arrive', async () => {
    const c = await client();
    expect(await c.ping()).toBe('PONG');
    proxy.silence();
    const set = c.set('held', 'yes');
    await expect(deadline(c.ping(), 300)).rejects.toThrow();
    expect(await direct.get('held')).toBeNull();
    expect(proxy.connections).toBeGreaterThan(0);
    proxy.resume();
    expect(await set).toBe('OK');
    expect(await direct.get('held')).toBe('yes');
    expect(await c.ping()).toBe('PONG');
  });

  it('leaves a connection silent after swallowing, and cuts it on resume', async () => {
    const c = await client();
    const swallowed = proxy.swallowReply({ match: /^SET/ });
    const set = c.set('x', '1');
    set.catch(() => {});
    await swallowed;
    await expect(deadline(c.ping(), 300)).rejects.toThrow();
    proxy.resume();
    await expect(set).rejects.toThrow();
    expect(await direct.get('x')).toBe('1');
  });
});
