/**
 * `group-by`: the general question. Groups the landings the filters select by one or two
 * dimensions and reports the measures asked for, as a tidy table (one field per dimension, then
 * the measures). Two passes over integer codes and one walk of the dataset's mass order; every
 * per-dataset preparation (dimension codes, the mass order) is made once and kept with the data.
 */
import Type from 'typebox';
import { SafeText } from '../../schemas.ts';
import { codeOf, type Columns } from '../../columns.ts';
import { CLASS_TYPES, classMask } from '../classification.ts';
import { checkFilters, filterParams, hasYearFilter, type Filters } from '../filters.ts';
import { resultHead } from '../result.ts';
import type { Analysis, AnalysisContext, AnalysisResult } from '../types.ts';
import { BAND_DEGREES, compareKeys, DIMENSIONS, dimensionCodes, REASONS, YEAR_BINS, type Dimension, type DimensionCodes, type Reason } from './dimensions.ts';
import { DEFAULT_MEASURES, MEASURES, massOrder, measureOf, needsOrder, rowSums, sortedMasses, type Measure, type RowSums } from './measures.ts';

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

const Text = (description: string) => Type.Optional(SafeText({ minLength: 1, maxLength: 200, description }));
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
    name_contains: Type.Optional(SafeText({ minLength: 1, maxLength: 100, description: 'Only landings whose name contains this text, ignoring case.' })),
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

/** The filters as tests over codes, prepared once per query; undefined where a filter is not set. */
function prepareFilters(columns: Columns, p: GroupByParams) {
  return {
    classAllowed: classMask(columns.recclass.values, p),
    fall: p.fall === undefined ? -1 : codeOf(columns.fall, p.fall),
    nametype: p.nametype === undefined ? -1 : codeOf(columns.nametype, p.nametype),
    needle: p.name_contains?.toLowerCase(),
    yearFiltered: hasYearFilter(p),
    from: p.year_from ?? -Infinity,
    to: p.year_to ?? Infinity,
    boxed: p.lat_min !== undefined || p.lat_max !== undefined || p.lon_min !== undefined || p.lon_max !== undefined,
    box: [p.lat_min ?? -Infinity, p.lat_max ?? Infinity, p.lon_min ?? -Infinity, p.lon_max ?? Infinity] as const,
  };
}

/**
 * Per-record scratch arrays, kept per dataset and reused: allocating (and zeroing) 4 MB per query
 * at a million records costs more than the query's own work. A run takes one and gives it back,
 * so runs that overlap (a worker's concurrent jobs) never share one.
 */
const scratch = new WeakMap<Columns, Int32Array[]>();
function takeScratch(columns: Columns, length: number): Int32Array {
  const free = scratch.get(columns)?.pop();
  return free && free.length === length ? free : new Int32Array(length);
}
function giveScratch(columns: Columns, array: Int32Array): void {
  if (array.length === 0) return;
  let free = scratch.get(columns);
  if (!free) scratch.set(columns, (free = []));
  if (free.length < 4) free.push(array);
}

/** Records per synchronous block: a few ms at most, so a cancel is prompt, and no await in the hot loop. */
const BLOCK = 65_536;

interface Grouping {
  dims: DimensionCodes[];
  /** The group of the record at each position of the mass order (-1: none); empty when no measure needs order. */
  groupByRank: Int32Array;
  /** Each group's label indices, one per dimension. */
  keys: number[][];
  sums: RowSums;
  matched: number;
  excluded: Record<string, number>;
}

class Grouper {
  readonly dims: DimensionCodes[];
  readonly groupByRank: Int32Array;
  private readonly rank: Int32Array | undefined;
  readonly keys: number[][] = [];
  sums = rowSums(64);
  matched = 0;
  readonly reasons = new Float64Array(REASONS.length);
  private readonly width: number;
  private readonly slotGroup: Int32Array;
  private readonly filters: ReturnType<typeof prepareFilters>;

  constructor(
    private readonly columns: Columns,
    p: GroupByParams,
  ) {
    this.dims = p.by.map((d) => dimensionCodes(columns, d, p.year_bin, p.band_deg));
    this.width = this.dims[1] ? this.dims[1].labels.length : 1;
    this.slotGroup = new Int32Array(Math.max(1, this.dims[0]!.labels.length * this.width)).fill(-1);
    // Only percentiles and stddev need each group's masses in order.
    const ordered = needsOrder(p.measures) || (p.sort !== 'key' && needsOrder([p.sort]));
    this.rank = ordered ? massOrder(columns).rank : undefined;
    this.groupByRank = ordered ? takeScratch(columns, massOrder(columns).mass.length).fill(-1) : new Int32Array(0);
    this.filters = prepareFilters(columns, p);
  }

  /** Filters and groups records [from, to); sums in record order. */
  block(from: number, to: number): void {
    const { columns, width, slotGroup, groupByRank, rank, reasons } = this;
    // Everything the loop reads, in locals: V8 does not hoist property loads out of it.
    const { classAllowed, fall, nametype, needle, yearFiltered, boxed } = this.filters;
    const [yearFrom, yearTo] = [this.filters.from, this.filters.to];
    const [latMin, latMax, lonMin, lonMax] = this.filters.box;
    const classCodes = columns.recclass.codes;
    const fallCodes = columns.fall.codes;
    const nametypeCodes = columns.nametype.codes;
    const c1s = this.dims[0]!.codes;
    const c2s = this.dims[1]?.codes;
    const { year, lat, lon, mass } = columns;
    let { matched } = this;
    let { count, withMass, sum, min, max } = this.sums;
    for (let i = from; i < to; i++) {
      if (classAllowed !== undefined && classAllowed[classCodes[i]!] !== 1) continue;
      if (fall !== -1 && fallCodes[i] !== fall) continue;
      if (nametype !== -1 && nametypeCodes[i] !== nametype) continue;
      if (needle !== undefined && !columns.name.at(i).toLowerCase().includes(needle)) continue;
      if (yearFiltered) {
        const y = year[i]!;
        if (y !== y) {
          matched++;
          reasons[3]! += 1; // missing_year
          continue;
        }
        if (y < yearFrom || y > yearTo) continue;
      }
      if (boxed) {
        const la = lat[i]!;
        const lo = lon[i]!;
        if (la !== la || lo !== lo || (la === 0 && lo === 0)) {
          matched++;
          reasons[la !== la || lo !== lo ? 4 : 5]! += 1;
          continue;
        }
        if (la < latMin || la > latMax || lo < lonMin || lo > lonMax) continue;
      }
      matched++;
      const c1 = c1s[i]!;
      if (c1 < 0) {
        reasons[-1 - c1]! += 1;
        continue;
      }
      let slot = c1 * width;
      if (c2s !== undefined) {
        const c2 = c2s[i]!;
        if (c2 < 0) {
          reasons[-1 - c2]! += 1;
          continue;
        }
        slot += c2;
      }
      let g = slotGroup[slot]!;
      if (g < 0) {
        g = slotGroup[slot] = this.keys.length;
        this.keys.push(c2s !== undefined ? [c1, slot - c1 * width] : [c1]);
        if (g === count.length) ({ count, withMass, sum, min, max } = this.sums = grow(this.sums));
      }
      if (rank !== undefined) {
        // A scattered write here saves the percentile pass a scattered read per mass.
        const r = rank[i]!;
        if (r >= 0) groupByRank[r] = g;
      }
      count[g]! += 1;
      const m = mass[i]!;
      if (m === m) {
        withMass[g]! += 1;
        sum[g]! += m;
        if (m < min[g]!) min[g] = m;
        if (m > max[g]!) max[g] = m;
      }
    }
    this.matched = matched;
  }
}

/** Pass one: filter and group in blocks, checkpointing between them. */
async function group(columns: Columns, p: GroupByParams, ctx: AnalysisContext): Promise<Grouping> {
  const grouper = new Grouper(columns, p);
  const n = columns.length;
  for (let from = 0; from < n; from += BLOCK) {
    await ctx.progress(from / n);
    grouper.block(from, Math.min(n, from + BLOCK));
  }
  const excluded: Record<string, number> = {};
  const named = new Set<Reason>(grouper.dims.flatMap((d) => d.reasons));
  if (hasYearFilter(p)) named.add('missing_year');
  if (p.lat_min !== undefined || p.lat_max !== undefined || p.lon_min !== undefined || p.lon_max !== undefined) {
    named.add('missing_location');
    named.add('zero_location');
  }
  REASONS.forEach((r, k) => {
    if (named.has(r) || grouper.reasons[k]! > 0) excluded[r] = grouper.reasons[k]!;
  });
  const { dims, groupByRank, keys, sums, matched } = grouper;
  return { dims, groupByRank, keys, sums, matched, excluded };
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
  const identity = Int32Array.from(groups);
  const sorted = needsOrder([measure]) ? sortedMasses(columns, g.groupByRank, identity, g.sums) : undefined;
  const value = Float64Array.from(groups, (k) => measureOf(measure, k, g.sums, sorted) ?? -Infinity);
  return groups.sort((a, b) => (value[a] === value[b] ? byKey(a, b) : value[b]! > value[a]! ? 1 : -1));
}

/**
 * The rows in their final order, the groups past `limit` summed into one "other" row whose
 * percentiles come from its own records' masses (not from the groups' figures).
 */
function rows(columns: Columns, g: Grouping, p: GroupByParams, ranked: number[]): Record<string, unknown>[] {
  const shown = Math.min(ranked.length, p.limit);
  const rowCount = ranked.length > shown ? shown + 1 : shown;
  const rowOfGroup = new Int32Array(g.keys.length);
  const sums = rowSums(rowCount);
  ranked.forEach((k, rank) => {
    const r = (rowOfGroup[k] = Math.min(rank, shown));
    sums.count[r]! += g.sums.count[k]!;
    sums.withMass[r]! += g.sums.withMass[k]!;
    sums.sum[r]! += g.sums.sum[k]!;
    sums.min[r] = Math.min(sums.min[r]!, g.sums.min[k]!);
    sums.max[r] = Math.max(sums.max[r]!, g.sums.max[k]!);
  });
  const sorted = needsOrder(p.measures) ? sortedMasses(columns, g.groupByRank, rowOfGroup, sums) : undefined;
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
    try {
      const groups = rows(columns, grouping, p, order(columns, grouping, p));
      return { ...resultHead('group-by', p, columns, ctx, grouping.matched, grouping.excluded), groups: groups as never };
    } finally {
      giveScratch(columns, grouping.groupByRank);
    }
  },
};
