/** The CSV header: which column holds each record field the loader reads. */
import { DatasetFormatError } from './errors.ts';
import type { RawRecord } from './normalise.ts';

/** Header names the loader reads (compared trimmed and lower-cased) and the record field each fills. */
const COLUMNS: Record<string, keyof RawRecord> = {
  name: 'name',
  id: 'id',
  nametype: 'nametype',
  recclass: 'recclass',
  'mass (g)': 'mass',
  mass: 'mass',
  mass_g: 'mass',
  fall: 'fall',
  year: 'year',
  reclat: 'reclat',
  reclong: 'reclong',
  geolocation: 'geolocation',
};
const REQUIRED: { field: keyof RawRecord; column: string }[] = [
  { field: 'name', column: 'name' },
  { field: 'id', column: 'id' },
  { field: 'nametype', column: 'nametype' },
  { field: 'recclass', column: 'recclass' },
  { field: 'mass', column: 'mass (g)' },
  { field: 'fall', column: 'fall' },
  { field: 'year', column: 'year' },
  { field: 'reclat', column: 'reclat' },
  { field: 'reclong', column: 'reclong' },
];

export interface CsvHeader {
  /** The column of each record field (-1: no such column). */
  at: Record<keyof RawRecord, number>;
  /** Fields a row must have. */
  columns: number;
}

/** Maps the header's names (any order and case, unknown ones ignored); refuses a header without the required columns. */
export function readHeader(names: string[]): CsvHeader {
  const header: (keyof RawRecord | undefined)[] = [];
  for (const name of names) {
    const field = COLUMNS[name.trim().toLowerCase()];
    // A repeated column: the first one counts.
    header.push(field && !header.includes(field) ? field : undefined);
  }
  const missing = REQUIRED.filter((r) => !header.includes(r.field)).map((r) => r.column);
  if (missing.length > 0) {
    throw new DatasetFormatError(
      `the CSV header lacks the column${missing.length > 1 ? 's' : ''} ${missing.join(', ')} ` +
        `(expected NASA's header: name,id,nametype,recclass,mass (g),fall,year,reclat,reclong,GeoLocation)`,
    );
  }
  const at = {} as Record<keyof RawRecord, number>;
  for (const field of new Set(Object.values(COLUMNS))) at[field] = header.indexOf(field);
  return { at, columns: header.length };
}
