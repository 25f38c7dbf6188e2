/**
 * The measures of a group-by row, computed from per-row sums and from each row's masses laid out
 * in ascending order. The order comes from one sort of the dataset's masses, made once per
 * dataset: a query walks it and drops each mass into its row's slice, so medians and percentiles
 * need no sort per query.
 */
import type { Columns } from '../../columns.ts';

export const MEASURES = [
  'count',
  'with_mass',
  'total_mass_g',
  'mean_mass_g',
  'median_mass_g',
  'min_mass_g',
  'max_mass_g',
  'p10_mass_g',
  'p25_mass_g',
  'p75_mass_g',
  'p90_mass_g',
  'stddev_mass_g',
] as const;
export type Measure = (typeof MEASURES)[number];

/** The measures the other grouped analyses give, in their order. */
export const DEFAULT_MEASURES: Measure[] = ['count', 'with_mass', 'total_mass_g', 'mean_mass_g', 'median_mass_g', 'min_mass_g', 'max_mass_g'];

const QUANTILES: Partial<Record<Measure, number>> = {
  median_mass_g: 0.5,
  p10_mass_g: 0.1,
  p25_mass_g: 0.25,
  p75_mass_g: 0.75,
  p90_mass_g: 0.9,
};

/** Whether any of `measures` needs each row's masses in order. */
export const needsOrder = (measures: readonly Measure[]): boolean => measures.some((m) => m in QUANTILES || m === 'stddev_mass_g');

export interface MassOrder {
  /** Their masses, lightest first (ties by record index), so walking the order reads memory in sequence. */
  mass: Float64Array;
  /** Each record's position in that order; -1 without a mass. A query writes a record's group there as it meets it. */
  rank: Int32Array;
}

const orders = new WeakMap<Columns, MassOrder>();

/** The dataset's records by mass; made once per dataset. */
export function massOrder(columns: Columns): MassOrder {
  let order = orders.get(columns);
  if (!order) {
    const { mass } = columns;
    let known = 0;
    for (let i = 0; i < columns.length; i++) if (!Number.isNaN(mass[i]!)) known++;
    const index = new Uint32Array(known);
    for (let i = 0, j = 0; i < columns.length; i++) if (!Number.isNaN(mass[i]!)) index[j++] = i;
    index.sort((a, b) => mass[a]! - mass[b]! || a - b);
    const rank = new Int32Array(columns.length).fill(-1);
    for (let j = 0; j < index.length; j++) rank[index[j]!] = j;
    order = { mass: Float64Array.from(index, (i) => mass[i]!), rank };
    orders.set(columns, order);
  }
  return order;
}

/** Linear interpolation between closest ranks (numpy's default method) of an ascending slice. */
export function quantile(sorted: Float64Array, q: number): number {
  const h = (sorted.length - 1) * q;
  const lo = Math.floor(h);
  const below = sorted[lo]!;
  return lo + 1 < sorted.length ? below + (h - lo) * (sorted[lo + 1]! - below) : below;
}

/** Sample standard deviation (n − 1), two passes for accuracy; NaN below two values. */
export function stddev(values: Float64Array): number {
  const n = values.length;
  if (n < 2) return NaN;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += values[i]!;
  const mean = sum / n;
  let squares = 0;
  for (let i = 0; i < n; i++) squares += (values[i]! - mean) ** 2;
  return Math.sqrt(squares / (n - 1));
}

/** Per-row running figures, filled by the engine in record order. */
export interface RowSums {
  count: Float64Array;
  withMass: Float64Array;
  sum: Float64Array;
  min: Float64Array;
  max: Float64Array;
}

export function rowSums(rows: number): RowSums {
  return {
    count: new Float64Array(rows),
    withMass: new Float64Array(rows),
    sum: new Float64Array(rows),
    min: new Float64Array(rows).fill(Infinity),
    max: new Float64Array(rows).fill(-Infinity),
  };
}

/**
 * Each row's masses, ascending, side by side: row r's are `masses[start[r] .. start[r + 1])`.
 * `groupByRank` gives the group of the record at each position of the mass order (-1: none),
 * `rowOfGroup` each group's row: one pass reading both arrays in sequence.
 */
export function sortedMasses(columns: Columns, groupByRank: Int32Array, rowOfGroup: Int32Array, sums: RowSums): { masses: Float64Array; start: Int32Array } {
  const rows = sums.withMass.length;
  const start = new Int32Array(rows + 1);
  for (let r = 0; r < rows; r++) start[r + 1] = start[r]! + sums.withMass[r]!;
  const masses = new Float64Array(start[rows]!);
  const next = start.slice(0, rows);
  const { mass } = massOrder(columns);
  for (let j = 0; j < mass.length; j++) {
    const g = groupByRank[j]!;
    if (g >= 0) masses[next[rowOfGroup[g]!]!++] = mass[j]!;
  }
  return { masses, start };
}

/** The value of `measure` for row r; null where it has no masses (or fewer than two for stddev). */
export function measureOf(measure: Measure, r: number, sums: RowSums, sorted?: { masses: Float64Array; start: Int32Array }): number | null {
  const withMass = sums.withMass[r]!;
  switch (measure) {
    case 'count':
      return sums.count[r]!;
    case 'with_mass':
      return withMass;
  }
  if (withMass === 0) return null;
  switch (measure) {
    case 'total_mass_g':
      return sums.sum[r]!;
    case 'mean_mass_g':
      return sums.sum[r]! / withMass;
    case 'min_mass_g':
      return sums.min[r]!;
    case 'max_mass_g':
      return sums.max[r]!;
  }
  const slice = sorted!.masses.subarray(sorted!.start[r], sorted!.start[r + 1]);
  if (measure === 'stddev_mass_g') return withMass < 2 ? null : stddev(slice);
  return quantile(slice, QUANTILES[measure]!);
}
