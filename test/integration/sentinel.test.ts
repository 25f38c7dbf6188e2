/**
 * Connections through Redis Sentinel: they reach the primary the Sentinels name, and after the
 * primary is killed and a replica promoted, the same client objects (a command connection with a
 * timeout, a blocking one without) carry on against the new primary. A Sentinel that does not
 * know the name fails the start with a clear error.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSentinelSet, type SentinelSet } from '@meteorites/test-utils/sentinel';
import { closeRedis, connectRedis, RedisUnavailableError, type Redis } from '@meteorites/shared';

describe('connections through Sentinel', () => {
  let set: SentinelSet;
  let commands: Redis;
  let blocking: Redis;

  beforeAll(async () => {
    set = await startSentinelSet();
    commands = await connectRedis('redis://ignored', { sentinel: set.target(), commandTimeoutMs: 2000, name: 'sentinel-test' });
    blocking = await connectRedis('redis://ignored', { sentinel: set.target(), name: 'sentinel-test:blocking' });
  }, 60_000);

  afterAll(async () => {
    await Promise.all([closeRedis(commands, 500), closeRedis(blocking, 500)]);
    await set?.close();
  });

  it('fails the start with the reason when no Sentinel knows the name', async () => {
    const wrong = { ...set.target(), master: 'no-such-master' };
    const err = await connectRedis('redis://ignored', { sentinel: wrong, connectTimeoutMs: 500 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RedisUnavailableError);
    expect((err as Error).message).toMatch(/no Sentinel named the primary 'no-such-master'/);
  });

  it('writes to the primary, and to the promoted replica after the primary is killed', async () => {
    const first = await set.primary();
    await commands.set('before', '1');
    expect(await (await set.client(first)).get('before')).toBe('1');
    // A blocking pop in progress when the primary dies: it fails (or times out) and the next one works.
    const popped = blocking.blMove('sentinel:in', 'sentinel:out', 'LEFT', 'RIGHT', 30).catch((e: unknown) => e);
    await sleep(200);
    await first.kill();
    const second = await set.waitForFailover(first);
    expect(second).not.toBe(first);
    let lastError = '';
    for (const end = Date.now() + 20_000; Date.now() < end; await sleep(100)) {
      try {
        await commands.set('after', '1');
        break;
      } catch (err) {
        lastError = (err as Error).message;
      }
    }
    expect(await (await set.client(second)).get('after'), `writes never resumed: ${lastError}`).toBe('1');
    expect(await popped).toBeInstanceOf(Error);
    await commands.rPush('sentinel:in', 'job');
    let moved: unknown;
    for (const end = Date.now() + 20_000; Date.now() < end && moved === undefined;) {
      moved = await blocking.blMove('sentinel:in', 'sentinel:out', 'LEFT', 'RIGHT', 1).catch(() => sleep(100).then(() => undefined));
    }
    expect(moved).toBe('job');
  }, 60_000);
});
