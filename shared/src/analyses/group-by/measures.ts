/**
 * The measures of a group-by row, computed from per-row sums and from each row's masses in
 * ascending order. The order comes from one sort of the dataset's masses, made once per dataset,
 * so medians and percentiles need no sort per query (see row-masses.ts).
 */
import type { Columns } from '../../columns.ts';
import type { RowMasses } from './row-masses.ts';

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
export const DEFAULT_MEASURES: Measure[] = MEASURES.slice(0, MEASURES.indexOf('max_mass_g') + 1);

const QUANTILES: Partial<Record<Measure, number>> = {
  median_mass_g: 0.5,
  p10_mass_g: 0.1,
  p25_mass_g: 0.25,
  p75_mass_g: 0.75,
  p90_mass_g: 0.9,
};

/** How many of `measures` are percentiles, which need each row's masses in order. */
export const quantileCount = (measures: readonly Measure[]): number => measures.filter((m) => m in QUANTILES).length;

export interface MassOrder {
  /** The records with a mass, lightest first (ties by record index). */
  index: Int32Array;
  /** Their masses in that order, so walking the order reads memory in sequence. */
  mass: Float64Array;
  /** Each record's position in that order; -1 without a mass. */
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
    const index = new Int32Array(known);
    for (let i = 0, j = 0; i < columns.length; i++) if (!Number.isNaN(mass[i]!)) index[j++] = i;
    index.sort((a, b) => mass[a]! - mass[b]! || a - b);
    const rank = new Int32Array(columns.length).fill(-1);
    for (let j = 0; j < index.length; j++) rank[index[j]!] = j;
    order = { index, mass: Float64Array.from(index, (i) => mass[i]!), rank };
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

/** The value of `measure` for row r; null where it has no masses (or fewer than two for stddev). */
export function measureOf(measure: Measure, r: number, sums: RowSums, ordered?: RowMasses, stddev?: Float64Array): number | null {
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
    case 'stddev_mass_g':
      return withMass < 2 ? null : stddev![r]!;
  }
  return ordered!.quantile(r, QUANTILES[measure]!);
}
