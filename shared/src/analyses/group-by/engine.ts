/**
 * The core every analysis runs on. One pass filters the records and puts each in a group (the
 * integer codes of one or two dimensions), summing count and mass per group in record order, and
 * notes each record's group. What needs more than sums is done only when asked: the masses of a
 * row in ascending order (medians, percentiles, the heaviest) from the dataset's mass order, and a
 * second pass in record order for standard deviations.
 */
import { codeOf, type Columns } from '../../columns.ts';
import { classMask, type ClassFilter } from '../classification.ts';
import { hasYearFilter, type Filters } from '../filters.ts';
import type { AnalysisContext } from '../types.ts';
import { REASONS, type DimensionCodes } from './dimensions.ts';
import { BANKS, denseKernelFor, NOT_MATCHED, renumber, type DenseKernel } from './dense.ts';
import { kernelFor } from './kernel.ts';
import { rowSums, type RowSums } from './measures.ts';

/** Every filter an analysis may set; the older analyses set only the first four. */
export interface FilterParams extends Filters, ClassFilter {
  nametype?: string;
  lat_min?: number;
  lat_max?: number;
  lon_min?: number;
  lon_max?: number;
  name_contains?: string;
}

export const hasBox = (p: FilterParams): boolean =>
  p.lat_min !== undefined || p.lat_max !== undefined || p.lon_min !== undefined || p.lon_max !== undefined;

/** The filters as tests over codes, prepared once per query. A fall or name type no record has is code -1: nothing matches. */
function prepareFilters(columns: Columns, p: FilterParams) {
  return {
    classAllowed: classMask(columns.recclass.values, p),
    fall: p.fall === undefined ? -1 : codeOf(columns.fall, p.fall),
    nametype: p.nametype === undefined ? -1 : codeOf(columns.nametype, p.nametype),
    needle: p.name_contains?.toLowerCase(),
    yearFiltered: hasYearFilter(p),
    from: p.year_from ?? -Infinity,
    to: p.year_to ?? Infinity,
    boxed: hasBox(p),
    box: [p.lat_min ?? -Infinity, p.lat_max ?? Infinity, p.lon_min ?? -Infinity, p.lon_max ?? Infinity] as const,
  };
}

/**
 * Per-record scratch arrays, kept per dataset and reused: allocating 4 MB per query at a million
 * records costs more than the query's own work. A run takes one and gives it back, so runs that
 * overlap (a worker's concurrent jobs) never share one.
 */
const scratch = new WeakMap<Columns, Int32Array[]>();
function takeScratch(columns: Columns): Int32Array {
  const free = scratch.get(columns)?.pop();
  return free && free.length === columns.length ? free : new Int32Array(columns.length);
}
function giveScratch(columns: Columns, array: Int32Array): void {
  if (array.length === 0) return;
  let free = scratch.get(columns);
  if (!free) scratch.set(columns, (free = []));
  if (free.length < 4) free.push(array);
}

/** Records per synchronous block: a few ms at most, so a cancel is prompt, and no await in the hot loop. */
export const BLOCK = 65_536;

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
  /** Groups, numbered in order of their first record. */
  size: number;
  /** Each group's slot: its label index in dims[0] × the label count of dims[1] + its label index in dims[1]. */
  slot: Int32Array;
  /** Per group, in record order. */
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

/**
 * Records per call of the grouping loop. V8 compiles a long loop on its first run (on-stack
 * replacement) before the code after it has ever run, and reaching that code throws the compiled
 * loop away, on every later run too; a loop called many times a query is compiled whole instead.
 * The other hot loops sit alone in functions that return nothing, for the same reason.
 */
const CHUNK = 4096;

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
    const [latMin, latMax, lonMin, lonMax] = f.box;
    const c1s = spec.dims[0]!.codes;
    const c2s = spec.dims[1]?.codes ?? c1s;
    const kernel = kernelFor({
      classFiltered: f.classAllowed !== undefined,
      fallFiltered: spec.filters.fall !== undefined,
      nametypeFiltered: spec.filters.nametype !== undefined,
      named: f.needle !== undefined,
      yearFiltered: f.yearFiltered,
      boxed: f.boxed,
      two: spec.dims.length > 1,
      minMax: spec.minMax,
    });
    for (let at = from; at < to;) {
      const end = Math.min(to, at + CHUNK);
      const { count, withMass, sum, min, max } = this.sums;
      // prettier-ignore
      at = kernel(
        at, end, state, reasons, groupOf, slotGroup, this.slot, count, withMass, sum, min, max, c1s, c2s, width,
        columns.recclass.codes, f.classAllowed ?? NO_CLASS_FILTER, columns.fall.codes, f.fall, columns.nametype.codes, f.nametype,
        columns.name, f.needle ?? '', columns.year, f.from, f.to, columns.lat, columns.lon, latMin, latMax, lonMin, lonMax, columns.mass,
      );
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

const NO_CLASS_FILTER = new Uint8Array(0);

/** Label pairs up to which the two-loop path is taken: its tables hold an entry per slot. */
const DENSE_SLOTS = 4096;

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

/** Sum of entry e's banks. */
function banked<T extends Int32Array | Float64Array>(table: T, e: number): number {
  let total = 0;
  for (let b = 0; b < BANKS; b++) total += table[e * BANKS + b]!;
  return total;
}

interface DenseTables {
  codes: Int32Array;
  count: Int32Array;
  withMass: Int32Array;
  sum: Float64Array;
  width: number;
}

/**
 * Records [from, to) through the two loops, chunk by chunk. Out of the async function that awaits
 * between blocks: inlined there, the loops ran at half speed.
 */
function denseBlock(
  kernel: DenseKernel,
  columns: Columns,
  spec: GroupSpec,
  f: ReturnType<typeof prepareFilters>,
  t: DenseTables,
  from: number,
  to: number,
): void {
  const c1s = spec.dims[0]!.codes;
  const c2s = spec.dims[1]?.codes ?? c1s;
  const [latMin, latMax, lonMin, lonMax] = f.box;
  for (let at = from; at < to; at += CHUNK) {
    // prettier-ignore
    kernel(
      at, Math.min(to, at + CHUNK), t.codes, t.count, t.withMass, t.sum, c1s, c2s, t.width,
      columns.recclass.codes, f.classAllowed ?? NO_CLASS_FILTER, columns.fall.codes, f.fall, columns.nametype.codes, f.nametype,
      columns.name, f.needle ?? '', columns.year, f.from, f.to, columns.lat, columns.lon, latMin, latMax, lonMin, lonMax, columns.mass,
    );
  }
}

/** The two-loop path (dense.ts): a code per record and tables per code, then groups numbered in slot order. */
async function groupDense(columns: Columns, spec: GroupSpec, ctx: AnalysisContext): Promise<Grouping> {
  const f = prepareFilters(columns, spec.filters);
  const [first, second] = spec.dims;
  const width = second ? second.labels.length : 1;
  const entries = first!.labels.length * width - NOT_MATCHED;
  const count = new Int32Array(entries * BANKS);
  const withMass = new Int32Array(entries * BANKS);
  const sum = new Float64Array(entries * BANKS);
  const kernel = denseKernelFor({
    classFiltered: f.classAllowed !== undefined,
    fallFiltered: spec.filters.fall !== undefined,
    nametypeFiltered: spec.filters.nametype !== undefined,
    named: f.needle !== undefined,
    yearFiltered: f.yearFiltered,
    boxed: f.boxed,
    two: second !== undefined,
  });
  const n = columns.length;
  const codes = takeScratch(columns);
  const tables = { codes, count, withMass, sum, width };
  try {
    for (let from = 0; from < n; from += BLOCK) {
      await ctx.progress(from / n);
      denseBlock(kernel, columns, spec, f, tables, from, Math.min(n, from + BLOCK));
    }
  } catch (err) {
    giveScratch(columns, codes);
    throw err;
  }
  const groupOfCode = new Int32Array(entries).fill(-1);
  let size = 0;
  for (let e = -NOT_MATCHED; e < entries; e++) if (banked(count, e) > 0) groupOfCode[e] = size++;
  const sums = rowSums(size);
  const slot = new Int32Array(size);
  for (let e = -NOT_MATCHED; e < entries; e++) {
    const k = groupOfCode[e]!;
    if (k < 0) continue;
    slot[k] = e + NOT_MATCHED;
    sums.count[k] = banked(count, e);
    sums.withMass[k] = banked(withMass, e);
    sums.sum[k] = banked(sum, e);
  }
  // Reason r's code is -1 - r, its entry the code's distance above NOT_MATCHED.
  const reasons = Float64Array.from(REASONS, (_, r) => banked(count, -1 - r - NOT_MATCHED));
  const matched = n - banked(count, 0);
  let renumbered = false;
  return {
    dims: spec.dims,
    size,
    slot,
    sums,
    kept: codes,
    // Slots become group numbers only when something reads them (2.5 ms at a million records).
    get groupOf() {
      if (!renumbered) renumber(codes, groupOfCode, CHUNK);
      renumbered = true;
      return codes;
    },
    matched,
    reasons,
    columns,
  };
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
