/**
 * Turning one raw record (CSV fields or a JSON object, strings or numbers) into the normalised
 * form the store writes, and accumulating the accepted ones as columns.
 *
 * The value helpers are pure and share one convention: `null` means absent (missing, empty or
 * blank), `undefined` or `NaN` means present but unusable, which skips the record.
 */
import { CodedTextsBuilder, TextList, type Columns, isMeteoriteId } from '@meteorites/shared';
import type { Skipped } from './errors.ts';

/** One input record's fields before validation; each may be a string, a number, null or absent. */
export interface RawRecord {
  id?: unknown;
  name?: unknown;
  nametype?: unknown;
  recclass?: unknown;
  mass?: unknown;
  fall?: unknown;
  year?: unknown;
  reclat?: unknown;
  reclong?: unknown;
  /** NASA's `GeoLocation` text `(lat, lon)` or the portal's GeoJSON point; used only when reclat/reclong are both absent. */
  geolocation?: unknown;
}

/** Years outside ±9999 are typos, and keeping them inside that range lets the snapshot store years in 16 bits. */
export const MAX_ABS_YEAR = 9999;
/** From 1e21 up JavaScript writes numbers in exponent form; no landing weighs that much. */
export const MAX_MASS_G = 1e21;

const INTEGER = /^[+-]?\d+$/;
// 1880-01-01T00:00:00.000 (the portal), with or without time and zone.
const ISO_DATE = /^([+-]?\d{4,6})-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/;
// 01/01/1880 12:00:00 AM (older NASA CSV exports).
const US_DATE = /^\d{1,2}\/\d{1,2}\/(\d{4})(?:\s+\d{1,2}:\d{2}(?::\d{2})?(?:\s*[AP]M)?)?$/i;
const GEO_TEXT = /^\(\s*([^,()]+?)\s*,\s*([^,()]+?)\s*\)$/;

/** A text field: trimmed, empty → null; a number becomes its decimal text; anything else is unusable. */
export function text(v: unknown): string | null | undefined {
  if (typeof v === 'string') {
    const s = v.trim();
    return s === '' ? null : s;
  }
  if (v === null || v === undefined) return null;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return undefined;
}

/** A decimal number: null when absent or empty, NaN when not a finite decimal (hex, `Infinity`, `1e400`, `12abc`). */
export function decimal(v: unknown): number | null {
  if (typeof v === 'number') return Number.isFinite(v) ? v + 0 : NaN; // + 0 turns -0 into 0
  if (v === null || v === undefined) return null;
  if (typeof v !== 'string') return NaN;
  const s = v.trim();
  if (s === '') return null;
  const n = Number(s);
  if (!Number.isFinite(n)) return NaN;
  // Of what Number() reads, only 0x1F, 0b1 and 0o7 are finite and not decimal (cheaper than a pattern per value).
  if (s.length > 2 && s.charCodeAt(0) === 48) {
    const c = s.charCodeAt(1) | 32;
    if (c === 120 || c === 98 || c === 111) return NaN;
  }
  return n + 0;
}

/** The integer year of `1880`, `"0860"`, `"1880-01-01T00:00:00.000"` or `"01/01/1880 12:00:00 AM"`; null when absent, NaN when unusable. */
export function year(v: unknown): number | null {
  let y: number;
  if (typeof v === 'string') {
    const s = v.trim();
    if (s === '') return null;
    if (INTEGER.test(s)) y = Number(s);
    else {
      const m = ISO_DATE.exec(s) ?? US_DATE.exec(s);
      y = m ? Number(m[1]) : (decimal(s) ?? NaN);
    }
  } else {
    const n = decimal(v);
    if (n === null) return null;
    y = n;
  }
  return Number.isInteger(y) && Math.abs(y) <= MAX_ABS_YEAR ? y + 0 : NaN;
}

/** A meteorite id as keys.ts accepts it; null when absent, undefined when not a valid id. */
export function meteoriteId(v: unknown): string | null | undefined {
  if (typeof v === 'number') return Number.isSafeInteger(v) && isMeteoriteId(String(v)) ? String(v) : undefined;
  const s = text(v);
  if (s === null) return null;
  return s !== undefined && isMeteoriteId(s) ? s : undefined;
}

/** `[lat, lon]` from NASA's `"(lat, lon)"`, a GeoJSON point `{coordinates: [lon, lat]}` or `{latitude, longitude}`. */
export function geoPoint(v: unknown): [number | null, number | null] | null | undefined {
  if (v === null || v === undefined) return null;
  if (typeof v === 'string') {
    const s = v.trim();
    if (s === '') return null;
    const m = GEO_TEXT.exec(s);
    return m ? [decimal(m[1]), decimal(m[2])] : undefined;
  }
  if (typeof v !== 'object') return undefined;
  const o = v as { coordinates?: unknown; latitude?: unknown; longitude?: unknown };
  if (Array.isArray(o.coordinates)) {
    return o.coordinates.length === 2 ? [decimal(o.coordinates[1]), decimal(o.coordinates[0])] : undefined;
  }
  if ('latitude' in o || 'longitude' in o) return [decimal(o.latitude), decimal(o.longitude)];
  return undefined;
}

/** A record that passed validation. Missing numbers are NaN, missing texts null. */
export interface Normalised {
  id: string;
  name: string;
  nametype: string | null;
  recclass: string | null;
  fall: string | null;
  mass: number;
  year: number;
  lat: number;
  lon: number;
}

/** The normalised record, or why it is unusable (a short reason that groups well in a report). */
export type Verdict = Normalised | { reason: string; id: string | null };

const nanIfNull = (n: number | null): number => (n === null ? NaN : n);

/** Validates one record. Duplicate ids are the builder's business: they need the records before. */
export function normaliseRecord(raw: RawRecord): Verdict {
  const id = meteoriteId(raw.id);
  if (id === null) return { reason: 'missing id', id: null };
  if (id === undefined) {
    const shown = text(raw.id);
    return { reason: 'invalid id', id: typeof shown === 'string' ? shown.slice(0, 64) : null };
  }
  // Early returns build their object inline: this runs once per record, a closure per call would show.
  const name = text(raw.name);
  if (name === null) return { reason: 'missing name', id };
  if (name === undefined) return { reason: 'invalid name', id };
  const nametype = text(raw.nametype);
  if (nametype === undefined) return { reason: 'invalid nametype', id };
  const recclass = text(raw.recclass);
  if (recclass === undefined) return { reason: 'invalid recclass', id };
  const fall = text(raw.fall);
  if (fall === undefined) return { reason: 'invalid fall', id };

  const mass = decimal(raw.mass);
  if (Number.isNaN(mass)) return { reason: 'invalid mass', id };
  if (mass !== null && mass < 0) return { reason: 'negative mass', id };
  if (mass !== null && mass >= MAX_MASS_G) return { reason: 'mass out of range', id };

  const y = year(raw.year);
  if (Number.isNaN(y)) return { reason: 'invalid year', id };

  let lat = decimal(raw.reclat);
  let lon = decimal(raw.reclong);
  if (lat === null && lon === null && raw.geolocation !== undefined) {
    const point = geoPoint(raw.geolocation);
    if (point === undefined) return { reason: 'invalid geolocation', id };
    if (point !== null) [lat, lon] = point;
  }
  if (Number.isNaN(lat)) return { reason: 'invalid reclat', id };
  if (Number.isNaN(lon)) return { reason: 'invalid reclong', id };
  if (lat !== null && Math.abs(lat) > 90) return { reason: 'reclat out of range', id };
  // Longitudes are kept as the source gives them: NASA's file has one in the 0..360 east
  // convention (Meridiani Planum, 354.47333), which is a real place, not an error.
  if (lon !== null && Math.abs(lon) > 360) return { reason: 'reclong out of range', id };

  return { id, name, nametype, recclass, fall, mass: nanIfNull(mass), year: nanIfNull(y), lat: nanIfNull(lat), lon: nanIfNull(lon) };
}

/** Ids below this are remembered as one bit each (at most 8 MiB of bits); larger ones in a Set. */
const BITMAP_IDS = 2 ** 26;

/** The ids seen so far. A bit per id is far cheaper than a Set entry, and NASA's ids are small integers. */
class SeenIds {
  #bits = new Uint8Array(8192);
  readonly #large = new Set<number>();

  /** Remembers `id` (a non-negative integer); false when it was already there. */
  add(id: number): boolean {
    if (id >= BITMAP_IDS) {
      if (this.#large.has(id)) return false;
      this.#large.add(id);
      return true;
    }
    const byte = id >>> 3;
    if (byte >= this.#bits.length) {
      const bits = new Uint8Array(Math.max(2 * this.#bits.length, byte + 1));
      bits.set(this.#bits);
      this.#bits = bits;
    }
    const bits = this.#bits[byte]!;
    const mask = 1 << (id & 7);
    if (bits & mask) return false;
    this.#bits[byte] = bits | mask;
    return true;
  }
}

const grow = (a: Float64Array, size: number) => {
  const b = new Float64Array(size);
  b.set(a);
  return b;
};

/**
 * Accumulates accepted records as columns (typed arrays that double as they fill) and the skip
 * report. Classes, fall and nametype become codes into one list of their distinct values, so a
 * million records do not hold a million pointers to "L6".
 */
export class ColumnsBuilder {
  readonly skipped: Skipped[] = [];
  #length = 0;
  #id = new Float64Array(1024);
  #name: string[] = [];
  #nametype = new CodedTextsBuilder();
  #recclass = new CodedTextsBuilder();
  #fall = new CodedTextsBuilder();
  #mass = new Float64Array(1024);
  #year = new Float64Array(1024);
  #lat = new Float64Array(1024);
  #lon = new Float64Array(1024);
  #seen = new SeenIds();

  get length(): number {
    return this.#length;
  }

  /** Validates one raw record at input position `index` and keeps it, or reports why not. */
  add(raw: RawRecord, index: number): void {
    const r = normaliseRecord(raw);
    if ('reason' in r) {
      this.skipped.push({ index, id: r.id, reason: r.reason });
      return;
    }
    this.addNormalised(r, index);
  }

  addNormalised(r: Normalised, index: number): void {
    const id = Number(r.id);
    if (!this.#seen.add(id)) {
      this.skipped.push({ index, id: r.id, reason: 'duplicate id' });
      return;
    }
    const i = this.#length++;
    if (i === this.#mass.length) {
      const size = i * 2;
      this.#id = grow(this.#id, size);
      this.#mass = grow(this.#mass, size);
      this.#year = grow(this.#year, size);
      this.#lat = grow(this.#lat, size);
      this.#lon = grow(this.#lon, size);
    }
    this.#id[i] = id;
    this.#name.push(r.name);
    this.#nametype.push(r.nametype);
    this.#recclass.push(r.recclass);
    this.#fall.push(r.fall);
    this.#mass[i] = r.mass;
    this.#year[i] = r.year;
    this.#lat[i] = r.lat;
    this.#lon[i] = r.lon;
  }

  /** The accepted records as exact-length columns, in input order. */
  finish(): Columns {
    const n = this.#length;
    this.#seen = new SeenIds();
    return {
      length: n,
      id: this.#id.slice(0, n),
      name: new TextList(this.#name),
      nametype: this.#nametype.finish(),
      recclass: this.#recclass.finish(),
      fall: this.#fall.finish(),
      mass: this.#mass.slice(0, n),
      year: this.#year.slice(0, n),
      lat: this.#lat.slice(0, n),
      lon: this.#lon.slice(0, n),
    };
  }
}
