import Value from 'typebox/value';
import { describe, expect, it } from 'vitest';
import { columnsFromRecords } from '../../columns.ts';
import type { Meteorite } from '../../schemas.ts';
import { AnalysisResult, InvalidParamsError, validateJobRequest, type AnalysisContext } from '../index.ts';
import { DIMENSIONS, dimensionCodes, massDecade } from './dimensions.ts';
import { group, labelOf, mergeRows, release, type Grouping } from './engine.ts';
import { RowMasses } from './row-masses.ts';
import { MEASURES, quantile } from './measures.ts';
import { expectClose, groupByReference as reference, type ReferenceParams as P } from '@meteorites/test-utils/group-by-reference';

const ctx: AnalysisContext = { datasetVersion: 3, progress: async () => {}, now: () => new Date('2026-01-02T03:04:05Z') };

/** A seeded dataset with every kind of missing value and the edge coordinates. */
function generate(n: number, seed: number): Partial<Meteorite>[] {
  let s = seed;
  const rand = () => (s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const classes = [
    'L6',
    'H5',
    'H/L3.6',
    'LL5',
    'CM2',
    'Iron, IIAB',
    'Iron, IAB-sLL',
    'Eucrite-pmict',
    'Pallasite, PMG',
    'Stone-uncl',
    'Ureilite',
    'Mesosiderite-A1',
  ];
  return Array.from({ length: n }, (_, i) => {
    const located = rand();
    const [lat, lon] =
      located < 0.1
        ? [null, null]
        : located < 0.15
          ? [0, 0]
          : located < 0.17
            ? [90, 180]
            : located < 0.19
              ? [-90, -180]
              : located < 0.2
                ? [0, 45]
                : [rand() * 180 - 90, rand() * 360 - 180];
    const m = rand();
    return {
      id: String(i + 1),
      name: pick(['Allende', 'Murchison', 'allan hills 84001', 'Hoba', 'Sikhote-Alin', 'Gibeon']) + ` ${i}`,
      nametype: rand() < 0.05 ? undefined : pick(['Valid', 'Relict']),
      recclass: rand() < 0.05 ? undefined : pick(classes),
      fall: rand() < 0.05 ? undefined : pick(['Fell', 'Found']),
      year: rand() < 0.1 ? undefined : Math.floor(800 + rand() * 1220),
      // Repeated masses, exact powers of ten and zeros test ties, decades and missing_mass.
      mass_g:
        m < 0.1
          ? undefined
          : m < 0.13
            ? 0
            : m < 0.2
              ? pick([1, 10, 1000, 0.1])
              : m < 0.3
                ? pick([21, 720, 5])
                : Math.round(Math.exp(rand() * 16) * 100) / 100,
      reclat: lat ?? undefined,
      reclong: lon ?? undefined,
    };
  });
}

const records = generate(3000, 42);
const columns = columnsFromRecords(records);

async function both(params: Record<string, unknown>) {
  const request = validateJobRequest('group-by', params);
  const result = await request.analysis.run(columns, request.params, ctx);
  expect(Value.Check({}, AnalysisResult, result)).toBe(true);
  return { result, expected: reference(records, request.params as P) };
}

describe('group-by against a brute-force reference', () => {
  it.each(DIMENSIONS.map((d) => [d]))('by %s, every measure, sorted by key', async (d) => {
    const { result, expected } = await both({ by: [d], measures: [...MEASURES], sort: 'key', limit: 1000 });
    expectClose(result.groups, expected.groups);
    expect(result.matched).toBe(expected.matched);
    for (const [reason, n] of Object.entries(expected.excluded)) expect(result.excluded[reason], reason).toBe(n);
  });

  it.each([
    [['fall', 'year'], { year_bin: 100 }],
    [['class_type', 'hemisphere'], {}],
    [['lat_band', 'lon_band'], { band_deg: 30 }],
    [['mass_decade', 'nametype'], {}],
    [['year', 'class_group'], { year_bin: 1 }],
    [['lon_band', 'recclass'], { band_deg: 15 }],
  ])('by %j %j', async (by, extra) => {
    const { result, expected } = await both({ by, measures: [...MEASURES], sort: 'key', limit: 1000, ...extra });
    expectClose(result.groups, expected.groups);
    expect(result.matched).toBe(expected.matched);
  });

  it.each(MEASURES.map((m) => [m]))('sorts by %s, largest first, and sums the rest into "other" exactly', async (m) => {
    const { result, expected } = await both({ by: ['recclass', 'fall'], measures: [...MEASURES], sort: m, limit: 7 });
    expect(result.groups).toHaveLength(8);
    expect(result.groups!.at(-1)).toMatchObject({ recclass: 'other', fall: 'other' });
    expectClose(result.groups, expected.groups);
  });

  it.each([
    { year_from: 1900, year_to: 1999 },
    { recclass: 'L6' },
    { class_group: 'IAB' },
    { class_type: 'Iron' },
    { fall: 'Fell' },
    { nametype: 'Relict' },
    { lat_min: -30, lat_max: 45.5, lon_min: -100 },
    { lon_max: 0 },
    { name_contains: 'ALLAN' },
    { year_from: 1950, lat_min: 0, class_type: 'Chondrite', fall: 'Found' },
  ])('filters %j', async (filters) => {
    const { result, expected } = await both({ by: ['class_type'], measures: ['count', 'with_mass', 'p90_mass_g'], ...filters });
    expectClose(result.groups, expected.groups);
    expect(result.matched).toBe(expected.matched);
    for (const [reason, n] of Object.entries(expected.excluded)) expect(result.excluded[reason], reason).toBe(n);
  });
});

describe('the two-loop path (no min or max, few label pairs)', () => {
  const box = { year_from: 1950, lat_min: -60, lat_max: 60, lon_min: -120, lon_max: 150 };
  const filterSets = [
    {},
    box,
    { year_to: 1899, lon_max: 0 },
    { lat_min: 0, lat_max: 0, lon_min: 0, lon_max: 45 },
    { fall: 'Fell', nametype: 'Valid', class_type: 'Chondrite', name_contains: 'a' },
  ];

  it.each(filterSets)('groups, sums, reasons and each record as the one loop does, filters %j', async (filters) => {
    for (const by of [['fall', 'year'], ['lat_band', 'lon_band'], ['class_type', 'hemisphere'], ['recclass'], ['mass_decade']] as const) {
      const dims = by.map((d) => dimensionCodes(columns, d, 10, 30));
      const one = await group(columns, { dims, filters, minMax: false }, ctx);
      const two = await group(columns, { dims, filters, minMax: false, dense: true }, ctx);
      try {
        expect(two.size, by.join()).toBe(one.size);
        expect(two.matched).toBe(one.matched);
        expect(Array.from(two.reasons)).toEqual(Array.from(one.reasons));
        const slotOf = (g: Grouping, i: number) => (g.groupOf[i]! < 0 ? -1 : g.slot[g.groupOf[i]!]!);
        for (let i = 0; i < columns.length; i++) {
          expect(two.kept[i]! >= 0, `record ${i}`).toBe(one.groupOf[i]! >= 0);
          expect(slotOf(two, i), `record ${i}`).toBe(slotOf(one, i));
        }
        for (let k = 0; k < one.size; k++) {
          const t = two.slot.indexOf(one.slot[k]!);
          expect(two.sums.count[t]).toBe(one.sums.count[k]);
          expect(two.sums.withMass[t]).toBe(one.sums.withMass[k]);
          // Added in another order (by bank): equal to the last few bits.
          expect(Math.abs(two.sums.sum[t]! - one.sums.sum[k]!)).toBeLessThanOrEqual(1e-12 * Math.abs(one.sums.sum[k]!));
        }
      } finally {
        release(one);
        release(two);
      }
    }
  });

  it.each(filterSets)('by fall × decade with percentiles and spread, as the reference, filters %j', async (filters) => {
    const measures = ['count', 'with_mass', 'total_mass_g', 'mean_mass_g', 'median_mass_g', 'p10_mass_g', 'p90_mass_g', 'stddev_mass_g'];
    const { result, expected } = await both({ by: ['fall', 'year'], year_bin: 10, measures, limit: 1000, ...filters });
    expectClose(result.groups, expected.groups);
    expect(result.matched).toBe(expected.matched);
    for (const [reason, n] of Object.entries(expected.excluded)) expect(result.excluded[reason], reason).toBe(n);
  });
});

describe('group-by params', () => {
  it('groups by class type when no dimension is given', () => {
    expect(validateJobRequest('group-by', {}).params.by).toEqual(['class_type']);
  });

  it('fills the defaults: the seven measures of the other analyses, sorted by count, 50 rows, bins of 10', () => {
    const { params } = validateJobRequest('group-by', { by: ['fall'] });
    expect(params).toMatchObject({
      by: ['fall'],
      measures: ['count', 'with_mass', 'total_mass_g', 'mean_mass_g', 'median_mass_g', 'min_mass_g', 'max_mass_g'],
      sort: 'count',
      limit: 50,
      year_bin: 10,
      band_deg: 10,
    });
  });

  it('reads lists given as one text with commas, to the same canonical params', () => {
    const a = validateJobRequest('group-by', { by: 'fall, year', measures: 'count,median_mass_g' }).params;
    const b = validateJobRequest('group-by', { by: ['fall', 'year'], measures: ['count', 'median_mass_g'] }).params;
    expect(a).toEqual(b);
  });

  it.each([
    [{ by: [] }, 'params.by'],
    [{ by: ['fall', 'year', 'nametype'] }, 'params.by'],
    [{ by: ['fall', 'fall'] }, 'params.by'],
    [{ by: ['colour'] }, 'params.by'],
    [{ by: ['fall'], measures: ['mode'] }, 'params.measures'],
    [{ by: ['fall'], sort: 'name' }, 'params.sort'],
    [{ by: ['lat_band'], band_deg: 3 }, 'params.band_deg'],
    [{ by: ['year'], year_bin: 5 }, 'params.year_bin'],
    [{ by: ['fall'], limit: 1001 }, 'params.limit'],
    [{ by: ['fall'], lat_min: 10, lat_max: -10 }, 'params.lat_min'],
    [{ by: null }, 'params.by'],
  ])('refuses %j naming %s', (params, named) => {
    expect(() => validateJobRequest('group-by', params)).toThrow(InvalidParamsError);
    expect(() => validateJobRequest('group-by', params)).toThrow(named);
  });
});

describe('group-by building blocks', () => {
  it('finds the decade of masses on and near powers of ten', () => {
    expect([0.1, 1, 9.99, 10, 999.999, 1000, 1e6, 60_000_000].map(massDecade)).toEqual([-1, 0, 0, 1, 2, 3, 6, 7]);
  });

  it('interpolates percentiles as numpy does', () => {
    const a = Float64Array.from([1, 2, 3, 4]);
    expect([0, 0.1, 0.25, 0.5, 0.9, 1].map((q) => quantile(a, q))).toEqual([1, 1.3, 1.75, 2.5, 3.7, 4]);
  });
});

describe('the masses of each row in order', () => {
  it.each(['walk', 'buckets'] as const)(
    'by %s: every rank of every row, also of rows merging groups, as a sort gives it',
    async (method) => {
      const dims = [dimensionCodes(columns, 'recclass', 10, 10), dimensionCodes(columns, 'fall', 10, 10)];
      const g = await group(columns, { dims, filters: { year_from: 1500 }, minMax: false }, ctx);
      try {
        // Rows 0..3 are groups 0..3, every later group goes to row 4.
        const rowOf = Int32Array.from({ length: g.size }, (_, k) => Math.min(k, 4));
        const rows = mergeRows(g, rowOf, 5);
        const masses = new RowMasses(g, rows, 0, method);
        const expected: number[][] = [[], [], [], [], []];
        records.forEach((r, i) => {
          const k = g.groupOf[i]!;
          if (k >= 0 && r.mass_g != null) expected[rowOf[k]!]!.push(r.mass_g);
        });
        for (let r = 0; r < 5; r++) {
          const sorted = expected[r]!.sort((a, b) => a - b);
          expect(rows.sums.withMass[r]).toBe(sorted.length);
          expect(
            Array.from(sorted, (_, k) => masses.kth(r, k)),
            `row ${r} (${labelOf(g, r, 0)})`,
          ).toEqual(sorted);
        }
      } finally {
        release(g);
      }
    },
  );
});

describe('the masses of each row by label order', () => {
  it.each([
    [['recclass'], {}],
    [['recclass'], { year_from: 1500, fall: 'Found' }],
    [['fall', 'year'], {}],
    [['fall', 'year'], { year_from: 1500, lat_max: 30 }],
    [['year', 'class_type'], { lon_min: 0 }],
  ] as const)('every rank of every group by %j, filters %j, as a sort gives it, on either loop', async (by, filters) => {
    const dims = by.map((d) => dimensionCodes(columns, d, 100, 10));
    const g = await group(columns, { dims, filters, minMax: false, dense: by.length === 2 }, ctx);
    try {
      const rows = mergeRows(
        g,
        Int32Array.from({ length: g.size }, (_, k) => k),
        g.size,
      );
      const byLabel = new RowMasses(g, rows, 0, 'label');
      const expected = Array.from({ length: g.size }, (): number[] => []);
      records.forEach((r, i) => {
        if (g.groupOf[i]! >= 0 && r.mass_g != null) expected[g.groupOf[i]!]!.push(r.mass_g);
      });
      for (let k = 0; k < g.size; k++) {
        const sorted = expected[k]!.sort((a, b) => a - b);
        expect(
          Array.from(sorted, (_, j) => byLabel.kth(k, j)),
          String(labelOf(g, k, 0)),
        ).toEqual(sorted);
      }
    } finally {
      release(g);
    }
  });
});

describe('many groups', () => {
  it('grows past 1024 groups without mixing the sink (records outside the years) into a group', async () => {
    const many = Array.from({ length: 6000 }, (_, i): Partial<Meteorite> => ({
      id: String(i + 1),
      recclass: `C${(i * 7919) % 2500}`,
      year: i % 3 === 0 ? 1800 : 1990,
      mass_g: (i % 11) + 0.5,
      reclat: i % 5 === 0 ? 80 : 10,
      reclong: 20,
    }));
    const request = validateJobRequest('group-by', {
      by: ['recclass'],
      measures: [...MEASURES],
      sort: 'key',
      limit: 1000,
      year_from: 1900,
      lat_max: 50,
    });
    const result = await request.analysis.run(columnsFromRecords(many), request.params, ctx);
    const expected = reference(many, request.params as P);
    expect(expected.groups.length).toBe(1001);
    expectClose(result.groups, expected.groups);
    expect(result.matched).toBe(expected.matched);
  });
});
