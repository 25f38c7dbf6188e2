/**
 * `group-by`: the general question. Groups the landings the filters select by one or two
 * dimensions and reports the measures asked for, as a tidy table (one field per dimension, then
 * the measures). Two passes over integer codes and one walk of the dataset's mass order; every
 * per-dataset preparation (dimension codes, the mass order) is made once and kept with the data.
 */
import Type from 'typebox';
import { codeOf, type Columns } from '../../columns.ts';
import { CLASS_TYPES, classify } from '../classification.ts';
import { checkFilters, filterParams, hasYearFilter, type Filters } from '../filters.ts';
import { resultHead } from '../result.ts';
import type { Analysis, AnalysisContext, AnalysisResult } from '../types.ts';
import { BAND_DEGREES, compareKeys, DIMENSIONS, dimensionCodes, REASONS, YEAR_BINS, type Dimension, type DimensionCodes, type Reason } from './dimensions.ts';
import { DEFAULT_MEASURES, MEASURES, measureOf, needsOrder, rowSums, sortedMasses, type Measure, type RowSums } from './measures.ts';

export { DIMENSIONS, MEASURES, DEFAULT_MEASURES, type Dimension, type Measure };

export interface GroupByParams extends Filters {
  by: Dimension[];
  year_bin: number;
  band_deg: number;
  measures: Measure[];
  sort: Measure | 'key';
  limit: number;
  class_group?: string;
  class_type?: string;
  nametype?: string;
  lat_min?: number;
  lat_max?: number;
  lon_min?: number;
  lon_max?: number;
  name_contains?: string;
}

const Text = (description: string) => Type.Optional(Type.String({ minLength: 1, maxLength: 200, description }));
const Degrees = (limit: number, description: string) => Type.Optional(Type.Number({ minimum: -limit, maximum: limit, description }));

const params = Type.Object(
  {
    by: Type.Array(Type.Enum([...DIMENSIONS]), {
      default: ['class_type'],
      minItems: 1,
      maxItems: 2,
      uniqueItems: true,
      description:
        'One or two dimensions (default class_type; a list, or one text with commas): recclass, class_group, class_type, fall, nametype, year (binned by year_bin), lat_band and lon_band (band_deg wide, keyed by their south or west edge), hemisphere (N or S; latitude 0 is N), mass_decade (floor(log10(mass_g)); 0 g has none).',
    }),
    year_bin: Type.Optional(Type.Enum([...YEAR_BINS], { default: 10, description: 'Width of a `year` bin in years; its key is the first year.' })),
    band_deg: Type.Optional(Type.Enum([...BAND_DEGREES], { default: 10, description: 'Width of a `lat_band` or `lon_band` in degrees.' })),
    measures: Type.Optional(
      Type.Array(Type.Enum([...MEASURES]), {
        minItems: 1,
        uniqueItems: true,
        default: DEFAULT_MEASURES,
        description:
          'What to report per group (a list, or one text with commas). Percentiles interpolate linearly between closest ranks (the median is p50); stddev_mass_g is the sample standard deviation (n − 1).',
      }),
    ),
    sort: Type.Optional(
      Type.Enum([...MEASURES, 'key'], { default: 'count', description: 'A measure (largest first) or `key` (the dimensions in ascending order).' }),
    ),
    limit: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 1000, default: 50, description: 'Rows to report; the rest are summed into one row whose dimensions read "other".' }),
    ),
    ...filterParams,
    class_group: Text('Only this class group (see docs/classification.md), e.g. "IIIAB" or "CM".'),
    class_type: Type.Optional(Type.Enum([...CLASS_TYPES], { description: 'Only this class type.' })),
    nametype: Text('Only this name type: "Valid" or "Relict".'),
    lat_min: Degrees(90, 'Only landings at or north of this latitude; landings without a location are counted in excluded.'),
    lat_max: Degrees(90, 'Only landings at or south of this latitude.'),
    lon_min: Degrees(180, 'Only landings at or east of this longitude.'),
    lon_max: Degrees(180, 'Only landings at or west of this longitude.'),
    name_contains: Type.Optional(Type.String({ minLength: 1, maxLength: 100, description: 'Only landings whose name contains this text, ignoring case.' })),
  },
  { additionalProperties: false },
);

function check(p: GroupByParams): string[] {
  const problems = checkFilters(p);
  for (const [low, high] of [['lat_min', 'lat_max'], ['lon_min', 'lon_max']] as const) {
    if (p[low] !== undefined && p[high] !== undefined && p[low] > p[high]) {
      problems.push(`params.${low} (${p[low]}) must not be greater than params.${high} (${p[high]})`);
    }
  }
  return problems;
}

/** A list param may come as one text with commas (the CLI's `--param by=fall,year`). */
function coerce(given: Record<string, unknown>): Record<string, unknown> {
  const out = { ...given };
  for (const name of ['by', 'measures']) {
    const v = out[name];
    if (typeof v === 'string') out[name] = v.split(',').map((s) => s.trim());
  }
  return out;
}

/** Which records the filters keep, as tests over codes prepared once per query. */
function recordFilter(columns: Columns, p: GroupByParams) {
  const byClass = p.recclass !== undefined || p.class_group !== undefined || p.class_type !== undefined;
  const classAllowed = byClass
    ? Uint8Array.from(columns.recclass.values, (v) => {
        if (v === null) return 0;
        const c = classify(v)!;
        return Number((p.recclass === undefined || v === p.recclass) && (p.class_group === undefined || c.class_group === p.class_group) && (p.class_type === undefined || c.class_type === p.class_type));
      })
    : undefined;
  const fall = p.fall === undefined ? undefined : codeOf(columns.fall, p.fall);
  const nametype = p.nametype === undefined ? undefined : codeOf(columns.nametype, p.nametype);
  const needle = p.name_contains?.toLowerCase();
  return (i: number): boolean =>
    (classAllowed === undefined || classAllowed[columns.recclass.codes[i]!] === 1) &&
    (fall === undefined || columns.fall.codes[i] === fall) &&
    (nametype === undefined || columns.nametype.codes[i] === nametype) &&
    (needle === undefined || columns.name.at(i).toLowerCase().includes(needle));
}

const CHECKPOINT_MASK = 8191;

interface Grouping {
  dims: DimensionCodes[];
  /** Each record's group, -1 for none. */
  groupOf: Int32Array;
  /** Each group's label indices, one per dimension. */
  keys: number[][];
  sums: RowSums;
  matched: number;
  excluded: Record<string, number>;
}

/** Pass one: filter, then group by integer codes; sums in record order. */
async function group(columns: Columns, p: GroupByParams, ctx: AnalysisContext): Promise<Grouping> {
  const dims = p.by.map((d) => dimensionCodes(columns, d, p.year_bin, p.band_deg));
  const [d1, d2] = dims as [DimensionCodes, DimensionCodes | undefined];
  const width = d2 ? d2.labels.length : 1;
  const slotGroup = new Int32Array(Math.max(1, d1.labels.length * width)).fill(-1);
  const n = columns.length;
  const groupOf = new Int32Array(n).fill(-1);
  const keys: number[][] = [];
  let sums = rowSums(64);
  const reasons = new Float64Array(REASONS.length);
  const keep = recordFilter(columns, p);
  const yearFiltered = hasYearFilter(p);
  const [from, to] = [p.year_from ?? -Infinity, p.year_to ?? Infinity];
  const boxed = p.lat_min !== undefined || p.lat_max !== undefined || p.lon_min !== undefined || p.lon_max !== undefined;
  const [latMin, latMax, lonMin, lonMax] = [p.lat_min ?? -Infinity, p.lat_max ?? Infinity, p.lon_min ?? -Infinity, p.lon_max ?? Infinity];
  const { year, lat, lon, mass } = columns;
  let matched = 0;
  for (let i = 0; i < n; i++) {
    if ((i & CHECKPOINT_MASK) === 0) await ctx.checkpoint(i / n);
    if (!keep(i)) continue;
    if (yearFiltered) {
      const y = year[i]!;
      if (Number.isNaN(y)) {
        matched++;
        reasons[3]! += 1; // missing_year
        continue;
      }
      if (y < from || y > to) continue;
    }
    if (boxed) {
      const la = lat[i]!;
      const lo = lon[i]!;
      if (Number.isNaN(la) || Number.isNaN(lo) || (la === 0 && lo === 0)) {
        matched++;
        reasons[Number.isNaN(la) || Number.isNaN(lo) ? 4 : 5]! += 1;
        continue;
      }
      if (la < latMin || la > latMax || lo < lonMin || lo > lonMax) continue;
    }
    matched++;
    const c1 = d1.codes[i]!;
    if (c1 < 0) {
      reasons[-1 - c1]! += 1;
      continue;
    }
    let slot = c1 * width;
    if (d2) {
      const c2 = d2.codes[i]!;
      if (c2 < 0) {
        reasons[-1 - c2]! += 1;
        continue;
      }
      slot += c2;
    }
    let g = slotGroup[slot]!;
    if (g < 0) {
      g = slotGroup[slot] = keys.length;
      keys.push(d2 ? [c1, slot - c1 * width] : [c1]);
      if (g === sums.count.length) sums = grow(sums);
    }
    groupOf[i] = g;
    sums.count[g]! += 1;
    const m = mass[i]!;
    if (!Number.isNaN(m)) {
      sums.withMass[g]! += 1;
      sums.sum[g]! += m;
      if (m < sums.min[g]!) sums.min[g] = m;
      if (m > sums.max[g]!) sums.max[g] = m;
    }
  }
  const excluded: Record<string, number> = {};
  const named = new Set<Reason>(dims.flatMap((d) => d.reasons));
  if (yearFiltered) named.add('missing_year');
  if (boxed) ['missing_location', 'zero_location'].forEach((r) => named.add(r as Reason));
  REASONS.forEach((r, k) => {
    if (named.has(r) || reasons[k]! > 0) excluded[r] = reasons[k]!;
  });
  return { dims, groupOf, keys, sums, matched, excluded };
}

function grow(s: RowSums): RowSums {
  const bigger = rowSums(2 * s.count.length);
  for (const f of ['count', 'withMass', 'sum', 'min', 'max'] as const) bigger[f].set(s[f]);
  return bigger;
}

/** Largest first, rows without a value last, ties by key; or by key. */
function order(columns: Columns, g: Grouping, p: GroupByParams): number[] {
  const byKey = (a: number, b: number) => {
    for (let d = 0; d < g.dims.length; d++) {
      const c = compareKeys(g.dims[d]!.labels[g.keys[a]![d]!]!, g.dims[d]!.labels[g.keys[b]![d]!]!);
      if (c !== 0) return c;
    }
    return 0;
  };
  const groups = Array.from(g.keys, (_, k) => k);
  if (p.sort === 'key') return groups.sort(byKey);
  const measure = p.sort;
  const sorted = needsOrder([measure]) ? sortedMasses(columns, g.groupOf, g.sums) : undefined;
  const value = Float64Array.from(groups, (k) => measureOf(measure, k, g.sums, sorted) ?? -Infinity);
  return groups.sort((a, b) => (value[a] === value[b] ? byKey(a, b) : value[b]! > value[a]! ? 1 : -1));
}

/**
 * Pass two: the rows in their final order, the groups past `limit` summed into one "other" row
 * whose measures are computed over its own records (exact, not merged from the groups').
 */
function rows(columns: Columns, g: Grouping, p: GroupByParams, ranked: number[]): Record<string, unknown>[] {
  const shown = Math.min(ranked.length, p.limit);
  const rowCount = ranked.length > shown ? shown + 1 : shown;
  const rowOfGroup = new Int32Array(g.keys.length);
  ranked.forEach((k, r) => (rowOfGroup[k] = Math.min(r, shown)));
  const rowOf = new Int32Array(columns.length);
  const sums = rowSums(rowCount);
  const { mass } = columns;
  for (let i = 0; i < rowOf.length; i++) {
    const k = g.groupOf[i]!;
    if (k < 0) {
      rowOf[i] = -1;
      continue;
    }
    const r = (rowOf[i] = rowOfGroup[k]!);
    sums.count[r]! += 1;
    const m = mass[i]!;
    if (!Number.isNaN(m)) {
      sums.withMass[r]! += 1;
      sums.sum[r]! += m;
      if (m < sums.min[r]!) sums.min[r] = m;
      if (m > sums.max[r]!) sums.max[r] = m;
    }
  }
  const sorted = needsOrder(p.measures) ? sortedMasses(columns, rowOf, sums) : undefined;
  return Array.from({ length: rowCount }, (_, r) => {
    const row: Record<string, unknown> = {};
    p.by.forEach((d, j) => (row[d] = r < shown ? g.dims[j]!.labels[g.keys[ranked[r]!]![j]!] : 'other'));
    for (const m of p.measures) row[m] = measureOf(m, r, sums, sorted);
    return row;
  });
}

export const groupBy: Analysis<GroupByParams> = {
  name: 'group-by',
  description:
    'Any question of the form "this measure per that dimension": landings grouped by one or two dimensions (class, class group or type, fall, name type, year, latitude or longitude band, hemisphere, mass decade), with the measures asked for, as a table.',
  params,
  coerce,
  check,
  async run(columns, p, ctx): Promise<AnalysisResult> {
    const grouping = await group(columns, p, ctx);
    const groups = rows(columns, grouping, p, order(columns, grouping, p));
    return { ...resultHead('group-by', p, columns, ctx, grouping.matched, grouping.excluded), groups: groups as never };
  },
};
