import Type from 'typebox';
import { describe, expect, it } from 'vitest';
import { analyses, InvalidParamsError, UnknownAnalysisError, validateJobRequest } from './index.ts';

function problems(analysis: string, params: unknown): string[] {
  try {
    validateJobRequest(analysis, params);
  } catch (e) {
    if (e instanceof InvalidParamsError) return e.problems;
    throw e;
  }
  throw new Error('expected InvalidParamsError');
}

describe('the registry', () => {
  it('lists the six analyses in a stable order, each with a description and a closed params schema', () => {
    expect([...analyses.keys()]).toEqual(['mass-by-class', 'mass-by-year', 'mass-by-fall', 'heaviest', 'geo-grid', 'group-by']);
    for (const a of analyses.values()) {
      expect(a.description).toMatch(/\.$/);
      expect(a.params).toHaveProperty('additionalProperties', false);
      for (const f of ['year_from', 'year_to', 'recclass', 'fall']) expect(a.params.properties[f]).toHaveProperty('description');
    }
  });
});

describe('validateJobRequest', () => {
  it('refuses an unknown analysis, naming the known ones', () => {
    expect(() => validateJobRequest('mass-by-colour', {})).toThrow(UnknownAnalysisError);
    expect(() => validateJobRequest('mass-by-colour', {})).toThrow(/mass-by-class, mass-by-year/);
    expect(() => validateJobRequest('__proto__', {})).toThrow(UnknownAnalysisError);
  });

  it('validates against another registry under the same rules', () => {
    const extra = {
      name: 'extra',
      description: 'x.',
      params: Type.Object({ k: Type.Optional(Type.Integer({ minimum: 1, default: 2 })) }, { additionalProperties: false }),
      run: () => Promise.reject(new Error('not run')),
    };
    const registry = new Map([...analyses, ['extra', extra]]);
    expect(validateJobRequest('extra', {}, registry).params).toEqual({ k: 2 });
    expect(() => validateJobRequest('extra', { k: 0 }, registry)).toThrow('params.k must be >= 1');
    expect(() => validateJobRequest('extra', {})).toThrow(UnknownAnalysisError);
    expect(() => validateJobRequest('other', {}, registry)).toThrow(/geo-grid, group-by, extra$/);
  });

  it('fills defaults and accepts missing params', () => {
    expect(validateJobRequest('mass-by-year', undefined).params).toEqual({ bin: 10 });
    expect(validateJobRequest('heaviest', null).params).toEqual({ n: 10 });
    expect(validateJobRequest('geo-grid', {}).params).toEqual({ cell_deg: 10 });
    expect(validateJobRequest('mass-by-class', {}).params).toEqual({});
  });

  it('gives identical canonical params for equivalent requests', () => {
    const a = validateJobRequest('mass-by-year', { year_to: 2000, fall: 'Fell', year_from: 1900 }).params;
    const b = validateJobRequest('mass-by-year', { bin: 10, year_from: 1900, fall: 'Fell', year_to: 2000 }).params;
    expect(JSON.stringify(a)).toBe(JSON.stringify(b));
    expect(Object.keys(a)).toEqual(['bin', 'fall', 'year_from', 'year_to']);
    expect(JSON.stringify(validateJobRequest('heaviest', { n: 5 }).params)).not.toBe(
      JSON.stringify(validateJobRequest('heaviest', {}).params),
    );
  });

  it('does not modify the caller’s object', () => {
    const given = { year_from: 1 };
    validateJobRequest('mass-by-year', given);
    expect(given).toEqual({ year_from: 1 });
  });

  it.each([
    ['heaviest', { n: 0 }, 'params.n must be >= 1'],
    ['heaviest', { n: 1001 }, 'params.n must be <= 1000'],
    ['heaviest', { n: 2.5 }, 'params.n must be an integer, not 2.5'],
    ['heaviest', { n: '10' }, 'params.n must be an integer, not a string'],
    ['heaviest', { n: NaN }, 'params.n must be a finite number, not NaN'],
    ['heaviest', { n: null }, 'params.n must be an integer, not null'],
    ['geo-grid', { cell_deg: Infinity }, 'params.cell_deg must be a finite number, not Infinity'],
    ['mass-by-year', { bin: 5 }, 'params.bin must be one of 1, 10, 100'],
    ['mass-by-year', { bin: '10' }, 'params.bin must be one of 1, 10, 100'],
    ['mass-by-class', { year_from: 10_000 }, 'params.year_from must be <= 9999'],
    ['mass-by-class', { year_to: -Infinity }, 'params.year_to must be a finite number, not -Infinity'],
    ['mass-by-class', { recclass: 5 }, 'params.recclass must be a string, not a number'],
    ['mass-by-class', { year_from: 2000, year_to: 1999 }, 'params.year_from (2000) must not be greater than params.year_to (1999)'],
    ['mass-by-class', { bin: 10 }, 'params.bin is not a parameter of mass-by-class (its parameters: year_from, year_to, recclass, fall)'],
    [
      'geo-grid',
      { cell_deg: 7 },
      'params.cell_deg must have at most two decimals and divide 90 exactly (e.g. 0.1, 0.25, 1, 5, 10, 15); got 7',
    ],
    ['geo-grid', { cell_deg: 0.05 }, 'params.cell_deg must be >= 0.1'],
    ['geo-grid', { cell_deg: 120 }, 'params.cell_deg must be <= 90'],
  ])('%s %o → %s', (analysis, params, problem) => {
    expect(problems(analysis, params)).toEqual([problem]);
  });

  it('names every problem at once, and never clamps', () => {
    expect(problems('heaviest', { n: 5000, colour: 'red', size: 1 })).toEqual([
      expect.stringMatching(/^params\.colour is not a parameter/),
      expect.stringMatching(/^params\.size is not a parameter/),
      'params.n must be <= 1000',
    ]);
  });

  it('refuses params that are not an object', () => {
    for (const p of [[], 'n=5', 5, true]) expect(problems('heaviest', p)).toEqual(['params must be an object']);
  });

  it('refuses values nested 10,000 levels deep without overflowing the stack', () => {
    const deepArray = JSON.parse('['.repeat(10_000) + ']'.repeat(10_000)) as unknown;
    const deepObject = JSON.parse('{"a":'.repeat(10_000) + '1' + '}'.repeat(10_000)) as Record<string, unknown>;
    expect(problems('heaviest', { n: deepArray })).toEqual(['params.n must be an integer, not an object']);
    expect(problems('heaviest', deepObject)).toEqual([expect.stringMatching(/^params\.a is not a parameter of heaviest/)]);
  });

  it('accepts every cell size that divides 90 with at most two decimals', () => {
    for (const cell_deg of [0.1, 0.15, 0.2, 0.25, 0.3, 0.5, 1, 2, 2.5, 3, 4.5, 5, 6, 9, 10, 15, 18, 30, 45, 90]) {
      expect(validateJobRequest('geo-grid', { cell_deg }).params).toEqual({ cell_deg });
    }
    for (const cell_deg of [0.16, 0.123, 4, 7, 12, 20, 40, 60]) expect(problems('geo-grid', { cell_deg })).toHaveLength(1);
  });
});
