/**
 * The column snapshot: the whole dataset of one version as a handful of binary string keys,
 * written once per load. Reading it costs one round trip for all columns instead of one hash
 * per record, which is what makes analyses and filtered listing fast at a million records.
 *
 * Records are in numeric id order. Each part but `meta` is a little-endian typed array, deflated
 * (raw deflate, level 1: about a fifth of the raw size for NASA's data, and cheap to make on the
 * thread pool while Redis stores the records). Ids are stored as differences from the previous
 * id; nametype, recclass and fall as small integer codes into dictionaries kept in `meta`
 * (0 = missing); years as 16-bit integers (-32768 = missing); mass and coordinates as 32-bit
 * integers in units of 10^-places when every value of the column is exactly that (NASA's
 * coordinates have six decimals), else as doubles (NaN = missing); names as their UTF-8 byte
 * lengths followed by the UTF-8 bytes of all names. Decoding keeps those forms (codes, one UTF-8
 * buffer) instead of a string per record: a million records decode to about 65 MB.
 * Snapshots of the two earlier formats (1: the same parts undeflated, ids and numbers as they
 * are; 2: names as one JSON array) are still read, so that a dataset loaded before an upgrade
 * stays readable until the next load.
 */
import { ServiceError } from './errors.ts';
import { promisify } from 'node:util';
import { deflateRaw, inflateRaw } from 'node:zlib';
import type { Codes, Columns } from './columns.ts';

/** A snapshot key holds something this version of the code cannot read. */
export class SnapshotFormatError extends ServiceError {
  override name = 'SnapshotFormatError';
  override readonly code = 'snapshot_format';
}

export interface Snapshot {
  version: number;
  /** The load it came from (see DatasetStatus); unset when read straight from the keys (readSnapshot). */
  generation?: string;
  /** In ascending id order. */
  columns: Columns;
}

export type Width = 'u8' | 'u16' | 'u32' | 'i16' | 'i32' | 'f64';
export const ARRAYS = { u8: Uint8Array, u16: Uint16Array, u32: Uint32Array, i16: Int16Array, i32: Int32Array, f64: Float64Array };
export type TypedArray = InstanceType<(typeof ARRAYS)[Width]>;
export type Coded = 'nametype' | 'recclass' | 'fall';
export const CODED: Coded[] = ['nametype', 'recclass', 'fall'];
export type Measured = 'mass' | 'lat' | 'lon';
export const MEASURED: Measured[] = ['mass', 'lat', 'lon'];

export const FORMAT = 3;

export interface Meta {
  format: typeof FORMAT;
  length: number;
  /** `u32`: each id minus the one before (ids ascend); `f64`: the ids themselves (some exceed 32 bits). */
  id: 'u32' | 'f64';
  codes: Record<Coded, Width>;
  dicts: Record<Coded, string[]>;
  /** Decimal places of a column stored as 32-bit integers; null when it is stored as doubles. */
  places: Record<Measured, number | null>;
  /** The width of the names' byte lengths. */
  names: Width;
  /** The UTF-8 bytes of all names together. */
  nameBytes: number;
}

/** Format 2: as FORMAT but for the names, one JSON array. */
export interface MetaV2 extends Omit<Meta, 'format' | 'names' | 'nameBytes'> {
  format: 2;
}

/** What the previous version of this module wrote (and a store may still hold): the same parts, undeflated, ids as they are, numbers as doubles. */
export interface MetaV1 {
  format: 1;
  length: number;
  widths: { id: 'u32' | 'f64' } & Record<Coded, Width>;
  dicts: Record<Coded, string[]>;
}

/** How the parts of a snapshot of any format are to be read. */
export interface Layout extends Omit<Meta, 'format' | 'names' | 'nameBytes'> {
  names: Width | 'json';
  nameBytes?: number;
  deflated: boolean;
  /** Whether the ids are stored as steps from the previous one. */
  idSteps: boolean;
}

export const MISSING_YEAR = -32768;
export const MISSING_INT = -2147483648;
/** Most decimal places tried for the integer form of mass and coordinates. */
export const MAX_PLACES = 6;
export const POW10 = Array.from({ length: MAX_PLACES + 1 }, (_, i) => 10 ** i);
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export const deflate = promisify(deflateRaw);
export const inflate = promisify(inflateRaw);
// Output chunks near the output's size: zlib's default 16 KiB costs a callback and a Buffer per 16 KiB of a large column.
export const chunkSize = (bytes: number) => Math.min(4 << 20, Math.max(16 << 10, bytes));

export function bytesOf(a: TypedArray): Buffer {
  const buf = Buffer.from(a.buffer, a.byteOffset, a.byteLength);
  if (LITTLE_ENDIAN || a.BYTES_PER_ELEMENT === 1) return buf;
  const copy = Buffer.from(buf);
  return a.BYTES_PER_ELEMENT === 2 ? copy.swap16() : a.BYTES_PER_ELEMENT === 4 ? copy.swap32() : copy.swap64();
}

/** Most bytes a view may keep alive beyond its own (a slice of Node's 8 KiB Buffer pool). */
const VIEW_SLACK = 8192;

/**
 * `buf` as a typed array: a view on it when the bytes are aligned, in this machine's order, and
 * `buf` is (nearly) all of its ArrayBuffer, so the view pins nothing bigger; else a copy.
 */
export function arrayOf<W extends Width>(buf: Buffer, width: W, length: number): InstanceType<(typeof ARRAYS)[W]> {
  const Typed = ARRAYS[width];
  const byteLength = length * Typed.BYTES_PER_ELEMENT;
  if (buf.length !== byteLength) throw new SnapshotFormatError(`a snapshot column holds ${buf.length} bytes, ${byteLength} expected`);
  if (
    (LITTLE_ENDIAN || Typed.BYTES_PER_ELEMENT === 1) &&
    buf.byteOffset % Typed.BYTES_PER_ELEMENT === 0 &&
    buf.buffer.byteLength - byteLength <= VIEW_SLACK
  ) {
    return new Typed(buf.buffer as ArrayBuffer, buf.byteOffset, length) as InstanceType<(typeof ARRAYS)[W]>;
  }
  const out = new Typed(length) as InstanceType<(typeof ARRAYS)[W]>;
  const bytes = Buffer.from(out.buffer, 0, out.byteLength);
  buf.copy(bytes);
  if (!LITTLE_ENDIAN && out.BYTES_PER_ELEMENT > 1) {
    if (out.BYTES_PER_ELEMENT === 2) bytes.swap16();
    else if (out.BYTES_PER_ELEMENT === 4) bytes.swap32();
    else bytes.swap64();
  }
  return out;
}

export function bytesPer(width: Width): number {
  const array = ARRAYS[width];
  if (!array) throw new SnapshotFormatError(`a snapshot part has an unknown width ${String(width)}`);
  return array.BYTES_PER_ELEMENT;
}

export const widthOf = (a: Codes): Width => (a instanceof Uint8Array ? 'u8' : a instanceof Uint16Array ? 'u16' : 'u32');
