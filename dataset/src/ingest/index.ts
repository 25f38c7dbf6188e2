/**
 * Reading a dataset: NASA's CSV, the course JSON `{"meteorite_landings": [...]}`, a plain JSON
 * array of the same records, or the NASA portal's JSON export (`mass`, ISO `year`, GeoJSON
 * `geolocation`). Input is streamed chunk by chunk; the result is the validated records as
 * columns plus the report of skipped ones. Nothing here touches Redis.
 */
import type { Columns } from '@meteorites/shared';
import { CsvReader } from './csv.ts';

export { MAX_ROW_BYTES } from './csv.ts';
import { EmptyDatasetError, type Skipped } from './errors.ts';
import { JsonReader } from './json.ts';
import { ColumnsBuilder, type RawRecord } from './normalise.ts';

export { DatasetFormatError, EmptyDatasetError, type Skipped } from './errors.ts';

export type InputFormat = 'csv' | 'json';

export interface ParsedDataset {
  /** The accepted records, in input order. */
  columns: Columns;
  skipped: Skipped[];
}

export interface ParseOptions {
  /** Called with the number of records read so far, every few thousand records and at the end. */
  onProgress?: (records: number) => void;
  /** CSV: the longest row accepted (default MAX_ROW_BYTES). */
  maxRowBytes?: number;
  /**
   * Stops the parse before the next chunk, with the signal's reason (the client has gone): the
   * caller also ends the input, so that a wait for a chunk that will not come ends too.
   */
  signal?: AbortSignal;
}

const PROGRESS_EVERY = 10_000;

/** A JSON record's fields, whichever of the three JSON shapes it comes from (and the API's own output). */
function fromJson(o: Record<string, unknown>): RawRecord {
  return {
    id: o.id,
    name: o.name,
    nametype: o.nametype,
    recclass: o.recclass,
    mass: o['mass (g)'] ?? o.mass_g ?? o.mass,
    fall: o.fall,
    year: o.year,
    reclat: o.reclat,
    reclong: o.reclong,
    geolocation: o.GeoLocation ?? o.geolocation,
  };
}

export async function parseDataset(
  input: AsyncIterable<Buffer | string>,
  format: InputFormat,
  opts: ParseOptions = {},
): Promise<ParsedDataset> {
  const builder = new ColumnsBuilder();
  const skip = (index: number, id: string | null, reason: string) => builder.skipped.push({ index, id, reason });
  let reader: CsvReader | JsonReader;
  let push: (chunk: Buffer | string) => void;
  if (format === 'csv') {
    const csv = new CsvReader((raw, index) => builder.add(raw, index), skip, { maxRowBytes: opts.maxRowBytes });
    push = (chunk) => csv.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
    reader = csv;
  } else {
    const json = new JsonReader((value, index) => {
      if (value === null || typeof value !== 'object' || Array.isArray(value)) skip(index, null, 'not an object');
      else builder.add(fromJson(value as Record<string, unknown>), index);
    });
    push = (chunk) => json.push(chunk);
    reader = json;
  }
  let reported = 0;
  const signal = opts.signal;
  for await (const chunk of input) {
    signal?.throwIfAborted();
    push(chunk);
    if (opts.onProgress && reader.records - reported >= PROGRESS_EVERY) {
      reported = reader.records;
      opts.onProgress(reported);
    }
  }
  signal?.throwIfAborted();
  reader.end();
  opts.onProgress?.(reader.records);
  const columns = builder.finish();
  if (columns.length === 0) throw new EmptyDatasetError(builder.skipped);
  return { columns, skipped: builder.skipped };
}

/** The format a file name (`.csv`, `.json`) or a content type (`text/csv`, `application/json`) implies. */
export function formatFromName(fileNameOrContentType: string): InputFormat | undefined {
  const s = fileNameOrContentType.trim().toLowerCase();
  const mediaType = s.split(';')[0]!.trim();
  if (mediaType === 'text/csv' || s.endsWith('.csv')) return 'csv';
  if (mediaType === 'application/json' || /^application\/[\w.+-]*\+json$/.test(mediaType) || s.endsWith('.json')) return 'json';
  return undefined;
}
