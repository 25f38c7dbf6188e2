/**
 * The core every analysis runs on. One pass filters the records and puts each in a group (the
 * integer codes of one or two dimensions), summing count and mass per group in record order, and
 * notes each record's group. What needs more than sums is done only when asked: the masses of a
 * row in ascending order (medians, percentiles, the heaviest) from the dataset's mass order, and a
 * second pass in record order for standard deviations. Group-by's queries without min or max take
 * the two-loop path of dense.ts instead of the one loop here, with the same result.
 */
import type { Columns } from '../../columns.ts';
import type { AnalysisContext } from '../types.ts';
import { REASONS, type DimensionCodes } from './dimensions.ts';
import { DENSE_SLOTS, groupDense } from './dense.ts';
import { kernelFor } from './kernel.ts';
import { rowSums, type RowSums } from './measures.ts';
import { BLOCK, CHUNK, filterArgs, filterShape, giveScratch, prepareFilters, takeScratch, type FilterParams } from './query.ts';

export { BLOCK, hasBox, type FilterParams } from './query.ts';

export interface GroupSpec {
  /** One or two dimensions; a group is a combination of their labels. */
  dims: DimensionCodes[];
  filters: FilterParams;
  /** Whether min and max mass are wanted (two compares per record otherwise saved). */
  minMax: boolean;
  /** Whether the two-loop path (dense.ts) may be taken; the older analyses keep the one loop. */
  dense?: boolean;
}

export interface Grouping {
  dims: DimensionCodes[];
  /** Groups, numbered in order of their first record (by the two loops: in slot order). */
  size: number;
  /** Each group's slot: its label index in dims[0] × the label count of dims[1] + its label index in dims[1]. */
  slot: Int32Array;
  /** Per group, in record order (by the two loops: per bank in record order, then the banks). */
  sums: RowSums;
  /** Each record's group; -1 for records filtered out or without a value. Scratch: give it back with release(). */
  readonly groupOf: Int32Array;
  /**
   * The same array before groupOf is first read: >= 0 exactly for records in a group, so what
   * asks only whether a record is in (a label lookup) need not wait for the two loops' renumbering.
   */
  readonly kept: Int32Array;
  matched: number;
  /** Matched records left out, per index into REASONS. */
  reasons: Float64Array;
  columns: Columns;
}

/** The grouping pass's state. */
class Grouper {
  readonly groupOf: Int32Array;
  sums: RowSums;
  slot: Int32Array;
  /** matched, groups so far: written by the loop. */
  readonly state = new Float64Array(2);
  readonly reasons = new Float64Array(REASONS.length);
  readonly width: number;
  readonly slotGroup: Int32Array;
  readonly filters: ReturnType<typeof prepareFilters>;

  constructor(
    readonly columns: Columns,
    readonly spec: GroupSpec,
  ) {
    this.filters = prepareFilters(columns, spec.filters);
    const [first, second] = spec.dims;
    this.width = second ? second.labels.length : 1;
    const slots = Math.max(1, first!.labels.length * this.width);
    this.slotGroup = new Int32Array(slots).fill(-1);
    const capacity = Math.min(slots, 1024);
    // One entry more: the kernel's sink.
    this.sums = rowSums(capacity + 1);
    this.slot = new Int32Array(capacity);
    this.groupOf = takeScratch(columns);
  }

  get matched(): number {
    return this.state[0]!;
  }

  get size(): number {
    return this.state[1]!;
  }

  /** Filters and groups records [from, to). */
  block(from: number, to: number): void {
    const { columns, spec, groupOf, state, reasons, width, slotGroup, filters: f } = this;
    const kernel = kernelFor({ ...filterShape(f, spec), minMax: spec.minMax });
    const args = filterArgs(columns, spec.dims, f, width);
    for (let at = from; at < to;) {
      const end = Math.min(to, at + CHUNK);
      const { count, withMass, sum, min, max } = this.sums;
      at = kernel(at, end, state, reasons, groupOf, slotGroup, this.slot, count, withMass, sum, min, max, ...args);
      if (at < end) this.grow();
    }
  }

  private grow(): void {
    const capacity = this.slot.length;
    const bigger = rowSums(2 * capacity + 1);
    // The groups' entries only: the old sink's place becomes a group's, and starts fresh.
    for (const f of ['count', 'withMass', 'sum', 'min', 'max'] as const) bigger[f].set(this.sums[f].subarray(0, capacity));
    const slot = new Int32Array(2 * capacity);
    slot.set(this.slot);
    this.slot = slot;
    this.sums = bigger;
  }
}

/** The one pass: filter and group in blocks, checkpointing before each. */
export async function group(columns: Columns, spec: GroupSpec, ctx: AnalysisContext): Promise<Grouping> {
  const slots = spec.dims[0]!.labels.length * (spec.dims[1]?.labels.length ?? 1);
  if (spec.dense && !spec.minMax && slots <= DENSE_SLOTS) return groupDense(columns, spec, ctx);
  const grouper = new Grouper(columns, spec);
  const n = columns.length;
  try {
    for (let from = 0; from < n; from += BLOCK) {
      await ctx.progress(from / n);
      grouper.block(from, Math.min(n, from + BLOCK));
    }
  } catch (err) {
    giveScratch(columns, grouper.groupOf);
    throw err;
  }
  const { size, slot, sums, groupOf, matched, reasons } = grouper;
  return { dims: spec.dims, size, slot, sums, groupOf, kept: groupOf, matched, reasons, columns };
}

/** Gives the grouping's per-record scratch back for the next query. */
export const release = (g: Grouping): void => giveScratch(g.columns, g.kept);

/** Group numbers in ascending key order (the dimensions' labels are sorted, so slot order is key order). */
export function byKey(g: Grouping): Int32Array {
  const order = Int32Array.from({ length: g.size }, (_, k) => k);
  return order.sort((a, b) => g.slot[a]! - g.slot[b]!);
}

/** Group numbers by `value` (largest first; NaN, for no value, last), equal values in key order. */
export function byValueDesc(g: Grouping, value: Float64Array): Int32Array {
  const order = Int32Array.from({ length: g.size }, (_, k) => k);
  const v = value.map((x) => (Number.isNaN(x) ? -Infinity : x));
  const { slot } = g;
  return order.sort((a, b) => (v[a] === v[b] ? slot[a]! - slot[b]! : v[b]! > v[a]! ? 1 : -1));
}

/** The label of group k in dimension d. */
export function labelOf(g: Grouping, k: number, d: number): string | number {
  const width = g.dims[1] ? g.dims[1].labels.length : 1;
  const s = g.slot[k]!;
  return d === 0 ? g.dims[0]!.labels[Math.floor(s / width)]! : g.dims[1]!.labels[s % width]!;
}

/** Rows of a result: each a group or a union of groups (`rowOf` maps groups to rows, -1 for none). */
export interface Rows {
  size: number;
  rowOf: Int32Array;
  sums: RowSums;
}

/** One row per group. */
export const groupRows = (g: Grouping): Rows => ({ size: g.size, rowOf: Int32Array.from({ length: g.size }, (_, k) => k), sums: g.sums });

/** Rows made by `rowOf` (each group's row); their sums added from the groups'. */
export function mergeRows(g: Grouping, rowOf: Int32Array, size: number): Rows {
  const sums = rowSums(size);
  for (let k = 0; k < g.size; k++) {
    const r = rowOf[k]!;
    if (r < 0) continue;
    sums.count[r]! += g.sums.count[k]!;
    sums.withMass[r]! += g.sums.withMass[k]!;
    sums.sum[r]! += g.sums.sum[k]!;
    sums.min[r] = Math.min(sums.min[r]!, g.sums.min[k]!);
    sums.max[r] = Math.max(sums.max[r]!, g.sums.max[k]!);
  }
  return { size, rowOf, sums };
}

/** Adds each mass's squared distance from its row's mean, in record order. */
function addSquares(squares: Float64Array, mean: Float64Array, groupOf: Int32Array, rowOf: Int32Array, mass: Float64Array): void {
  for (let i = 0; i < groupOf.length; i++) {
    const k = groupOf[i]!;
    if (k < 0) continue;
    const m = mass[i]!;
    const r = rowOf[k]!;
    if (m === m && r >= 0) squares[r]! += (m - mean[r]!) ** 2;
  }
}

/** Each row's sample standard deviation (n − 1), its squares added in record order; NaN below two masses. */
export function stddevs(g: Grouping, rows: Rows): Float64Array {
  const { groupOf } = g;
  const { mass } = g.columns;
  const { rowOf, sums } = rows;
  const mean = Float64Array.from({ length: rows.size }, (_, r) => sums.sum[r]! / sums.withMass[r]!);
  const squares = new Float64Array(rows.size);
  addSquares(squares, mean, groupOf, rowOf, mass);
  return squares.map((s, r) => (sums.withMass[r]! < 2 ? NaN : Math.sqrt(s / (sums.withMass[r]! - 1))));
}
