import Value from 'typebox/value';
import { describe, expect, it } from 'vitest';
import { columnsFromRecords } from '../../columns.ts';
import type { Meteorite } from '../../schemas.ts';
import { classify } from '../classification.ts';
import { AnalysisResult, InvalidParamsError, validateJobRequest, type AnalysisContext } from '../index.ts';
import { DIMENSIONS, massDecade } from './dimensions.ts';
import { MEASURES, quantile } from './measures.ts';

const ctx: AnalysisContext = { datasetVersion: 3, checkpoint: async () => {}, now: () => new Date('2026-01-02T03:04:05Z') };

/** A seeded dataset with every kind of missing value and the edge coordinates. */
function generate(n: number, seed: number): Partial<Meteorite>[] {
  let s = seed;
  const rand = () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const pick = <T,>(xs: T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const classes = ['L6', 'H5', 'H/L3.6', 'LL5', 'CM2', 'Iron, IIAB', 'Iron, IAB-sLL', 'Eucrite-pmict', 'Pallasite, PMG', 'Stone-uncl', 'Ureilite', 'Mesosiderite-A1'];
  return Array.from({ length: n }, (_, i) => {
    const located = rand();
    const [lat, lon] =
      located < 0.1 ? [null, null] : located < 0.15 ? [0, 0] : located < 0.17 ? [90, 180] : located < 0.19 ? [-90, -180] : located < 0.2 ? [0, 45] : [rand() * 180 - 90, rand() * 360 - 180];
    const m = rand();
    return {
      id: String(i + 1),
      name: pick(['Allende', 'Murchison', 'allan hills 84001', 'Hoba', 'Sikhote-Alin', 'Gibeon']) + ` ${i}`,
      nametype: rand() < 0.05 ? undefined : pick(['Valid', 'Relict']),
      recclass: rand() < 0.05 ? undefined : pick(classes),
      fall: rand() < 0.05 ? undefined : pick(['Fell', 'Found']),
      year: rand() < 0.1 ? undefined : Math.floor(800 + rand() * 1220),
      // Repeated masses, exact powers of ten and zeros test ties, decades and missing_mass.
      mass_g: m < 0.1 ? undefined : m < 0.13 ? 0 : m < 0.2 ? pick([1, 10, 1000, 0.1]) : m < 0.3 ? pick([21, 720, 5]) : Math.round(Math.exp(rand() * 16) * 100) / 100,
      reclat: lat ?? undefined,
      reclong: lon ?? undefined,
    };
  });
}

type P = Record<string, unknown> & { by: string[]; measures: string[]; sort: string; limit: number; year_bin: number; band_deg: number };

/** The dimension value of a record, or the reason it has none: written from the words, not from the engine. */
function dimensionOf(r: Partial<Meteorite>, d: string, p: P): string | number | { reason: string } {
  const located = r.reclat != null && r.reclong != null;
  const zero = located && r.reclat === 0 && r.reclong === 0;
  const where = !located ? { reason: 'missing_location' } : zero ? { reason: 'zero_location' } : null;
  const edge = (v: number, w: number, top: number) => Math.min(Math.floor(v / w) * w, top - w);
  switch (d) {
    case 'recclass':
    case 'class_group':
    case 'class_type':
      if (r.recclass == null) return { reason: 'missing_class' };
      return d === 'recclass' ? r.recclass : classify(r.recclass)![d as 'class_group' | 'class_type'];
    case 'fall':
      return r.fall ?? { reason: 'missing_fall' };
    case 'nametype':
      return r.nametype ?? { reason: 'missing_nametype' };
    case 'year':
      return r.year == null ? { reason: 'missing_year' } : Math.floor(r.year / p.year_bin) * p.year_bin;
    case 'lat_band':
      return where ?? edge(r.reclat!, p.band_deg, 90);
    case 'lon_band':
      return where ?? edge(r.reclong!, p.band_deg, 180);
    case 'hemisphere':
      return where ?? (r.reclat! >= 0 ? 'N' : 'S');
    case 'mass_decade':
      return r.mass_g == null || r.mass_g <= 0 ? { reason: 'missing_mass' } : Math.floor(Math.log10(r.mass_g) + 1e-12);
  }
  throw new Error(d);
}

function measure(name: string, count: number, masses: number[]): number | null {
  const sorted = [...masses].sort((a, b) => a - b);
  const n = sorted.length;
  if (name === 'count') return count;
  if (name === 'with_mass') return n;
  if (n === 0) return null;
  const sum = masses.reduce((s, m) => s + m, 0);
  const q = (f: number) => {
    const h = (n - 1) * f;
    const lo = Math.floor(h);
    return lo + 1 < n ? sorted[lo]! + (h - lo) * (sorted[lo + 1]! - sorted[lo]!) : sorted[lo]!;
  };
  const table: Record<string, () => number | null> = {
    total_mass_g: () => sum,
    mean_mass_g: () => sum / n,
    median_mass_g: () => q(0.5),
    min_mass_g: () => sorted[0]!,
    max_mass_g: () => sorted[n - 1]!,
    p10_mass_g: () => q(0.1),
    p25_mass_g: () => q(0.25),
    p75_mass_g: () => q(0.75),
    p90_mass_g: () => q(0.9),
    stddev_mass_g: () => (n < 2 ? null : Math.sqrt(masses.reduce((s, m) => s + (m - sum / n) ** 2, 0) / (n - 1))),
  };
  return table[name]!();
}

/** The whole query by brute force over record objects. */
function reference(records: Partial<Meteorite>[], p: P) {
  const groups = new Map<string, { keys: (string | number)[]; records: Partial<Meteorite>[] }>();
  const excluded: Record<string, number> = {};
  let matched = 0;
  for (const r of records) {
    if (p.recclass !== undefined && r.recclass !== p.recclass) continue;
    if (p.class_group !== undefined && (r.recclass == null || classify(r.recclass)!.class_group !== p.class_group)) continue;
    if (p.class_type !== undefined && (r.recclass == null || classify(r.recclass)!.class_type !== p.class_type)) continue;
    if (p.fall !== undefined && r.fall !== p.fall) continue;
    if (p.nametype !== undefined && r.nametype !== p.nametype) continue;
    if (p.name_contains !== undefined && !r.name!.toLowerCase().includes(String(p.name_contains).toLowerCase())) continue;
    if (p.year_from !== undefined || p.year_to !== undefined) {
      if (r.year == null) {
        matched++;
        excluded.missing_year = (excluded.missing_year ?? 0) + 1;
        continue;
      }
      if (r.year < ((p.year_from as number) ?? -Infinity) || r.year > ((p.year_to as number) ?? Infinity)) continue;
    }
    if (['lat_min', 'lat_max', 'lon_min', 'lon_max'].some((k) => p[k] !== undefined)) {
      const why = r.reclat == null || r.reclong == null ? 'missing_location' : r.reclat === 0 && r.reclong === 0 ? 'zero_location' : null;
      if (why) {
        matched++;
        excluded[why] = (excluded[why] ?? 0) + 1;
        continue;
      }
      const inside = (v: number, lo: unknown, hi: unknown) => v >= ((lo as number) ?? -Infinity) && v <= ((hi as number) ?? Infinity);
      if (!inside(r.reclat!, p.lat_min, p.lat_max) || !inside(r.reclong!, p.lon_min, p.lon_max)) continue;
    }
    matched++;
    const keys = p.by.map((d) => dimensionOf(r, d, p));
    const missing = keys.find((k) => typeof k === 'object') as { reason: string } | undefined;
    if (missing) {
      excluded[missing.reason] = (excluded[missing.reason] ?? 0) + 1;
      continue;
    }
    const id = JSON.stringify(keys);
    if (!groups.has(id)) groups.set(id, { keys: keys as (string | number)[], records: [] });
    groups.get(id)!.records.push(r);
  }
  const masses = (rs: Partial<Meteorite>[]) => rs.flatMap((r) => (r.mass_g == null ? [] : [r.mass_g]));
  const cmpKeys = (a: (string | number)[], b: (string | number)[]) => {
    for (let k = 0; k < a.length; k++) if (a[k] !== b[k]) return a[k]! < b[k]! ? -1 : 1;
    return 0;
  };
  const list = [...groups.values()];
  const value = (g: { records: Partial<Meteorite>[] }) => measure(p.sort, g.records.length, masses(g.records)) ?? -Infinity;
  list.sort((a, b) => (p.sort === 'key' || value(a) === value(b) ? cmpKeys(a.keys, b.keys) : value(b) - value(a)));
  const kept = list.slice(0, p.limit);
  const rest = list.slice(p.limit);
  const rows = kept.map((g) => ({ keys: g.keys as (string | number)[], records: g.records }));
  if (rest.length) rows.push({ keys: p.by.map(() => 'other'), records: rest.flatMap((g) => g.records) });
  return {
    matched,
    excluded,
    groups: rows.map((g) => ({
      ...Object.fromEntries(p.by.map((d, j) => [d, g.keys[j]])),
      ...Object.fromEntries(p.measures.map((m) => [m, measure(m, g.records.length, masses(g.records))])),
    })),
  };
}

const records = generate(3000, 42);
const columns = columnsFromRecords(records);

async function both(params: Record<string, unknown>) {
  const request = validateJobRequest('group-by', params);
  const result = await request.analysis.run(columns, request.params, ctx);
  expect(Value.Check({}, AnalysisResult, result)).toBe(true);
  return { result, expected: reference(records, request.params as P) };
}

/** Equal, numbers within 1e-9 relative (sums added in another order differ in the last bits). */
function expectClose(actual: unknown, expected: unknown, path = '') {
  if (typeof expected === 'number' && typeof actual === 'number') {
    expect(Math.abs(actual - expected), `${path}: ${actual} vs ${expected}`).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(expected)));
  } else if (expected && typeof expected === 'object') {
    expect(Object.keys(actual as object), path).toEqual(Object.keys(expected));
    for (const [k, v] of Object.entries(expected)) expectClose((actual as Record<string, unknown>)[k], v, `${path}.${k}`);
  } else expect(actual, path).toEqual(expected);
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
