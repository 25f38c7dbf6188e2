import type { Meteorite } from './schemas.ts';

/**
 * The in-memory form of a loaded dataset: one typed column per field instead of one object per
 * record, so a million landings cost tens of megabytes, not hundreds, and analyses scan flat
 * arrays. Missing numbers are NaN; missing strings are null.
 *
 * The loader produces it (parsed input, validated before anything is written), the store reads
 * it back from Redis for the worker, and every analysis takes it as input.
 */
export interface Columns {
  length: number;
  id: string[];
  name: string[];
  nametype: (string | null)[];
  recclass: (string | null)[];
  fall: (string | null)[];
  /** grams; NaN where the source had no mass. */
  mass: Float64Array;
  /** the integer year; NaN where missing. */
  year: Float64Array;
  /** degrees; NaN where missing. */
  lat: Float64Array;
  lon: Float64Array;
}

export function emptyColumns(capacity = 0): Columns {
  return {
    length: 0,
    id: [],
    name: [],
    nametype: [],
    recclass: [],
    fall: [],
    mass: new Float64Array(capacity),
    year: new Float64Array(capacity),
    lat: new Float64Array(capacity),
    lon: new Float64Array(capacity),
  };
}

/** Record `i` in the API's JSON shape (numbers, null for missing). */
export function meteoriteAt(columns: Columns, i: number): Meteorite {
  const num = (v: number) => (Number.isNaN(v) ? null : v);
  return {
    id: columns.id[i]!,
    name: columns.name[i]!,
    nametype: columns.nametype[i] ?? null,
    recclass: columns.recclass[i] ?? null,
    mass_g: num(columns.mass[i]!),
    fall: columns.fall[i] ?? null,
    year: num(columns.year[i]!),
    reclat: num(columns.lat[i]!),
    reclong: num(columns.lon[i]!),
  };
}

/** Columns from record objects, for tests: a missing id becomes the 1-based position, a missing name the id. */
export function columnsFromRecords(records: Partial<Meteorite>[]): Columns {
  const columns = emptyColumns(records.length);
  records.forEach((r, i) => {
    const id = r.id ?? String(i + 1);
    columns.id.push(id);
    columns.name.push(r.name ?? id);
    columns.nametype.push(r.nametype ?? null);
    columns.recclass.push(r.recclass ?? null);
    columns.fall.push(r.fall ?? null);
    columns.mass[i] = r.mass_g ?? NaN;
    columns.year[i] = r.year ?? NaN;
    columns.lat[i] = r.reclat ?? NaN;
    columns.lon[i] = r.reclong ?? NaN;
  });
  columns.length = records.length;
  return columns;
}
