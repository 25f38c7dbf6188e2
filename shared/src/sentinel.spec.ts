import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config.ts';
import { freePort } from './free-port.ts';
import { askSentinels, sentinelOf } from './sentinel.ts';

describe('Sentinel settings', () => {
  it('go together, and REDIS_URL then only carries credentials and TLS', () => {
    expect(() => loadConfig({ REDIS_SENTINELS: 'a:26379' })).toThrow(ConfigError);
    expect(() => loadConfig({ REDIS_SENTINEL_MASTER: 'm' })).toThrow(/REDIS_SENTINELS and REDIS_SENTINEL_MASTER go together/);
    expect(() => loadConfig({ REDIS_SENTINELS: 'a', REDIS_SENTINEL_MASTER: 'm' })).toThrow(/REDIS_SENTINELS/);
    const c = loadConfig({ REDIS_SENTINELS: 's-0.example:26379,10.0.0.2:26380', REDIS_SENTINEL_MASTER: 'mymaster' });
    expect(c.REDIS_URL).toBe('redis://mymaster');
    expect(sentinelOf(c)).toEqual({
      sentinels: [
        { host: 's-0.example', port: 26379 },
        { host: '10.0.0.2', port: 26380 },
      ],
      master: 'mymaster',
      password: undefined,
      tls: false,
    });
    const tls = loadConfig({ REDIS_SENTINELS: 'a:1', REDIS_SENTINEL_MASTER: 'm', REDIS_URL: 'rediss://:pw@x' });
    expect(sentinelOf(tls)?.tls).toBe(true);
    expect(sentinelOf(loadConfig({ REDIS_URL: 'redis://h' }))).toBeUndefined();
  });

  it('name every Sentinel that could not answer', async () => {
    const [a, b] = [await freePort(), await freePort()];
    const target = {
      sentinels: [
        { host: '127.0.0.1', port: a },
        { host: '127.0.0.1', port: b },
      ],
      master: 'm',
    };
    await expect(askSentinels(target)).rejects.toThrow(
      new RegExp(`no Sentinel named the primary 'm' \\(127.0.0.1:${a}: .*; 127.0.0.1:${b}: `),
    );
  });
});
