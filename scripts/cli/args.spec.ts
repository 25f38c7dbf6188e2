import { describe, expect, it } from 'vitest';
import { commandHelp, FETCH_IDLE_TIMEOUT_S, NASA_CSV_URL, parseCommand, parseParams, USAGE, UsageError, type CommandName } from './args.ts';
import { describeParam } from './commands.ts';
import { sniff } from './fetch.ts';
import { formatTable } from './output.ts';

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
    for (const bad of ['0', '-1', 'soon', ''])
      expect(() => parseCommand(['wait', 'abc', `--timeout=${bad}`])).toThrow(/--timeout must be a positive number/);
  });

  it('reads result with an optional chart file and CSV file', () => {
    expect(parseCommand(['result', 'abc'])).toEqual({ name: 'result', id: 'abc', chart: undefined, csv: undefined });
    expect(parseCommand(['result', 'abc', '--chart', 'out.png'])).toEqual({ name: 'result', id: 'abc', chart: 'out.png', csv: undefined });
    expect(parseCommand(['result', 'abc', '--csv', 't.csv'])).toEqual({ name: 'result', id: 'abc', chart: undefined, csv: 't.csv' });
    expect(() => parseCommand(['result', 'abc', '--chart'])).toThrow(UsageError);
  });

  it('reads jobs with a known status and an integer limit', () => {
    expect(parseCommand(['jobs'])).toEqual({ name: 'jobs', status: undefined, limit: undefined });
    expect(parseCommand(['jobs', '--status', 'failed', '--limit', '5'])).toEqual({ name: 'jobs', status: 'failed', limit: 5 });
    expect(() => parseCommand(['jobs', '--status', 'done'])).toThrow(
      /--status must be one of queued, running, finished, failed, cancelled/,
    );
    expect(() => parseCommand(['jobs', '--limit', '2.5'])).toThrow(/--limit must be a positive integer/);
    expect(() => parseCommand(['jobs', 'extra'])).toThrow(/takes no arguments/);
  });

  it('turns unknown commands and options into usage errors, and no command into help', () => {
    expect(parseCommand([])).toEqual({ name: 'help', topic: undefined });
    expect(parseCommand(['--help'])).toEqual({ name: 'help', topic: undefined });
    expect(() => parseCommand(['frob'])).toThrow(/unknown command "frob"/);
    expect(() => parseCommand(['jobs', '--verbose'])).toThrow(UsageError);
  });
});

const COMMANDS: CommandName[] = ['load', 'submit', 'wait', 'result', 'jobs', 'cancel', 'analyses', 'summary', 'fetch'];

describe('help', () => {
  it.each(COMMANDS)("%s --help and -h answer the command's help, whatever else is (or is not) on the line", (name) => {
    expect(parseCommand([name, '--help'])).toEqual({ name: 'help', topic: name });
    expect(parseCommand([name, '-h'])).toEqual({ name: 'help', topic: name });
    expect(parseCommand([name, 'a', 'b', 'c', '--help'])).toEqual({ name: 'help', topic: name });
    expect(parseCommand(['help', name])).toEqual({ name: 'help', topic: name });
    expect(commandHelp(name)).toMatch(new RegExp(`^usage: meteorites ${name}\\b`));
    expect(USAGE).toContain(`  ${name}`);
  });

  it('refuses help for an unknown command, and an unknown option even with --help', () => {
    expect(() => parseCommand(['help', 'frob'])).toThrow(/help takes one command name, one of load, submit/);
    expect(() => parseCommand(['help', 'jobs', 'wait'])).toThrow(UsageError);
    expect(() => parseCommand(['jobs', '--verbose', '--help'])).toThrow(/Unknown option '--verbose'/);
  });

  it('names the command whose usage goes with an error', () => {
    const err = (() => {
      try {
        parseCommand(['submit', 'heaviest', '--param', 'n']);
      } catch (e) {
        return e as UsageError;
      }
    })();
    expect(err).toBeInstanceOf(UsageError);
    expect(err?.command).toBe('submit');
  });
});

describe('new commands', () => {
  it('reads cancel with one job id', () => {
    expect(parseCommand(['cancel', 'abc'])).toEqual({ name: 'cancel', id: 'abc' });
    expect(() => parseCommand(['cancel'])).toThrow(/expected one job id, got 0/);
    expect(() => parseCommand(['cancel', 'a', 'b'])).toThrow(/expected one job id, got 2/);
  });

  it.each(['analyses', 'summary'] as const)('reads %s with an optional --json', (name) => {
    expect(parseCommand([name])).toEqual({ name, json: false });
    expect(parseCommand([name, '--json'])).toEqual({ name, json: true });
    expect(() => parseCommand([name, 'extra'])).toThrow(/takes no arguments/);
    expect(() => parseCommand([name, '--json=yes'])).toThrow(UsageError);
  });

  it("reads fetch with NASA's CSV, data/ and a 30 s stall timeout by default", () => {
    expect(parseCommand(['fetch'])).toEqual({
      name: 'fetch',
      url: NASA_CSV_URL,
      out: 'data/Meteorite_Landings.csv',
      load: false,
      timeoutS: FETCH_IDLE_TIMEOUT_S,
    });
    expect(NASA_CSV_URL).toMatch(/^https:\/\/data\.nasa\.gov\/.*gh4g-9sfh.*csv/);
    expect(parseCommand(['fetch', '--url', 'http://127.0.0.1:8080/rows.csv', '--out', 'x.csv', '--load', '--timeout', '0.5'])).toEqual({
      name: 'fetch',
      url: 'http://127.0.0.1:8080/rows.csv',
      out: 'x.csv',
      load: true,
      timeoutS: 0.5,
    });
  });

  it.each([
    [['--url', 'ftp://example.org/x.csv'], /--url must be an http\(s\) URL/],
    [['--url', 'data.nasa.gov/x.csv'], /--url must be an http\(s\) URL/],
    [['--out', ''], /--out must name a file/],
    [['--timeout', '0'], /--timeout must be a positive number/],
    [['--timeout', 'never'], /--timeout must be a positive number/],
    [['--load=yes'], UsageError],
    [['somewhere.csv'], /fetch takes no arguments/],
  ])('refuses fetch %j', (args, message) => {
    expect(() => parseCommand(['fetch', ...args])).toThrow(message);
  });
});

describe('describeParam', () => {
  it.each([
    [{ type: 'integer', minimum: 1, maximum: 1000, default: 10 }, 'integer 1..1000, default 10'],
    [{ enum: [1, 10, 100], default: 10 }, '1|10|100, default 10'],
    [{ type: 'string', minLength: 1, maxLength: 200 }, 'string (length 1..200)'],
    [{ type: 'number', minimum: 0.1 }, 'number 0.1..'],
    [{}, 'any'],
  ])('%j reads %j', (schema, text) => {
    expect(describeParam(schema)).toBe(text);
  });
});

describe('sniff', () => {
  it.each([
    ['name,id,nametype', 'csv'],
    ['\uFEFFname,id', 'csv'],
    ['  \n{"meteorite_landings": []}', 'json'],
    ['[{"id": "1"}]', 'json'],
    ['\r\n<!DOCTYPE html>', 'html'],
    ['<?xml version="1.0"?>', 'html'],
    [' \n\t', undefined],
    ['', undefined],
  ])('reads %j as %s', (text, kind) => {
    expect(sniff(Buffer.from(text))).toBe(kind);
  });
});

describe('formatTable', () => {
  it('pads every column but the last to its widest cell', () => {
    expect(
      formatTable(
        ['ID', 'STATUS', 'NOTE'],
        [
          ['a', 'finished', 'x'],
          ['bbbb', 'queued', ''],
        ],
      ),
    ).toBe(['ID    STATUS    NOTE', 'a     finished  x', 'bbbb  queued    '].join('\n'));
  });
});
