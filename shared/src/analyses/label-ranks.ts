/**
 * The masses of each label of a grouped analysis in ascending order, read by rank: the label's
 * records with a mass sorted by mass once per dataset and dimension (from the dataset's mass
 * order), so a job sorts nothing. Which of them a job kept: all (a direct read), the dated ones
 * (a binary search on a per-dataset count of dated records), or some (counted from the nearer
 * end, testing the filters on each record passed).
 */
import type { Columns } from '../columns.ts';
import type { DimensionCodes } from './group-by/dimensions.ts';
import { labelOrder as sortedLabels, type LabelOrder as SortedLabels } from './group-by/row-masses.ts';
import { ALL, DATED, type Kept, type LabelSums } from './label-pass.ts';

/** The group-by engine's label order (shared/src/analyses/group-by/row-masses.ts), with what a year filter reads. */
export interface LabelOrder extends SortedLabels {
  /** Their years (NaN for none), so a walk under a year filter reads in sequence. */
  year: Float64Array;
  /** dated[j]: how many of the positions before j hold a record with a year. */
  dated: Int32Array;
}

const labelOrders = new WeakMap<DimensionCodes, LabelOrder>();

/** Made once per dataset and dimension; the sorted slices are the group-by engine's own (one copy in memory). */
export function labelOrder(columns: Columns, dim: DimensionCodes): LabelOrder {
  let order = labelOrders.get(dim);
  if (order) return order;
  const sorted = sortedLabels(columns, dim);
  const year = Float64Array.from(sorted.index, (i) => columns.year[i]!);
  const dated = new Int32Array(year.length + 1);
  for (let j = 0; j < year.length; j++) dated[j + 1] = dated[j]! + (Number.isNaN(year[j]!) ? 0 : 1);
  labelOrders.set(dim, (order = { ...sorted, year, dated }));
  return order;
}

export class RankNotFoundError extends Error {
  override name = 'RankNotFoundError';
  constructor(label: number, k: number) {
    super(`label ${label} has no kept mass of rank ${k}`);
  }
}

/** Positions in a label order of the kept records' masses, by rank. */
export class KeptRanks {
  constructor(
    private readonly columns: Columns,
    private readonly order: LabelOrder,
    private readonly kept: Kept,
    private readonly sums: LabelSums,
  ) {}

  #keeps(i: number): boolean {
    const k = this.kept;
    const c = this.columns;
    if (k.classOn !== 0 && k.classAllowed[c.recclass.codes[i]!] !== 1) return false;
    if (k.fallOn !== 0 && c.fall.codes[i] !== k.fall) return false;
    if (k.yearOn === 0) return true;
    const y = c.year[i]!;
    return y >= k.from && y <= k.to;
  }

  /** The position of the kept mass of rank k (from 0) among label c's kept masses. */
  position(c: number, k: number): number {
    const { start, dated } = this.order;
    const lo = start[c]!;
    const hi = start[c + 1]!;
    const n = this.sums.withMass[c]!;
    const kept = this.sums.kept[c];
    if (kept === ALL || hi - lo === n) return lo + k;
    if (kept === DATED) {
      // The first position whose dated records from lo on number more than k.
      const want = dated[lo]! + k;
      let a = lo;
      let b = hi - 1;
      while (a < b) {
        const mid = (a + b) >> 1;
        if (dated[mid + 1]! > want) b = mid;
        else a = mid + 1;
      }
      if (dated[a + 1]! === want + 1) return a;
      throw new RankNotFoundError(c, k);
    }
    const f = this.kept;
    const at =
      f.classOn === 0 && f.fallOn === 0
        ? walkYears(this.order.year, lo, hi, n, k, f.from, f.to)
        : 2 * k < n
          ? this.#walkUp(lo, hi, k)
          : this.#walkDown(lo, hi, n, k);
    if (at < 0) throw new RankNotFoundError(c, k);
    return at;
  }

  /** The position of the kept mass that follows position j among label c's (the rank after j's). */
  after(c: number, j: number): number {
    const { start, year, index } = this.order;
    const hi = start[c + 1]!;
    const kept = this.sums.kept[c];
    const every = kept === ALL || hi - start[c]! === this.sums.withMass[c]!;
    for (let at = j + 1; at < hi; at++) {
      if (every || (kept === DATED ? !Number.isNaN(year[at]!) : this.#keeps(index[at]!))) return at;
    }
    throw new RankNotFoundError(c, -1);
  }

  #walkUp(lo: number, hi: number, k: number): number {
    const { index } = this.order;
    for (let j = lo, seen = 0; j < hi; j++) if (this.#keeps(index[j]!) && seen++ === k) return j;
    return -1;
  }

  #walkDown(lo: number, hi: number, n: number, k: number): number {
    const { index } = this.order;
    for (let j = hi - 1, seen = n - 1; j >= lo; j--) if (this.#keeps(index[j]!) && seen-- === k) return j;
    return -1;
  }
}

/**
 * Under a year filter alone: the position of the k-th of n kept in [lo, hi), counted from the
 * nearer end; -1 if none. A kept record adds 1 (no jump on the filter, which a range through the
 * label's years passes at random); the count first reaches its goal on a kept record.
 */
function walkYears(year: Float64Array, lo: number, hi: number, n: number, k: number, from: number, to: number): number {
  if (2 * k < n) {
    for (let j = lo, seen = 0; j < hi; j++) {
      const y = year[j]!;
      seen += +(y >= from) & +(y <= to);
      if (seen > k) return j;
    }
  } else {
    for (let j = hi - 1, above = 0; j >= lo; j--) {
      const y = year[j]!;
      above += +(y >= from) & +(y <= to);
      if (above >= n - k) return j;
    }
  }
  return -1;
}
