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
