import { describe, expect, it } from 'vitest';
import { parseCommand, parseParams, UsageError } from './args.ts';
import { formatTable } from './commands.ts';

describe('CLI arguments', () => {
  it('reads load with the format from the file name or --format', () => {
    expect(parseCommand(['load', 'data/x.CSV'])).toEqual({ name: 'load', file: 'data/x.CSV', format: 'csv' });
    expect(parseCommand(['load', 'x.json'])).toEqual({ name: 'load', file: 'x.json', format: 'json' });
    expect(parseCommand(['load', 'dump.txt', '--format', 'csv'])).toEqual({ name: 'load', file: 'dump.txt', format: 'csv' });
    expect(() => parseCommand(['load', 'dump.txt'])).toThrow(/cannot tell the format/);
    expect(() => parseCommand(['load', 'x.csv', '--format', 'xml'])).toThrow(/--format csv\|json/);
    expect(() => parseCommand(['load'])).toThrow(/expected one file, got 0/);
    expect(() => parseCommand(['load', 'a.csv', 'b.csv'])).toThrow(/expected one file, got 2/);
  });

  it('reads submit params, numbers as numbers and the rest as strings', () => {
    expect(parseCommand(['submit', 'heaviest', '--param', 'n=20', '--param', 'recclass=L6'])).toEqual({
      name: 'submit',
      analysis: 'heaviest',
      params: { n: 20, recclass: 'L6' },
    });
    expect(parseCommand(['submit', 'mass-by-class'])).toEqual({ name: 'submit', analysis: 'mass-by-class', params: {} });
  });

  it.each([
    ['cell_deg=2.5', { cell_deg: 2.5 }],
    ['year_from=-500', { year_from: -500 }],
    ['x=.5', { x: 0.5 }],
    ['x=1e3', { x: 1000 }],
    ['recclass=H5', { recclass: 'H5' }],
    ['name=12abc', { name: '12abc' }],
    ['fall=', { fall: '' }],
    ['expr=a=b', { expr: 'a=b' }],
    ['x=0x10', { x: '0x10' }],
    ['x= 5', { x: ' 5' }],
  ])('parses --param %s', (pair, expected) => {
    expect(parseParams([pair])).toEqual(expected);
  });

  it.each(['novalue', '=5', ''])('refuses --param %j', (pair) => {
    expect(() => parseParams([pair])).toThrow(UsageError);
  });

  it('reads wait with an optional positive timeout', () => {
    expect(parseCommand(['wait', 'abc'])).toEqual({ name: 'wait', id: 'abc', timeoutS: undefined });
    expect(parseCommand(['wait', 'abc', '--timeout', '2.5'])).toEqual({ name: 'wait', id: 'abc', timeoutS: 2.5 });
    for (const bad of ['0', '-1', 'soon', '']) expect(() => parseCommand(['wait', 'abc', `--timeout=${bad}`])).toThrow(/--timeout must be a positive number/);
  });

  it('reads result with an optional chart file', () => {
    expect(parseCommand(['result', 'abc'])).toEqual({ name: 'result', id: 'abc', chart: undefined });
    expect(parseCommand(['result', 'abc', '--chart', 'out.png'])).toEqual({ name: 'result', id: 'abc', chart: 'out.png' });
    expect(() => parseCommand(['result', 'abc', '--chart'])).toThrow(UsageError);
  });

  it('reads jobs with a known status and an integer limit', () => {
    expect(parseCommand(['jobs'])).toEqual({ name: 'jobs', status: undefined, limit: undefined });
    expect(parseCommand(['jobs', '--status', 'failed', '--limit', '5'])).toEqual({ name: 'jobs', status: 'failed', limit: 5 });
    expect(() => parseCommand(['jobs', '--status', 'done'])).toThrow(/--status must be one of queued, running, finished, failed, cancelled/);
    expect(() => parseCommand(['jobs', '--limit', '2.5'])).toThrow(/--limit must be a positive integer/);
    expect(() => parseCommand(['jobs', 'extra'])).toThrow(/takes no arguments/);
  });

  it('turns unknown commands and options into usage errors, and no command into help', () => {
    expect(parseCommand([])).toEqual({ name: 'help' });
    expect(parseCommand(['--help'])).toEqual({ name: 'help' });
    expect(() => parseCommand(['frob'])).toThrow(/unknown command "frob"/);
    expect(() => parseCommand(['jobs', '--verbose'])).toThrow(UsageError);
  });
});

describe('formatTable', () => {
  it('pads every column but the last to its widest cell', () => {
    expect(formatTable(['ID', 'STATUS', 'NOTE'], [['a', 'finished', 'x'], ['bbbb', 'queued', '']])).toBe(
      ['ID    STATUS    NOTE', 'a     finished  x', 'bbbb  queued    '].join('\n'),
    );
  });
});
