import { describe, expect, it } from 'vitest';
import { loadConfig } from './config.ts';
import { logFormat, loggerSetup, prettyOptions } from './logging.ts';

describe('LOG_FORMAT', () => {
  it('is unset by default, and refuses anything but pretty and json', () => {
    expect(loadConfig({}).LOG_FORMAT).toBeUndefined();
    expect(loadConfig({ LOG_FORMAT: 'pretty' }).LOG_FORMAT).toBe('pretty');
    expect(() => loadConfig({ LOG_FORMAT: 'text' })).toThrow(/LOG_FORMAT="text".*\(pretty, json\)/);
  });

  it.each([
    [undefined, true, 'pretty'],
    [undefined, false, 'json'],
    ['json', true, 'json'],
    ['pretty', false, 'pretty'],
  ] as const)('LOG_FORMAT=%s with a terminal: %s gives %s', (setting, isTTY, expected) => {
    expect(logFormat({ LOG_FORMAT: setting }, isTTY)).toBe(expected);
  });
});

describe('loggerSetup', () => {
  it('json: pino to stdout, the API with pino defaults, the worker naming its service and pid', () => {
    const api = loggerSetup({ LOG_LEVEL: 'warn' }, 'api', false);
    expect(api).toEqual({ format: 'json', options: { level: 'warn' } });
    const worker = loggerSetup({ LOG_LEVEL: 'info', LOG_FORMAT: 'json' }, 'worker', true);
    expect(worker).toEqual({ format: 'json', options: { level: 'info', base: { service: 'worker', pid: process.pid } } });
  });

  it('pretty: a pino-pretty stream, the process named on each line', () => {
    const setup = loggerSetup({ LOG_LEVEL: 'debug' }, 'worker', true);
    expect(setup.format).toBe('pretty');
    expect(setup.options).toEqual({ level: 'debug', name: 'worker' });
    expect(typeof setup.stream?.write).toBe('function');
  });

  it('pretty options: colour only on a terminal, single lines, ids a reader does not need left out', () => {
    expect(prettyOptions(true)).toMatchObject({ colorize: true, singleLine: true, sync: true });
    expect(prettyOptions(false).colorize).toBe(false);
    expect(prettyOptions(false).ignore?.split(',')).toEqual(expect.arrayContaining(['pid', 'hostname', 'reqId']));
  });
});
