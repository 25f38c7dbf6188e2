import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config.ts';

describe('config', () => {
  it('has defaults for everything but REDIS_URL', () => {
    const c = loadConfig({});
    expect(c.REDIS_URL).toBeUndefined();
    expect(c.PORT).toBe(3000);
    expect(c.WORKER_CONCURRENCY).toBe(2);
    expect(c.JOB_MAX_ATTEMPTS).toBe(3);
    expect(c.RESULT_TTL_SECONDS).toBe(0);
  });

  it('converts numbers and ignores unknown variables', () => {
    const c = loadConfig({ PORT: '8080', WORKER_CONCURRENCY: '8', HOME: '/x', REDIS_URL: 'rediss://:pw@h:6380' });
    expect(c.PORT).toBe(8080);
    expect(c.WORKER_CONCURRENCY).toBe(8);
    expect(c.REDIS_URL).toBe('rediss://:pw@h:6380');
    expect(c).not.toHaveProperty('HOME');
  });

  it('treats empty variables as unset', () => {
    expect(loadConfig({ PORT: '' }).PORT).toBe(3000);
  });

  it('loads the shipped full dataset on first start unless SAMPLE_DATA is empty', () => {
    expect(loadConfig({}).SAMPLE_DATA).toBe('data/Meteorite_Landings.csv');
    expect(loadConfig({ SAMPLE_DATA: 'data/sample.json' }).SAMPLE_DATA).toBe('data/sample.json');
    expect(loadConfig({ SAMPLE_DATA: '' }).SAMPLE_DATA).toBe('');
  });

  it.each([
    ['PORT', 'abc'],
    ['PORT', '70000'],
    ['WORKER_CONCURRENCY', '0'],
    ['LOG_LEVEL', 'loud'],
    ['REDIS_URL', 'http://localhost'],
    ['JOB_LEASE_MS', '1.5'],
  ])('names the bad variable %s=%s', (name, value) => {
    expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ [name]: value })).toThrow(new RegExp(`${name}=`));
  });
});
