/**
 * The group-by analysis computed by brute force over record objects, written from the issue's
 * words and not from the engine: the reference the engine's unit tests and the API's integration
 * test compare against.
 */
import { expect } from 'vitest';
import { classify, type Meteorite } from '@meteorites/shared';

export type ReferenceParams = Record<string, unknown> & {
  by: string[];
  measures: string[];
  sort: string;
  limit: number;
  year_bin: number;
  band_deg: number;
};

/** The dimension value of a record, or the reason it has none: written from the words, not from the engine. */
function dimensionOf(r: Partial<Meteorite>, d: string, p: ReferenceParams): string | number | { reason: string } {
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
export function groupByReference(records: Partial<Meteorite>[], p: ReferenceParams) {
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

/** Equal, numbers within 1e-9 relative (sums added in another order differ in the last bits). */
export function expectClose(actual: unknown, expected: unknown, path = ''): void {
  if (typeof expected === 'number' && typeof actual === 'number') {
    expect(Math.abs(actual - expected), `${path}: ${actual} vs ${expected}`).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(expected)));
  } else if (expected && typeof expected === 'object') {
    expect(Object.keys(actual as object), path).toEqual(Object.keys(expected));
    for (const [k, v] of Object.entries(expected)) expectClose((actual as Record<string, unknown>)[k], v, `${path}.${k}`);
  } else expect(actual, path).toEqual(expected);
}
