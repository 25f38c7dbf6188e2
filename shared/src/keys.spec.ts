import { describe, expect, it } from 'vitest';
import { buildKeys, InvalidIdError, isJobId, isMeteoriteId, keys } from './keys.ts';
import { queueKeyNames } from './queue/lua/scripts.ts';

describe('keys', () => {
  it('builds the DESIGN.md names', () => {
    expect(keys.meteorite('1')).toBe('meteorite:1');
    expect(keys.meteoriteIds).toBe('meteorites:ids');
    expect(keys.dataset).toBe('dataset');
    expect(keys.jobsQueue).toBe('jobs:queue');
    const id = '0b6f3a36-5d2c-4c1e-9a43-1f2e3d4c5b6a';
    expect(keys.job(id)).toBe(`job:${id}`);
    expect(keys.result(id)).toBe(`result:${id}`);
  });

  it.each(['', '*', 'a?', '[1]', '1:2', '../1', '01', '-1', '1.5', 'é', '1'.repeat(16), '12 '])('refuses meteorite id %j', (id) => {
    expect(isMeteoriteId(id)).toBe(false);
    expect(() => keys.meteorite(id)).toThrow(InvalidIdError);
  });

  it.each(['nope', '0B6F3A36-5D2C-4C1E-9A43-1F2E3D4C5B6A', '0b6f3a36-5d2c-4c1e-9a43-1f2e3d4c5b6a:x', '*', 'x'.repeat(10_000)])(
    'refuses job id %j',
    (id) => {
      expect(isJobId(id)).toBe(false);
      expect(() => keys.job(id)).toThrow(InvalidIdError);
      expect(() => keys.result(id)).toThrow(InvalidIdError);
    },
  );

  it('accepts random UUIDs', () => {
    for (let i = 0; i < 100; i++) expect(isJobId(crypto.randomUUID())).toBe(true);
  });
});

describe('rate limit keys', () => {
  it('name the limit and the client address', () => {
    expect(keys.rateLimit('jobs', '127.0.0.1')).toBe('ratelimit:jobs:127.0.0.1');
    expect(keys.rateLimit('data', '2001:db8::')).toBe('ratelimit:data:2001:db8::');
  });

  it('hash a client that is not an address, so no header text reaches a key', () => {
    const key = keys.rateLimit('jobs', 'evil*[x]?:{../}');
    expect(key).toMatch(/^ratelimit:jobs:h[0-9a-f]{32}$/);
    expect(keys.rateLimit('jobs', 'evil*[x]?:{../}')).toBe(key);
    expect(keys.rateLimit('jobs', 'other')).not.toBe(key);
  });

  it('refuse an unknown limit name', () => {
    expect(() => keys.rateLimit('Jobs:*', '127.0.0.1')).toThrow(InvalidIdError);
  });
});

/** The part of a key Redis Cluster hashes: the first non-empty {...} if any, else the whole name. */
function hashed(key: string): string {
  const open = key.indexOf('{');
  const close = open >= 0 ? key.indexOf('}', open + 1) : -1;
  return close > open + 1 ? key.slice(open + 1, close) : key;
}

describe('hash tag', () => {
  const id = '0b6f3a36-5d2c-4c1e-9a43-1f2e3d4c5b6a';

  it('is off by default: the single-Redis names do not change', () => {
    const plain = buildKeys();
    expect([plain.jobsQueue, plain.job(id), plain.processing('w1'), plain.dataset, plain.jobsMetrics]).toEqual([
      'jobs:queue',
      `job:${id}`,
      'jobs:processing:w1',
      'dataset',
      'metrics:jobs',
    ]);
    expect(Object.values(queueKeyNames(plain)).every((k) => !k.includes('{'))).toBe(true);
  });

  it('puts every key the queue scripts touch, and every per-job key built on their prefixes, in one slot', () => {
    const tagged = buildKeys({ hashTag: 'q' });
    const names = Object.values(queueKeyNames(tagged));
    const perJob = [tagged.job(id), tagged.result(id), tagged.chart(id, 'png'), tagged.processing('w1')];
    const built = Object.values(tagged.prefixes).map((p) => `${p}${id}`);
    for (const key of [...names, ...perJob, ...built]) expect(hashed(key), key).toBe('q');
    expect(tagged.job(id)).toBe(`{q}job:${id}`);
    // The dataset's keys too: the whole keyspace is one slot (cluster.ts).
    expect(tagged.meteorite('1')).toBe('{q}meteorite:1');
    expect(tagged.datasetLock).toBe('{q}dataset:lock');
  });

  it.each(['', '{q}', 'a b', 'x'.repeat(33)])('refuses the tag %j', (tag) => {
    expect(() => buildKeys({ hashTag: tag })).toThrow(InvalidIdError);
  });
});
