/**
 * What a grouping query prepares before its loops, whichever loop runs: the filters as codes and
 * bounds, and the per-record scratch array the loops write.
 */
import { codeOf, type Columns } from '../../columns.ts';
import { classMask, type ClassFilter } from '../classification.ts';
import { hasYearFilter, type Filters } from '../filters.ts';

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
export function prepareFilters(columns: Columns, p: FilterParams) {
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
export function takeScratch(columns: Columns): Int32Array {
  const free = scratch.get(columns)?.pop();
  return free && free.length === columns.length ? free : new Int32Array(columns.length);
}
export function giveScratch(columns: Columns, array: Int32Array): void {
  if (array.length === 0) return;
  let free = scratch.get(columns);
  if (!free) scratch.set(columns, (free = []));
  if (free.length < 4) free.push(array);
}

/** Records per synchronous block: a few ms at most, so a cancel is prompt, and no await in the hot loop. */
export const BLOCK = 65_536;

export type PreparedFilters = ReturnType<typeof prepareFilters>;

/**
 * Records per call of the grouping loop. V8 compiles a long loop on its first run (on-stack
 * replacement) before the code after it has ever run, and reaching that code throws the compiled
 * loop away, on every later run too; a loop called many times a query is compiled whole instead.
 * The other hot loops sit alone in functions that return nothing, for the same reason.
 */
export const CHUNK = 4096;

/** The class filter's mask when no class filter is set (never read). */
export const NO_CLASS_FILTER = new Uint8Array(0);
