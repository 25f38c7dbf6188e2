import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '@meteorites/shared';
import { bearerToken, keyMatches } from './auth.ts';

const digest = (s: string) => createHash('sha256').update(s).digest();

describe('keyMatches', () => {
  const keys = [digest('first-key-0123456789'), digest('second-key-0123456789')];

  it('accepts each configured key and nothing else, whatever the length of what was sent', () => {
    expect(keyMatches('first-key-0123456789', keys)).toBe(true);
    expect(keyMatches('second-key-0123456789', keys)).toBe(true);
    for (const guess of ['', 'f', 'first-key-012345678', 'first-key-01234567890', 'FIRST-KEY-0123456789', 'x'.repeat(10_000)]) {
      expect(keyMatches(guess, keys), guess.slice(0, 30)).toBe(false);
    }
    expect(keyMatches('first-key-0123456789', [])).toBe(false);
  });
});

describe('bearerToken', () => {
  it.each([
    ['Bearer abc', 'abc'],
    ['bearer abc', 'abc'],
    ['BEARER   abc  ', 'abc'],
  ])('reads %j', (header, token) => expect(bearerToken(header)).toBe(token));

  it.each([undefined, '', 'Bearer', 'Bearer ', 'Basic abc', 'Bearer a b', 'Token abc', 'abc'])('finds no token in %j', (header) => {
    expect(bearerToken(header)).toBeUndefined();
  });
});

describe('API_KEY in the configuration', () => {
  it('accepts one key or several separated by commas', () => {
    expect(loadConfig({ API_KEY: 'a'.repeat(16) }).API_KEY).toBe('a'.repeat(16));
    expect(loadConfig({ API_KEY: `${'a'.repeat(16)},${'b'.repeat(20)}` }).API_KEY).toBe(`${'a'.repeat(16)},${'b'.repeat(20)}`);
  });

  it.each(['short-key', `${'a'.repeat(16)},short`, `${'a'.repeat(16)} ${'b'.repeat(16)}`, `${'a'.repeat(16)},`])(
    'refuses %j without printing it',
    (key) => {
      expect(() => loadConfig({ API_KEY: key })).toThrow(ConfigError);
      expect(() => loadConfig({ API_KEY: key })).toThrow(/API_KEY=\(hidden\)/);
      try {
        loadConfig({ API_KEY: key });
      } catch (err) {
        expect((err as Error).message).not.toContain(key);
      }
    },
  );

  it('masks the password of a bad REDIS_URL in the error', () => {
    expect(() => loadConfig({ REDIS_URL: 'http://:hunter2-secret@host:6379' })).toThrow(/REDIS_URL="http:\/\/:\*\*\*@host:6379"/);
  });
});
