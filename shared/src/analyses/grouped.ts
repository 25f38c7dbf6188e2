import Type from 'typebox';
import type { Columns } from '../columns.ts';
import { checkFilters, filterParams, hasYearFilter, type Filters } from './filters.ts';
import { dimensionCodes, REASONS, type DimensionCodes, type Reason } from './group-by/dimensions.ts';
import { groupsJson } from './grouped-json.ts';
import { keptBy, labelSums, type LabelSums } from './label-pass.ts';
import { KeptRanks, labelOrder, type LabelOrder } from './label-ranks.ts';
import { resultHead } from './result.ts';
import type { Analysis, AnalysisContext, AnalysisResult, Group } from './types.ts';

/**
 * A grouped analysis' figures before they take a shape (objects for run(), JSON text for json()):
 * per output row, its label and the label-order positions of its lightest, heaviest and middle
 * masses (-1 without a mass).
 */
export interface GroupedFigures {
  head: AnalysisResult;
  dim: DimensionCodes;
  sums: LabelSums;
  order: LabelOrder;
  /** The labels of the rows, in output order. */
  rows: Int32Array;
  min: Int32Array;
  max: Int32Array;
  /** The middle masses: one position for an odd count (both the same), the two middle ones for an even. */
  midLo: Int32Array;
  midHi: Int32Array;
}

/**
 * Stable sort of labels (given in ascending key order) by value, largest first: a merge sort
 * over typed arrays, as a comparator called per comparison costs more than the rest of the job's
 * ordering. NaN (no value) sorts as -Infinity.
 */
export function byValueDesc(labels: Int32Array, value: Float64Array): Int32Array {
  const n = labels.length;
  let a = labels.slice();
  let b = new Int32Array(n);
  const v = new Float64Array(value.length);
  for (let c = 0; c < v.length; c++) v[c] = value[c]! === value[c]! ? value[c]! : -Infinity;
  for (let width = 1; width < n; width *= 2) {
    for (let lo = 0; lo < n; lo += 2 * width) {
      const mid = Math.min(n, lo + width);
      const hi = Math.min(n, lo + 2 * width);
      let i = lo;
      let j = mid;
      let k = lo;
      while (i < mid && j < hi) b[k++] = v[a[j]!]! > v[a[i]!]! ? a[j++]! : a[i++]!;
      while (i < mid) b[k++] = a[i++]!;
      while (j < hi) b[k++] = a[j++]!;
    }
    const t = a;
    a = b;
    b = t;
  }
  return a;
}

/**
 * One dimension, the seven mass statistics, every label the filters left a record in (no limit).
 * The median of an even count is the mean of the two middle masses, as these analyses have always
 * given it (group-by's p50 interpolates, which can differ in the last bit).
 */
async function figures(
  name: string,
  columns: Columns,
  params: Filters,
  ctx: AnalysisContext,
  dimension: 'recclass' | 'fall' | 'year',
  yearBin: number,
  excluded: (count: (reason: Reason) => number) => Record<string, number>,
): Promise<GroupedFigures> {
  const dim = dimensionCodes(columns, dimension, yearBin, 10);
  const kept = keptBy(columns, params);
  const sums = await labelSums(columns, dim, kept, ctx);
  const order = labelOrder(columns, dim);
  const ranks = new KeptRanks(columns, order, kept, sums);
  const { count: counts, withMass, sum } = sums;
  let size = 0;
  for (let c = 0; c < counts.length; c++) if (counts[c]! > 0) size++;
  let rows: Int32Array = new Int32Array(size);
  for (let c = 0, r = 0; c < counts.length; c++) if (counts[c]! > 0) rows[r++] = c;
  if (dimension !== 'year') {
    const total = new Float64Array(sum.length);
    for (let c = 0; c < sum.length; c++) total[c] = withMass[c] === 0 ? NaN : sum[c]!;
    rows = byValueDesc(rows, total);
  }
  const min = new Int32Array(size).fill(-1);
  const max = new Int32Array(size).fill(-1);
  const midLo = new Int32Array(size).fill(-1);
  const midHi = new Int32Array(size).fill(-1);
  for (let r = 0; r < size; r++) {
    const c = rows[r]!;
    const n = withMass[c]!;
    if (n === 0) continue;
    min[r] = ranks.position(c, 0);
    max[r] = ranks.position(c, n - 1);
    // An even count's upper middle is the kept mass after the lower one: found from it, not by a second walk.
    midLo[r] = ranks.position(c, (n - 1) >> 1);
    midHi[r] = n % 2 === 1 ? midLo[r]! : ranks.after(c, midLo[r]!);
  }
  const count = (reason: Reason) => sums.reasons[REASONS.indexOf(reason)]!;
  const head = resultHead(name, params, columns, ctx, sums.matched, excluded(count));
  return { head, dim, sums, order, rows, min, max, midLo, midHi };
}

/** The figures as the result object. */
function groupsOf(f: GroupedFigures): Group[] {
  const { sums, order, dim } = f;
  const mass = order.mass;
  return Array.from(f.rows, (c, r): Group => {
    const withMass = sums.withMass[c]!;
    const none = withMass === 0;
    return {
      key: dim.labels[c]!,
      count: sums.count[c]!,
      with_mass: withMass,
      total_mass_g: none ? null : sums.sum[c]!,
      mean_mass_g: none ? null : sums.sum[c]! / withMass,
      median_mass_g: none ? null : (mass[f.midLo[r]!]! + mass[f.midHi[r]!]!) / 2,
      min_mass_g: none ? null : mass[f.min[r]!]!,
      max_mass_g: none ? null : mass[f.max[r]!]!,
    };
  });
}

interface GroupedSpec<P extends Filters> {
  name: string;
  dimension: 'recclass' | 'fall' | 'year';
  yearBin: (params: P) => number;
  excluded: (params: P, count: (reason: Reason) => number) => Record<string, number>;
}

/** run() and json() of a grouped analysis. */
function grouped<P extends Filters>(spec: GroupedSpec<P>): Pick<Analysis<P>, 'run' | 'json'> {
  const figuresOf = (columns: Columns, params: P, ctx: AnalysisContext) =>
    figures(spec.name, columns, params, ctx, spec.dimension, spec.yearBin(params), (count) => spec.excluded(params, count));
  return {
    run: async (columns, params, ctx) => {
      const f = await figuresOf(columns, params, ctx);
      return { ...f.head, groups: groupsOf(f) };
    },
    json: async (columns, params, ctx) => groupsJson(columns, await figuresOf(columns, params, ctx)),
  };
}

/** Mass statistics per value of a string column; records without that value are excluded under `reason`. */
function byStringColumn(
  name: string,
  description: string,
  column: 'recclass' | 'fall',
  reason: 'missing_class' | 'missing_fall',
): Analysis<Filters> {
  return {
    name,
    description,
    params: Type.Object(filterParams, { additionalProperties: false }),
    check: checkFilters,
    ...grouped<Filters>({
      name,
      dimension: column,
      yearBin: () => 10,
      excluded: (params, count) => {
        const excluded: Record<string, number> = { [reason]: count(reason) };
        if (hasYearFilter(params)) excluded.missing_year = count('missing_year');
        return excluded;
      },
    }),
  };
}

export const massByClass = byStringColumn(
  'mass-by-class',
  'Count and mass statistics per meteorite class (recclass), the heaviest classes by total mass first.',
  'recclass',
  'missing_class',
);

export const massByFall = byStringColumn(
  'mass-by-fall',
  'Count and mass statistics per `fall` value (Fell: seen falling; Found), the heaviest by total mass first.',
  'fall',
  'missing_fall',
);

export interface YearParams extends Filters {
  bin: 1 | 10 | 100;
}

export const massByYear: Analysis<YearParams> = {
  name: 'mass-by-year',
  description: 'Count and mass statistics per year, decade or century of the landing, in time order (bins without landings are left out).',
  params: Type.Object(
    {
      bin: Type.Optional(
        Type.Enum([1, 10, 100], {
          default: 10,
          description:
            'Bin width in years: 1, 10 or 100. A bin starts at a multiple of its width and its key is that first year (1990 holds 1990..1999).',
        }),
      ),
      ...filterParams,
    },
    { additionalProperties: false },
  ),
  check: checkFilters,
  ...grouped<YearParams>({
    name: 'mass-by-year',
    dimension: 'year',
    yearBin: (params) => params.bin,
    excluded: (_params, count) => ({ missing_year: count('missing_year') }),
  }),
};
