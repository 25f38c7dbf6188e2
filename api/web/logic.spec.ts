import { describe, expect, it } from 'vitest';
import { initialValues, metric, paramsOf, sortRows, tableOf, withEvent } from './logic.ts';
import type { JsonSchema } from './types.ts';

/** A schema shaped like group-by's: a required list of enums, numeric enums, ranges, optional text. */
const SCHEMA: JsonSchema = {
  type: 'object',
  required: ['by'],
  properties: {
    by: { type: 'array', items: { enum: ['recclass', 'fall', 'year'] }, default: ['recclass'], minItems: 1, maxItems: 2 },
    year_bin: { enum: [1, 10, 100], default: 10 },
    sort: { enum: ['count', 'key'], default: 'count' },
    limit: { type: 'integer', minimum: 1, maximum: 1000, default: 50 },
    lat_min: { type: 'number', minimum: -90, maximum: 90 },
    recclass: { type: 'string' },
  },
};

describe('the Ask form', () => {
  it('starts from the defaults, and a "same again" link overrides them', () => {
    expect(initialValues(SCHEMA, {})).toEqual({ by: ['recclass'], year_bin: '10', sort: 'count', limit: '50', lat_min: '', recclass: '' });
    expect(initialValues(SCHEMA, { by: ['fall', 'year'], lat_min: -12.5 })).toMatchObject({ by: ['fall', 'year'], lat_min: '-12.5' });
  });

  it("sends what was filled in, typed by the schema, lists in the schema's order, empty fields left out", () => {
    const values = { by: ['year', 'fall'], year_bin: '100', sort: 'key', limit: '', lat_min: '-12.5', recclass: 'L6' };
    expect(paramsOf(SCHEMA, values)).toEqual({ by: ['fall', 'year'], year_bin: 100, sort: 'key', lat_min: -12.5, recclass: 'L6' });
    expect(paramsOf(SCHEMA, { by: [], limit: '7' })).toEqual({ limit: 7 });
  });

  it('round-trips: the params of the defaults are the defaults', () => {
    expect(paramsOf(SCHEMA, initialValues(SCHEMA, {}))).toEqual({ by: ['recclass'], year_bin: 10, sort: 'count', limit: 50 });
  });
});

describe('a job event', () => {
  const job = { id: 'j', status: 'running', progress: 0.25, attempts: 1, analysis: 'group-by' };
  it('changes what it carries and keeps the rest', () => {
    expect(withEvent(job, { status: 'running', progress: 0.5 })).toEqual({ ...job, progress: 0.5 });
    expect(withEvent(job, { status: 'queued', attempts: 2 })).toEqual({ ...job, status: 'queued', attempts: 2 });
    expect(withEvent(job, { status: 'finished' })).toEqual({ ...job, status: 'finished', progress: 1 });
    expect(withEvent(job, { status: 'cancelled' }).progress).toBe(0.25);
  });
});

describe('reading /metrics', () => {
  const text = [
    '# HELP meteorites_queue_depth Queued jobs',
    'meteorites_queue_depth{state="ready"} 4',
    'meteorites_queue_depth{state="delayed"} 1',
    'meteorites_jobs_running 2',
    'meteorites_jobs_running_total 99',
  ].join('\n');
  it('finds a series by its exact name and labels', () => {
    expect(metric(text, 'meteorites_queue_depth{state="ready"}')).toBe(4);
    expect(metric(text, 'meteorites_queue_depth{state="delayed"}')).toBe(1);
    expect(metric(text, 'meteorites_jobs_running')).toBe(2);
    expect(metric(text, 'meteorites_workers')).toBeNaN();
  });
});

describe('the result table', () => {
  const rows = [
    { fall: 'Found', count: 12, mean: null },
    { fall: 'Fell', count: 26, mean: 3.5 },
    { fall: 'other', count: 2, mean: 10 },
  ];
  it('takes groups, items or cells, with every column any row has', () => {
    expect(tableOf({ groups: rows }).columns).toEqual(['fall', 'count', 'mean']);
    const cells = [{ lat: 0, lon: 10, count: 3 }];
    expect(tableOf({ cells })).toEqual({ columns: ['lat', 'lon', 'count'], rows: cells });
    expect(tableOf({})).toEqual({ columns: [], rows: [] });
  });

  it('sorts numbers as numbers and text naturally, both ways, empty cells last either way', () => {
    expect(sortRows(rows, 'count', 1).map((r) => r.count)).toEqual([2, 12, 26]);
    expect(sortRows(rows, 'count', -1).map((r) => r.count)).toEqual([26, 12, 2]);
    expect(sortRows(rows, 'fall', 1).map((r) => r.fall)).toEqual(['Fell', 'Found', 'other']);
    expect(sortRows(rows, 'mean', 1).map((r) => r.mean)).toEqual([3.5, 10, null]);
    expect(sortRows(rows, 'mean', -1).map((r) => r.mean)).toEqual([10, 3.5, null]);
    expect(sortRows([{ k: 'L10' }, { k: 'L9' }], 'k', 1).map((r) => r.k)).toEqual(['L9', 'L10']);
  });
});
