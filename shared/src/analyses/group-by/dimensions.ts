/**
 * The dimensions a group-by can use, each prepared once per dataset (per Columns object) as an
 * integer code per record: codes >= 0 index the dimension's labels, negative codes name the
 * reason the record has no value (-1 - index into REASONS). A query then groups by integers
 * only: no string is made or compared per record.
 */
import type { CodedTexts, Columns } from '../../columns.ts';
import { classify } from '../classification.ts';

export const DIMENSIONS = [
  'recclass',
  'class_group',
  'class_type',
  'fall',
  'nametype',
  'year',
  'lat_band',
  'lon_band',
  'hemisphere',
  'mass_decade',
] as const;
export type Dimension = (typeof DIMENSIONS)[number];

export const YEAR_BINS = [1, 10, 100] as const;
export const BAND_DEGREES = [1, 2, 5, 10, 15, 30] as const;

/** Why a record has no value for a dimension, named after the field as the other analyses name them. */
export const REASONS = [
  'missing_class',
  'missing_fall',
  'missing_nametype',
  'missing_year',
  'missing_location',
  'zero_location',
  'missing_mass',
] as const;
export type Reason = (typeof REASONS)[number];
export const reasonCode = (reason: Reason): number => -1 - REASONS.indexOf(reason);

export interface DimensionCodes {
  /** Per record: a label index, or a negative reason code. */
  codes: Int32Array;
  /** Labels in ascending key order (numbers for year, bands, decades; texts otherwise). */
  labels: (string | number)[];
  /** The reasons this dimension can give, for the result's `excluded`. */
  reasons: Reason[];
}

/** Per record, the label of a coded text column; labels sorted so label order is key order. */
function fromCoded(column: CodedTexts, label: (value: string) => string, reason: Reason): DimensionCodes {
  const labelOf = column.values.map((v) => (v === null ? null : label(v)));
  const labels = [...new Set(labelOf.filter((v): v is string => v !== null))].sort(compareKeys);
  const index = new Map(labels.map((l, k) => [l, k]));
  const byCode = Int32Array.from(labelOf, (l) => (l === null ? reasonCode(reason) : index.get(l)!));
  const codes = new Int32Array(column.codes.length);
  for (let i = 0; i < codes.length; i++) codes[i] = byCode[column.codes[i]!]!;
  return { codes, labels, reasons: [reason] };
}

/** Per record, floor(v / width) · width as a label, the labels a dense ascending range. */
function fromBins(
  values: Float64Array,
  bin: (i: number) => number,
  missing: (i: number) => Reason | null,
  reasons: Reason[],
): DimensionCodes {
  const n = values.length;
  const keys = new Float64Array(n);
  let lowest = Infinity;
  let highest = -Infinity;
  const codes = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const why = missing(i);
    if (why !== null) {
      codes[i] = reasonCode(why);
      keys[i] = NaN;
      continue;
    }
    const k = bin(i);
    keys[i] = k;
    if (k < lowest) lowest = k;
    if (k > highest) highest = k;
  }
  // Keys are integers of one step apart at most `width`; index them densely from the lowest.
  const present = [...new Set(Array.from(keys).filter((k) => !Number.isNaN(k)))].sort((a, b) => a - b);
  const index = new Map(present.map((k, j) => [k, j]));
  for (let i = 0; i < n; i++) if (!Number.isNaN(keys[i]!)) codes[i] = index.get(keys[i]!)!;
  return { codes, labels: present, reasons };
}

/** The south (west) edge of the band holding `v`; the edge at +90 (+180) joins the band below it. */
function bandEdge(v: number, width: number, limit: number): number {
  let k = Math.floor(v / width);
  if (v < k * width) k--;
  else if (v >= (k + 1) * width) k++;
  return Math.min(k * width, limit - width);
}

/** 0 for an exact power of ten's decade: floor(log10) corrected where the double rounds across it. */
export function massDecade(m: number): number {
  let d = Math.floor(Math.log10(m));
  if (10 ** (d + 1) <= m) d++;
  else if (10 ** d > m) d--;
  return d;
}

function locationReason(columns: Columns, i: number): Reason | null {
  const la = columns.lat[i]!;
  const lo = columns.lon[i]!;
  if (Number.isNaN(la) || Number.isNaN(lo)) return 'missing_location';
  return la === 0 && lo === 0 ? 'zero_location' : null;
}

/** 0..360 east longitudes (NASA has one) name the same place as -180..180 ones, as in geo-grid. */
const lonOf = (columns: Columns, i: number) => {
  const lo = columns.lon[i]!;
  return lo > 180 ? lo - 360 : lo < -180 ? lo + 360 : lo;
};

function prepare(columns: Columns, dimension: Dimension, yearBin: number, bandDeg: number): DimensionCodes {
  const locationReasons: Reason[] = ['missing_location', 'zero_location'];
  switch (dimension) {
    case 'recclass':
      return fromCoded(columns.recclass, (v) => v, 'missing_class');
    case 'class_group':
      return fromCoded(columns.recclass, (v) => classify(v)!.class_group, 'missing_class');
    case 'class_type':
      return fromCoded(columns.recclass, (v) => classify(v)!.class_type, 'missing_class');
    case 'fall':
      return fromCoded(columns.fall, (v) => v, 'missing_fall');
    case 'nametype':
      return fromCoded(columns.nametype, (v) => v, 'missing_nametype');
    case 'year':
      return fromBins(
        columns.year,
        (i) => Math.floor(columns.year[i]! / yearBin) * yearBin,
        (i) => (Number.isNaN(columns.year[i]!) ? 'missing_year' : null),
        ['missing_year'],
      );
    case 'lat_band':
      return fromBins(
        columns.lat,
        (i) => bandEdge(columns.lat[i]!, bandDeg, 90),
        (i) => locationReason(columns, i),
        locationReasons,
      );
    case 'lon_band':
      return fromBins(
        columns.lon,
        (i) => bandEdge(lonOf(columns, i), bandDeg, 180),
        (i) => locationReason(columns, i),
        locationReasons,
      );
    case 'hemisphere': {
      const codes = new Int32Array(columns.length);
      for (let i = 0; i < columns.length; i++) {
        const why = locationReason(columns, i);
        codes[i] = why === null ? (columns.lat[i]! >= 0 ? 0 : 1) : reasonCode(why);
      }
      return { codes, labels: ['N', 'S'], reasons: locationReasons };
    }
    case 'mass_decade':
      return fromBins(
        columns.mass,
        (i) => massDecade(columns.mass[i]!),
        (i) => (Number.isNaN(columns.mass[i]!) || columns.mass[i]! <= 0 ? 'missing_mass' : null),
        ['missing_mass'],
      );
  }
}

const prepared = new WeakMap<Columns, Map<string, DimensionCodes>>();

/** Codes made on first use and kept as long as the dataset is; `evict` bounds how many of one kind (`kind:...`) stay. */
export function cachedCodes(columns: Columns, key: string, make: () => DimensionCodes, evict = Infinity): DimensionCodes {
  let cache = prepared.get(columns);
  if (!cache) prepared.set(columns, (cache = new Map()));
  let codes = cache.get(key);
  if (codes) return codes;
  const kind = key.slice(0, key.indexOf(':') + 1);
  const same = kind ? [...cache.keys()].filter((k) => k.startsWith(kind)) : [];
  // Map order is insertion order: the oldest of its kind goes first.
  for (const old of same.slice(0, Math.max(0, same.length + 1 - evict))) cache.delete(old);
  cache.set(key, (codes = make()));
  return codes;
}

/** The codes of one dimension, made on first use and kept as long as the dataset is. */
export function dimensionCodes(columns: Columns, dimension: Dimension, yearBin: number, bandDeg: number): DimensionCodes {
  const key = dimension === 'year' ? `year:${yearBin}` : dimension.endsWith('_band') ? `${dimension}:${bandDeg}` : dimension;
  return cachedCodes(columns, key, () => prepare(columns, dimension, yearBin, bandDeg));
}

/** One label for every record with a mass; the others are missing_mass (the heaviest's "dimension"). */
export const knownMass = (columns: Columns): DimensionCodes =>
  cachedCodes(columns, 'known_mass', () => {
    const codes = new Int32Array(columns.length);
    for (let i = 0; i < codes.length; i++) codes[i] = Number.isNaN(columns.mass[i]!) ? reasonCode('missing_mass') : 0;
    return { codes, labels: ['all'], reasons: ['missing_mass'] };
  });

/** Per record a key from `keyOf` (records with a location only), the labels the keys present in ascending order. */
export const locatedBins = (columns: Columns, keyOf: (lat: number, lon: number) => number): DimensionCodes =>
  fromBins(
    columns.lat,
    (i) => keyOf(columns.lat[i]!, lonOf(columns, i)),
    (i) => locationReason(columns, i),
    ['missing_location', 'zero_location'],
  );

export const compareKeys = (a: string | number, b: string | number): number => (a < b ? -1 : a > b ? 1 : 0);
