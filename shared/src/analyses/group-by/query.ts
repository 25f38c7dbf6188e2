/**
 * What a grouping query prepares before its loops, whichever loop runs: the filters as codes and
 * bounds, and the per-record scratch array the loops write.
 */
import { codeOf, type Codes, type Columns, type Texts } from '../../columns.ts';
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

/** What selects a grouping loop's compiled shape, for either loop: the filters set and the dimensions. */
export interface FilterShape {
  classFiltered: boolean;
  fallFiltered: boolean;
  nametypeFiltered: boolean;
  named: boolean;
  yearFiltered: boolean;
  boxed: boolean;
  two: boolean;
}

export function filterShape(f: PreparedFilters, spec: { filters: FilterParams; dims: readonly unknown[] }): FilterShape {
  return {
    classFiltered: f.classAllowed !== undefined,
    fallFiltered: spec.filters.fall !== undefined,
    nametypeFiltered: spec.filters.nametype !== undefined,
    named: f.needle !== undefined,
    yearFiltered: f.yearFiltered,
    boxed: f.boxed,
    two: spec.dims.length > 1,
  };
}

/** The arguments both loops take after their own: the dimensions' codes, then the filters' columns and bounds. */
export type FilterArgs = [
  c1s: Int32Array,
  c2s: Int32Array,
  width: number,
  classCodes: Codes,
  classAllowed: Uint8Array,
  fallCodes: Codes,
  fall: number,
  nametypeCodes: Codes,
  nametype: number,
  names: Texts,
  needle: string,
  year: Float64Array,
  yearFrom: number,
  yearTo: number,
  lat: Float64Array,
  lon: Float64Array,
  latMin: number,
  latMax: number,
  lonMin: number,
  lonMax: number,
  mass: Float64Array,
];

/** FilterArgs' names, as the compiled loops' parameters. */
// prettier-ignore
export const FILTER_ARGUMENTS = [
  'c1s', 'c2s', 'width',
  'classCodes', 'classAllowed', 'fallCodes', 'fall', 'nametypeCodes', 'nametype', 'names', 'needle',
  'year', 'yearFrom', 'yearTo', 'lat', 'lon', 'latMin', 'latMax', 'lonMin', 'lonMax', 'mass',
];

export function filterArgs(columns: Columns, dims: readonly { codes: Int32Array }[], f: PreparedFilters, width: number): FilterArgs {
  const c1s = dims[0]!.codes;
  const [latMin, latMax, lonMin, lonMax] = f.box;
  // prettier-ignore
  return [
    c1s, dims[1]?.codes ?? c1s, width,
    columns.recclass.codes, f.classAllowed ?? NO_CLASS_FILTER, columns.fall.codes, f.fall, columns.nametype.codes, f.nametype,
    columns.name, f.needle ?? '', columns.year, f.from, f.to, columns.lat, columns.lon, latMin, latMax, lonMin, lonMax, columns.mass,
  ];
}

/** The loops' first tests, the ones that break out of a record at once (no reason counted). */
export function matchSnippets(s: FilterShape): string {
  return [
    s.classFiltered ? 'if (classAllowed[classCodes[i]] !== 1) break record;' : '',
    s.fallFiltered ? 'if (fallCodes[i] !== fall) break record;' : '',
    s.nametypeFiltered ? 'if (nametypeCodes[i] !== nametype) break record;' : '',
    s.named ? 'if (!names.at(i).toLowerCase().includes(needle)) break record;' : '',
  ].join('\n');
}

/**
 * The loop for a shape, made by `source` from fixed snippets only (no value from a request: values
 * come in as arguments) and kept by the shape.
 */
export function compiledLoop<S extends FilterShape, K>(cache: Map<string, K>, params: string[], shape: S, source: (s: S) => string): K {
  const key = JSON.stringify(shape);
  let loop = cache.get(key);
  if (!loop) {
    loop = new Function(...params, source(shape)) as K;
    cache.set(key, loop);
  }
  return loop;
}
