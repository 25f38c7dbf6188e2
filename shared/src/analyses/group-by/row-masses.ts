/**
 * The masses of each row of a result in ascending order, read by rank, all from the dataset's
 * mass order (sorted once per dataset), so no query sorts.
 */
import type { Columns } from '../../columns.ts';
import type { DimensionCodes } from './dimensions.ts';
import type { Grouping, Rows } from './engine.ts';
import { massOrder } from './measures.ts';

export class RankOutOfRangeError extends Error {
  override name = 'RankOutOfRangeError';
  constructor(row: number, k: number) {
    super(`row ${row} has no mass of rank ${k}`);
  }
}

/** A dimension's records with a mass, by label, then by mass: each label's masses a sorted slice. */
export interface LabelOrder {
  /** Label c's slice is [start[c], start[c + 1]). */
  start: Int32Array;
  index: Int32Array;
  mass: Float64Array;
}

const labelOrders = new WeakMap<DimensionCodes, LabelOrder>();

/** Made once per dataset and dimension, from the mass order by one stable counting sort (shared with the grouped analyses). */
export function labelOrder(columns: Columns, dim: DimensionCodes): LabelOrder {
  let order = labelOrders.get(dim);
  if (!order) labelOrders.set(dim, (order = sortedBy(columns, dim.codes, dim.labels.length)));
  return order;
}

/** Records with a mass by `codes` (-1 and below for none), each code's masses a sorted slice. */
function sortedBy(columns: Columns, codes: Int32Array, labels: number): LabelOrder {
  const { index, mass } = massOrder(columns);
  const start = new Int32Array(labels + 1);
  for (let j = 0; j < index.length; j++) {
    const c = codes[index[j]!]!;
    if (c >= 0) start[c + 1]! += 1;
  }
  for (let c = 0; c < labels; c++) start[c + 1]! += start[c]!;
  const next = start.slice(0, labels);
  const byLabel = new Int32Array(start[labels]!);
  const masses = new Float64Array(byLabel.length);
  for (let j = 0; j < index.length; j++) {
    const c = codes[index[j]!]!;
    if (c < 0) continue;
    const at = next[c]!++;
    byLabel[at] = index[j]!;
    masses[at] = mass[j]!;
  }
  return { start, index: byLabel, mass: masses };
}

/** Pairs of dimensions ordered, kept per dataset: a few, each 12 bytes a record with a mass. */
const PAIRS_KEPT = 2;
/** Beyond this many label pairs, a pair order's per-slot table is not worth making. */
const MAX_SLOTS = 1 << 16;
const pairOrders = new WeakMap<Columns, { first: DimensionCodes; second: DimensionCodes; order: LabelOrder }[]>();

/**
 * The label order of two dimensions: each pair's masses a sorted slice, the pair's slot (label of
 * the first × label count of the second + label of the second) indexing `start`. Made on first use
 * by a query, like a dimension's, so a two-dimension percentile needs no pass over the records.
 */
function pairOrder(columns: Columns, first: DimensionCodes, second: DimensionCodes): LabelOrder | undefined {
  const width = second.labels.length;
  const slots = first.labels.length * width;
  if (slots > MAX_SLOTS) return undefined;
  let kept = pairOrders.get(columns);
  if (!kept) pairOrders.set(columns, (kept = []));
  const found = kept.find((p) => p.first === first && p.second === second);
  if (found) return found.order;
  const codes = new Int32Array(columns.length);
  const [c1s, c2s] = [first.codes, second.codes];
  for (let i = 0; i < codes.length; i++) {
    const c1 = c1s[i]!;
    const c2 = c2s[i]!;
    codes[i] = (c1 | c2) < 0 ? -1 : c1 * width + c2;
  }
  const order = sortedBy(columns, codes, slots);
  if (kept.length >= PAIRS_KEPT) kept.shift();
  kept.push({ first, second, order });
  return order;
}

export type Method = 'label' | 'walk' | 'buckets';

/**
 * `kth(r, k)` is the k-th lightest mass (from 0) of row r. Three ways to get there, the cheapest
 * that applies:
 * - label (each row one group): the label order of the group's dimension (or pair of them) holds
 *   the group's masses as one sorted slice; when the filters kept them all (with_mass equals the
 *   slice's length) a rank is one read, else a count of kept records from the nearer end. With two
 *   dimensions a count that would read much of the dataset is left to the buckets, made then;
 * - buckets: count each row's masses per bucket of consecutive ranks in one sequential pass over
 *   the records, then find a rank by counting buckets and reading one bucket of the order. With
 *   few rows and few ranks asked this touches a few thousand of the order's entries, not all;
 * - walk: read the whole order once and lay each row's masses side by side.
 */
export class RowMasses {
  private readonly method: Method;
  private readonly masses?: Float64Array;
  private readonly start?: Int32Array;
  private hist?: Uint32Array;
  private readonly buckets: number = 0;
  private readonly shift: number = 0;
  /** Order entries a label lookup may still read from a filtered slice before it asks the buckets. */
  private budget = Infinity;
  /** The rank after the one a label lookup found, when it found both in one count (NaN if none). */
  private next = NaN;
  private readonly labels?: LabelOrder;
  private readonly groupOfRow?: Int32Array;

  /** `lookups`: about how many kth() calls will follow, for the choice of method (`method` forces one, for tests). */
  constructor(
    private readonly g: Grouping,
    private readonly rows: Rows,
    lookups: number,
    method?: Method,
  ) {
    const pair = g.dims.length === 2;
    const groupOfRow = singleGroups(g, rows);
    const labels = !groupOfRow ? undefined : pair ? pairOrder(g.columns, g.dims[0]!, g.dims[1]!) : labelOrder(g.columns, g.dims[0]!);
    const known = massOrder(g.columns).index.length;
    let width = 4096;
    while (width > 16 && rows.size * width > 1 << 18) width >>= 1;
    let shift = 0;
    while (known >>> shift >= width) shift++;
    const buckets = (known >>> shift) + 1;
    const bucketCost = g.columns.length + rows.size * buckets + lookups * (buckets + (2 << shift));
    this.method = method ?? (labels ? 'label' : bucketCost < 3 * known ? 'buckets' : 'walk');
    this.buckets = buckets;
    this.shift = shift;
    if (this.method === 'label') {
      if (!groupOfRow || !labels) throw new RangeError('the label method needs one group per row and at most 65,536 label pairs');
      this.groupOfRow = groupOfRow;
      this.labels = labels;
      // Counting kept records reads the order out of sequence: past an eighth of the records the
      // buckets' one sequential pass is cheaper. One dimension keeps its counts (mass-by-class's path).
      if (pair && method === undefined) this.budget = g.columns.length / 8;
    } else if (this.method === 'buckets') {
      this.countBuckets();
    } else {
      const start = new Int32Array(rows.size + 1);
      for (let r = 0; r < rows.size; r++) start[r + 1] = start[r]! + rows.sums.withMass[r]!;
      this.masses = new Float64Array(start[rows.size]!);
      const { index, mass } = massOrder(g.columns);
      layOut(this.masses, start.slice(0, rows.size), index, mass, g.groupOf, rows.rowOf);
      this.start = start;
    }
  }

  private countBuckets(): Uint32Array {
    if (!this.hist) {
      this.hist = new Uint32Array(this.rows.size * this.buckets);
      countRanks(this.hist, this.buckets, this.shift, this.g.groupOf, this.rows.rowOf, massOrder(this.g.columns).rank);
    }
    return this.hist;
  }

  /** The k-th lightest mass of row r, 0 <= k < its with_mass. */
  kth(r: number, k: number): number {
    switch (this.method) {
      case 'walk':
        return this.masses![this.start![r]! + k]!;
      case 'label':
        return this.fromLabel(r, k);
      case 'buckets':
        return this.fromBuckets(r, k);
    }
  }

  /** Rank k of row r from its label's slice; also notes rank k + 1 in `next` when it comes free. */
  private fromLabel(r: number, k: number): number {
    const { start, index, mass } = this.labels!;
    const label = this.g.slot[this.groupOfRow![r]!]!;
    const lo = start[label]!;
    const hi = start[label + 1]!;
    const n = this.rows.sums.withMass[r]!;
    this.next = NaN;
    if (hi - lo === n) {
      if (k + 1 < n) this.next = mass[lo + k + 1]!;
      return mass[lo + k]!;
    }
    // The filters left some out: count the kept ones (a group of their label) from the nearer end,
    // unless that would read more than the budget left.
    const reads = Math.ceil(((2 * k < n ? k + 2 : n - k + 1) * (hi - lo)) / n);
    if (reads > this.budget) return this.fromBuckets(r, k);
    this.budget -= reads;
    const groupOf = this.g.kept;
    if (2 * k < n) {
      for (let j = lo, seen = 0; j < hi; j++) {
        if (groupOf[index[j]!]! < 0 || seen++ !== k) continue;
        for (let after = j + 1; after < hi; after++) {
          if (groupOf[index[after]!]! >= 0) {
            this.next = mass[after]!;
            break;
          }
        }
        return mass[j]!;
      }
    } else {
      let above = NaN;
      for (let j = hi - 1, seen = n - 1; j >= lo; j--) {
        if (groupOf[index[j]!]! < 0) continue;
        if (seen-- === k) {
          this.next = above;
          return mass[j]!;
        }
        above = mass[j]!;
      }
    }
    throw new RankOutOfRangeError(r, k);
  }

  private fromBuckets(r: number, k: number): number {
    const hist = this.countBuckets();
    this.next = NaN;
    const base = r * this.buckets;
    let b = 0;
    let before = 0;
    while (before + hist[base + b]! <= k) before += hist[base + b++]!;
    const { groupOf } = this.g;
    const { rowOf } = this.rows;
    const { index, mass } = massOrder(this.g.columns);
    const end = Math.min(index.length, (b + 1) << this.shift);
    for (let j = b << this.shift, seen = before; j < end; j++) {
      const g = groupOf[index[j]!]!;
      if (g >= 0 && rowOf[g] === r && seen++ === k) return mass[j]!;
    }
    throw new RankOutOfRangeError(r, k);
  }

  /** Linear interpolation between closest ranks (numpy's default method) of row r's n masses. */
  quantile(r: number, q: number): number {
    const n = this.rows.sums.withMass[r]!;
    const h = (n - 1) * q;
    const lo = Math.floor(h);
    const below = this.kth(r, lo);
    if (lo + 1 >= n) return below;
    const above = this.method === 'label' && !Number.isNaN(this.next) ? this.next : this.kth(r, lo + 1);
    return below + (h - lo) * (above - below);
  }
}

/** The one group of each row (-1 for an empty row), or undefined when some row holds several. */
function singleGroups(g: Grouping, rows: Rows): Int32Array | undefined {
  const groupOfRow = new Int32Array(rows.size).fill(-1);
  for (let k = 0; k < g.size; k++) {
    const r = rows.rowOf[k]!;
    if (r < 0) continue;
    if (groupOfRow[r] !== -1) return undefined;
    groupOfRow[r] = k;
  }
  return groupOfRow;
}

/** Counts each row's masses per bucket of `1 << shift` consecutive ranks. */
function countRanks(hist: Uint32Array, buckets: number, shift: number, groupOf: Int32Array, rowOf: Int32Array, rank: Int32Array): void {
  for (let i = 0; i < groupOf.length; i++) {
    const k = groupOf[i]!;
    if (k < 0) continue;
    const j = rank[i]!;
    const r = rowOf[k]!;
    if (j >= 0 && r >= 0) hist[r * buckets + (j >>> shift)]! += 1;
  }
}

/** Walks the mass order and appends each mass to its row's slice (`next[r]`: the slice's next free place). */
function layOut(
  masses: Float64Array,
  next: Int32Array,
  index: Int32Array,
  mass: Float64Array,
  groupOf: Int32Array,
  rowOf: Int32Array,
): void {
  for (let j = 0; j < index.length; j++) {
    const k = groupOf[index[j]!]!;
    if (k < 0) continue;
    const r = rowOf[k]!;
    if (r >= 0) masses[next[r]!++] = mass[j]!;
  }
}
