/**
 * The grouped analyses as they were before they moved onto the group-by engine, kept unchanged as
 * the baseline bench/analysis.ts measures the engine against in the same process.
 */
import type { Columns, Group } from '@meteorites/shared';

/**
 * Mass statistics per group, fed one record index at a time. Sums are added in record order so
 * anyone re-adding the same doubles in file order gets the identical number. Medians come from
 * one Float64Array holding every group's masses side by side, each slice selected in place.
 */
export class GroupAccumulator<K extends string | number> {
  private readonly slot = new Map<K, number>();
  private readonly keys: K[] = [];
  private readonly count: number[] = [];
  private readonly withMass: number[] = [];
  private readonly sum: number[] = [];
  private readonly min: number[] = [];
  private readonly max: number[] = [];
  /** The group of each record, -1 for none: lets the median pass skip a second lookup. */
  private readonly groupOf: Int32Array;

  constructor(private readonly columns: Columns) {
    this.groupOf = new Int32Array(columns.length).fill(-1);
  }

  add(i: number, key: K): void {
    this.addTo(i, this.group(key));
  }

  /** The index of `key`'s group, made on first sight; callers with small integer keys remember it and skip the lookup. */
  group(key: K): number {
    let g = this.slot.get(key);
    if (g === undefined) {
      g = this.keys.length;
      this.slot.set(key, g);
      this.keys.push(key);
      this.count.push(0);
      this.withMass.push(0);
      this.sum.push(0);
      this.min.push(Infinity);
      this.max.push(-Infinity);
    }
    return g;
  }

  /** Adds record i to group g (from group()). */
  addTo(i: number, g: number): void {
    this.groupOf[i] = g;
    this.count[g]! += 1;
    const m = this.columns.mass[i]!;
    if (Number.isNaN(m)) return;
    this.withMass[g]! += 1;
    this.sum[g]! += m;
    if (m < this.min[g]!) this.min[g] = m;
    if (m > this.max[g]!) this.max[g] = m;
  }

  groups(): Group[] {
    const medians = this.medians();
    return this.keys.map((key, g) => {
      const withMass = this.withMass[g]!;
      const stat = (v: number) => (withMass === 0 ? null : v);
      return {
        key,
        count: this.count[g]!,
        with_mass: withMass,
        total_mass_g: stat(this.sum[g]!),
        mean_mass_g: stat(this.sum[g]! / withMass),
        median_mass_g: stat(medians[g]!),
        min_mass_g: stat(this.min[g]!),
        max_mass_g: stat(this.max[g]!),
      };
    });
  }

  private medians(): Float64Array {
    const groups = this.keys.length;
    const start = new Int32Array(groups + 1);
    for (let g = 0; g < groups; g++) start[g + 1] = start[g]! + this.withMass[g]!;
    const masses = new Float64Array(start[groups]!);
    const next = start.slice(0, groups);
    const { mass } = this.columns;
    for (let i = 0; i < this.groupOf.length; i++) {
      const g = this.groupOf[i]!;
      if (g < 0) continue;
      const m = mass[i]!;
      if (!Number.isNaN(m)) masses[next[g]!++] = m;
    }
    const medians = new Float64Array(groups);
    for (let g = 0; g < groups; g++) medians[g] = median(masses.subarray(start[g], start[g + 1]));
    return medians;
  }
}

/**
 * The median of `a` (reordering it in place), NaN when empty. Quickselect: linear on average,
 * several times faster than sorting a million masses; it falls back to a sort when the pivots
 * keep going wrong, so no input makes it quadratic.
 */
export function median(a: Float64Array): number {
  const n = a.length;
  const k = n >> 1;
  let lo = 0;
  let hi = n - 1;
  for (let rounds = 0; hi > lo; rounds++) {
    if (rounds > 64) {
      a.subarray(lo, hi + 1).sort();
      break;
    }
    const pivot = median3(a[lo]!, a[(lo + hi) >> 1]!, a[hi]!);
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i]! < pivot) i++;
      while (a[j]! > pivot) j--;
      if (i <= j) {
        const t = a[i]!;
        a[i++] = a[j]!;
        a[j--] = t;
      }
    }
    // now a[lo..j] <= pivot <= a[i..hi], and anything between equals the pivot
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else break;
  }
  if (n % 2 === 1) return a[k]!;
  // everything left of k is <= a[k]: the lower middle is the largest of them
  let lower = -Infinity;
  for (let i = 0; i < k; i++) if (a[i]! > lower) lower = a[i]!;
  return n === 0 ? NaN : (lower + a[k]!) / 2;
}

const median3 = (a: number, b: number, c: number) => (a < b ? (b < c ? b : a < c ? c : a) : a < c ? a : b < c ? c : b);

const compareKeys = (a: string | number, b: string | number) => (a < b ? -1 : a > b ? 1 : 0);

/** Heaviest total first (groups without a known mass last), then by key in code-unit order. */
export function byTotalMassDesc(a: Group, b: Group): number {
  const ta = a.total_mass_g ?? -Infinity;
  const tb = b.total_mass_g ?? -Infinity;
  return ta === tb ? compareKeys(a.key, b.key) : ta > tb ? -1 : 1;
}

export const byKey = (a: Group, b: Group): number => compareKeys(a.key, b.key);
