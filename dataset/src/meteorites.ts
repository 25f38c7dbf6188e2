/**
 * Filtered, paginated listing (GET /meteorites): the filters run over the in-memory column
 * snapshot (no key scan per request), then only the page's hashes are read, in one pipeline.
 *
 * The cursor is opaque base64url text carrying a digest of the filters and the last id served;
 * the next page starts after that id, so pages stay consistent even across a reload.
 */
import { createHash } from 'node:crypto';
import {
  InvalidCursorError,
  classMask,
  codeOf,
  idAt,
  meteoriteAt,
  type Columns,
  isMeteoriteId,
  type Redis,
  type Meteorite,
  type SnapshotCache,
} from '@meteorites/shared';
import { getMeteorites } from './store/read.ts';

export { InvalidCursorError };

export interface MeteoriteQuery {
  recclass?: string;
  class_type?: string;
  class_group?: string;
  fall?: string;
  year_from?: number;
  year_to?: number;
  mass_min?: number;
  mass_max?: number;
  limit: number;
  cursor?: string;
}

export type MeteoriteFilters = Omit<MeteoriteQuery, 'limit' | 'cursor'>;

const CURSOR_VERSION = 'c1';

/** A short digest of the filters (limit excluded: a client may change its page size). */
export function filterDigest(f: MeteoriteFilters): string {
  const fields: unknown[] = [
    f.recclass ?? null,
    f.fall ?? null,
    f.year_from ?? null,
    f.year_to ?? null,
    f.mass_min ?? null,
    f.mass_max ?? null,
  ];
  // Appended only when used, so cursors made before these filters existed stay valid.
  if (f.class_type !== undefined || f.class_group !== undefined) fields.push(f.class_type ?? null, f.class_group ?? null);
  const canonical = JSON.stringify(fields);
  return createHash('sha256').update(canonical).digest('base64url').slice(0, 16);
}

export function encodeCursor(filters: MeteoriteFilters, afterId: string): string {
  return Buffer.from(`${CURSOR_VERSION}.${filterDigest(filters)}.${afterId}`).toString('base64url');
}

/** The id after which the page starts; throws InvalidCursorError for anything else. */
export function decodeCursor(cursor: string, filters: MeteoriteFilters): string {
  if (!/^[A-Za-z0-9_-]+$/.test(cursor)) throw new InvalidCursorError();
  const [version, digest, afterId, ...rest] = Buffer.from(cursor, 'base64url').toString('utf8').split('.');
  if (version !== CURSOR_VERSION || rest.length > 0 || afterId === undefined || !isMeteoriteId(afterId)) {
    throw new InvalidCursorError();
  }
  if (digest !== filterDigest(filters)) {
    throw new InvalidCursorError('the cursor was made for other filters: repeat the query it came from, or start without it');
  }
  return afterId;
}

/** The first index whose id is greater than `id` (ids ascending). */
function firstAfter(ids: Float64Array, id: number): number {
  let lo = 0;
  let hi = ids.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (ids[mid]! <= id) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The filters of a query as one test per record index, over the snapshot's columns. */
function matcher(c: Columns, q: MeteoriteFilters): (i: number) => boolean {
  const classAllowed = classMask(c.recclass.values, q);
  const fall = q.fall === undefined ? undefined : codeOf(c.fall, q.fall);
  const classes = c.recclass.codes;
  const falls = c.fall.codes;
  const byYear = q.year_from !== undefined || q.year_to !== undefined;
  const byMass = q.mass_min !== undefined || q.mass_max !== undefined;
  const yearFrom = q.year_from ?? -Infinity;
  const yearTo = q.year_to ?? Infinity;
  const massMin = q.mass_min ?? -Infinity;
  const massMax = q.mass_max ?? Infinity;
  // NaN (missing) fails every comparison, so a record without a year or mass drops out of a bound on it.
  return (i) =>
    (classAllowed === undefined || classAllowed[classes[i]!] === 1) &&
    (fall === undefined || falls[i] === fall) &&
    (!byYear || (c.year[i]! >= yearFrom && c.year[i]! <= yearTo)) &&
    (!byMass || (c.mass[i]! >= massMin && c.mass[i]! <= massMax));
}

const filtersOf = (q: MeteoriteQuery): MeteoriteFilters => ({
  recclass: q.recclass,
  class_type: q.class_type,
  class_group: q.class_group,
  fall: q.fall,
  year_from: q.year_from,
  year_to: q.year_to,
  mass_min: q.mass_min,
  mass_max: q.mass_max,
});

export async function queryMeteorites(
  redis: Redis,
  cache: SnapshotCache,
  q: MeteoriteQuery,
): Promise<{ items: Meteorite[]; next_cursor: string | null }> {
  const filters = filtersOf(q);
  const start = q.cursor === undefined ? undefined : decodeCursor(q.cursor, filters);
  const { columns: c } = await cache.current();
  const matches = matcher(c, filters);
  const page: string[] = [];
  let more = false;
  for (let i = start === undefined ? 0 : firstAfter(c.id, Number(start)); i < c.length; i++) {
    if (!matches(i)) continue;
    if (page.length === q.limit) {
      more = true;
      break;
    }
    page.push(idAt(c, i));
  }
  const items = await getMeteorites(redis, page);
  return { items, next_cursor: more ? encodeCursor(filters, page.at(-1)!) : null };
}

/**
 * Every landing the filters select, in id order, a batch at a time, from the snapshot of one
 * dataset version (so an export never mixes two loads); for exports, where reading each hash
 * would cost a round trip per thousand records for the same values.
 */
export async function* filteredMeteorites(cache: SnapshotCache, filters: MeteoriteFilters, batchSize = 1000): AsyncGenerator<Meteorite[]> {
  const { columns: c } = await cache.current();
  const matches = matcher(c, filters);
  let batch: Meteorite[] = [];
  for (let i = 0; i < c.length; i++) {
    if (!matches(i)) continue;
    batch.push(meteoriteAt(c, i));
    if (batch.length === batchSize) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length > 0) yield batch;
}
