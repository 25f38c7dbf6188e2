import { describe, expect, it } from 'vitest';
import { columnsFromRecords, type Columns } from '../columns.ts';
import { BLOCK } from './group-by/engine.ts';
import { byValueDesc } from './grouped.ts';
import { resultJson, validateJobRequest, type AnalysisContext } from './index.ts';

const ctx: AnalysisContext = { datasetVersion: 3, progress: async () => {}, now: () => new Date('2024-01-02T03:04:05.000Z') };

interface Rec {
  recclass?: string;
  fall?: string;
  year?: number;
  mass_g?: number;
}

function randomRecords(n: number, seed: number): Rec[] {
  let s = seed;
  const rand = () => (s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const pick = <T>(xs: T[]) => xs[Math.floor(rand() * xs.length)]!;
  const classes = ['L6', 'H5', 'LL4', 'Iron, IIAB', 'Eucrite', 'CM2', 'Ureilite', 'H/L3.6'];
  return Array.from({ length: n }, () => {
    const r: Rec = {};
    if (rand() > 0.03) r.recclass = pick(classes);
    if (rand() > 0.03) r.fall = pick(['Fell', 'Found']);
    // A few classes live in a narrow span of years, so whole labels fall inside or outside a filter.
    if (rand() > 0.05) r.year = r.recclass === 'CM2' ? 1950 + Math.floor(rand() * 5) : 1800 + Math.floor(rand() * 220);
    if (rand() > 0.05) r.mass_g = pick([0, 1, 2.5, 7.3, 100]) + Math.floor(rand() * 50) / 10;
    return r;
  });
}

/** What a grouped analysis must answer, computed the naive way. */
function reference(name: string, records: Rec[], p: Record<string, number | string | undefined>) {
  const yearOn = p.year_from !== undefined || p.year_to !== undefined;
  const dimension = name === 'mass-by-class' ? 'recclass' : name === 'mass-by-fall' ? 'fall' : 'year';
  const reason = { recclass: 'missing_class', fall: 'missing_fall', year: 'missing_year' }[dimension];
  const excluded: Record<string, number> = { [reason]: 0 };
  if (yearOn) excluded.missing_year = 0;
  let matched = 0;
  const groups = new Map<string | number, { count: number; masses: number[]; total: number }>();
  for (const r of records) {
    if (p.recclass !== undefined && r.recclass !== p.recclass) continue;
    if (p.fall !== undefined && r.fall !== p.fall) continue;
    if (yearOn && r.year === undefined) {
      matched++;
      excluded.missing_year! += 1;
      continue;
    }
    if (yearOn && (r.year! < ((p.year_from as number) ?? -Infinity) || r.year! > ((p.year_to as number) ?? Infinity))) continue;
    matched++;
    const key =
      dimension === 'year' ? (r.year === undefined ? undefined : Math.floor(r.year / (p.bin as number)) * (p.bin as number)) : r[dimension];
    if (key === undefined) {
      excluded[reason]! += 1;
      continue;
    }
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { count: 0, masses: [], total: 0 }));
    g.count++;
    if (r.mass_g !== undefined) {
      g.masses.push(r.mass_g);
      g.total += r.mass_g;
    }
  }
  const rows = [...groups].map(([key, g]) => {
    const sorted = [...g.masses].sort((a, b) => a - b);
    const n = sorted.length;
    const none = n === 0;
    return {
      key,
      count: g.count,
      with_mass: n,
      total_mass_g: none ? null : g.total,
      mean_mass_g: none ? null : g.total / n,
      median_mass_g: none ? null : n % 2 ? sorted[n >> 1]! : (sorted[(n >> 1) - 1]! + sorted[n >> 1]!) / 2,
      min_mass_g: none ? null : sorted[0]!,
      max_mass_g: none ? null : sorted[n - 1]!,
    };
  });
  const byKey = (a: { key: string | number }, b: { key: string | number }) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
  rows.sort(dimension === 'year' ? byKey : (a, b) => (b.total_mass_g ?? -Infinity) - (a.total_mass_g ?? -Infinity) || byKey(a, b));
  return { matched, excluded, groups: rows };
}

const FILTERS: Record<string, number | string | undefined>[] = [
  {},
  { year_from: -9999 },
  { year_to: 9999 },
  { year_from: 1950 },
  { year_from: 1900, year_to: 1960 },
  { year_from: 1952, year_to: 1953 },
  { year_to: 1801 },
  { fall: 'Fell' },
  { recclass: 'CM2', year_from: 1951 },
  { recclass: 'L6', fall: 'Found', year_to: 1990 },
  { fall: 'Nope' },
];

async function check(name: string, columns: Columns, records: Rec[], filters: Record<string, number | string | undefined>) {
  const { analysis, params } = validateJobRequest(name, filters);
  const result = await analysis.run(columns, params, ctx);
  const expected = reference(name, records, params as Record<string, number>);
  expect(result.matched, JSON.stringify(params)).toBe(expected.matched);
  expect(result.excluded, JSON.stringify(params)).toEqual(expected.excluded);
  expect(result.groups, JSON.stringify(params)).toEqual(expected.groups);
  // The text the worker stores is the object's JSON, to the byte.
  expect(await resultJson(analysis, columns, params, ctx)).toBe(JSON.stringify(result));
}

describe('the grouped analyses against a naive re-computation', () => {
  const records = randomRecords(3000, 7);
  const columns = columnsFromRecords(records);

  it.each(['mass-by-class', 'mass-by-fall'])('%s, under each kind of filter, objects and JSON text alike', async (name) => {
    for (const filters of FILTERS) await check(name, columns, records, filters);
  });

  it.each([1, 10, 100])('mass-by-year by %i, under each kind of filter', async (bin) => {
    for (const filters of FILTERS) await check('mass-by-year', columns, records, { ...filters, bin });
  });

  it('reads a label larger than a block in parts, adding in record order all the same', async () => {
    const big = Array.from({ length: BLOCK + 3000 }, (_, i): Rec => ({
      recclass: i % 7 ? 'A' : 'B',
      year: 1900 + (i % 100),
      mass_g: 0.1 * (i % 13),
    }));
    const c = columnsFromRecords(big);
    for (const filters of [{}, { year_from: 1950 }, { year_to: 5000 }, { fall: 'Fell' }]) await check('mass-by-class', c, big, filters);
  });

  it('finds each middle by rank when every mass is distinct and records without a year sit between them', async () => {
    // Distinct masses, so a neighbour taken by mistake shows; every third record has no year, so
    // a year filter around all the years keeps the dated ones only (and for some classes some).
    const spread = Array.from({ length: 400 }, (_, i): Rec => ({
      recclass: ['A', 'B', 'C'][i % 3],
      year: i % 3 === 1 || i % 5 === 0 ? undefined : 1900 + (i % 50),
      mass_g: 1000 - i * 1.5,
    }));
    const c = columnsFromRecords(spread);
    for (const filters of [{}, { year_from: -9999 }, { year_from: 1910 }, { year_from: 1901, year_to: 1948 }, { fall: 'Fell' }]) {
      await check('mass-by-class', c, spread, filters);
    }
    for (let n = 1; n <= 8; n++)
      await check('mass-by-class', columnsFromRecords(spread.slice(0, n * 3)), spread.slice(0, n * 3), { year_to: 9999 });
  });

  it('prints null for a group without masses and keeps the JSON equal for non-ASCII and quoted keys', async () => {
    const odd: Rec[] = [
      { recclass: 'Iron, "quoted"', year: 1 },
      { recclass: 'Pallasité', mass_g: 2 },
      { recclass: 'Pallasité', mass_g: 1e21 },
    ];
    await check('mass-by-class', columnsFromRecords(odd), odd, {});
  });
});

describe('byValueDesc', () => {
  it('sorts stably, largest first, NaN last', () => {
    const value = Float64Array.from([3, NaN, 5, 3, 0, NaN, 5]);
    expect(Array.from(byValueDesc(Int32Array.from([0, 1, 2, 3, 4, 5, 6]), value))).toEqual([2, 6, 0, 3, 4, 1, 5]);
  });
});
