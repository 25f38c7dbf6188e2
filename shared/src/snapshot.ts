/**
 * The column snapshot: the whole dataset of one version as a handful of binary string keys,
 * written once per load. Reading it costs one round trip for all columns instead of one hash
 * per record, which is what makes analyses and filtered listing fast at a million records.
 *
 * Records are in numeric id order. Numbers are little-endian typed arrays (NaN, or -32768 for
 * the 16-bit years, where a value is missing); nametype, recclass and fall are small integer
 * codes into a dictionary kept in the `meta` key (0 = missing); names are one JSON array.
 */
import { RESP_TYPES } from 'redis';
import { emptyColumns, type Columns } from './columns.ts';
import { keys, SNAPSHOT_COLUMNS, type SnapshotColumn } from './keys.ts';
import type { Redis } from './redis.ts';
import type { DatasetState } from './schemas.ts';

/** The dataset is being loaded or deleted: its data is partial. Callers wait and try again. */
export class DatasetNotReadyError extends Error {
  override name = 'DatasetNotReadyError';
  constructor(message = 'the dataset is being loaded; try again shortly') {
    super(message);
  }
}

export interface Snapshot {
  version: number;
  columns: Columns;
  /** The ids as numbers, ascending (the order of every column). */
  ids: Float64Array;
}

type Width = 'u8' | 'u16' | 'u32' | 'i16' | 'f64';
const ARRAYS = { u8: Uint8Array, u16: Uint16Array, u32: Uint32Array, i16: Int16Array, f64: Float64Array };
type Coded = 'nametype' | 'recclass' | 'fall';
const CODED: Coded[] = ['nametype', 'recclass', 'fall'];

interface Meta {
  format: 1;
  length: number;
  widths: { id: Width } & Record<Coded, Width>;
  dicts: Record<Coded, string[]>;
}

const MISSING_YEAR = -32768;
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function bytesOf(a: Uint8Array | Uint16Array | Uint32Array | Int16Array | Float64Array): Buffer {
  const buf = Buffer.from(a.buffer, a.byteOffset, a.byteLength);
  if (LITTLE_ENDIAN || a.BYTES_PER_ELEMENT === 1) return buf;
  const copy = Buffer.from(buf);
  return a.BYTES_PER_ELEMENT === 2 ? copy.swap16() : a.BYTES_PER_ELEMENT === 4 ? copy.swap32() : copy.swap64();
}

function arrayOf<W extends Width>(buf: Buffer, width: W, length: number): InstanceType<(typeof ARRAYS)[W]> {
  const out = new ARRAYS[width](length) as InstanceType<(typeof ARRAYS)[W]>;
  if (buf.length !== out.byteLength) throw new Error(`a snapshot column holds ${buf.length} bytes, ${out.byteLength} expected`);
  const bytes = Buffer.from(out.buffer, 0, out.byteLength);
  buf.copy(bytes);
  if (!LITTLE_ENDIAN && out.BYTES_PER_ELEMENT > 1) {
    if (out.BYTES_PER_ELEMENT === 2) bytes.swap16();
    else if (out.BYTES_PER_ELEMENT === 4) bytes.swap32();
    else bytes.swap64();
  }
  return out;
}

const codeWidth = (dictSize: number): Width => (dictSize < 0xff ? 'u8' : dictSize < 0xffff ? 'u16' : 'u32');

/** The permutation that puts records in numeric id order. */
export function idOrder(ids: readonly string[]): Uint32Array {
  const n = ids.length;
  const num = new Float64Array(n);
  let sorted = true;
  for (let i = 0; i < n; i++) {
    num[i] = Number(ids[i]);
    if (i > 0 && num[i]! < num[i - 1]!) sorted = false;
  }
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  if (!sorted) order.sort((a, b) => num[a]! - num[b]!);
  return order;
}

/** Encodes columns (taken in `order`) as the snapshot's key values. */
export function encodeSnapshot(c: Columns, order: Uint32Array): Record<SnapshotColumn, Buffer> {
  const n = c.length;
  const ids = new Float64Array(n);
  let maxId = 0;
  for (let k = 0; k < n; k++) {
    ids[k] = Number(c.id[order[k]!]);
    if (ids[k]! > maxId) maxId = ids[k]!;
  }
  const gather = (src: Float64Array) => {
    const out = new Float64Array(n);
    for (let k = 0; k < n; k++) out[k] = src[order[k]!]!;
    return out;
  };
  const years = new Int16Array(n);
  for (let k = 0; k < n; k++) {
    const y = c.year[order[k]!]!;
    years[k] = Number.isNaN(y) ? MISSING_YEAR : y;
  }
  const meta: Meta = {
    format: 1,
    length: n,
    widths: { id: maxId <= 0xffffffff ? 'u32' : 'f64', nametype: 'u8', recclass: 'u8', fall: 'u8' },
    dicts: { nametype: [], recclass: [], fall: [] },
  };
  const coded = {} as Record<Coded, Buffer>;
  for (const field of CODED) {
    const codes = new Map<string, number>();
    const raw = new Uint32Array(n);
    const values = c[field];
    for (let k = 0; k < n; k++) {
      const v = values[order[k]!];
      if (v === null || v === undefined) continue;
      let code = codes.get(v);
      if (code === undefined) {
        code = codes.size + 1;
        codes.set(v, code);
      }
      raw[k] = code;
    }
    meta.dicts[field] = [...codes.keys()];
    const width = codeWidth(codes.size);
    meta.widths[field] = width;
    coded[field] = bytesOf(width === 'u32' ? raw : ARRAYS[width].from(raw));
  }
  const names = new Array<string>(n);
  for (let k = 0; k < n; k++) names[k] = c.name[order[k]!]!;
  return {
    meta: Buffer.from(JSON.stringify(meta)),
    id: bytesOf(meta.widths.id === 'u32' ? Uint32Array.from(ids) : ids),
    name: Buffer.from(JSON.stringify(names)),
    nametype: coded.nametype,
    recclass: coded.recclass,
    fall: coded.fall,
    mass: bytesOf(gather(c.mass)),
    year: bytesOf(years),
    lat: bytesOf(gather(c.lat)),
    lon: bytesOf(gather(c.lon)),
  };
}

function decodeMeta(buf: Buffer): Meta {
  const meta = JSON.parse(buf.toString('utf8')) as Meta;
  if (meta.format !== 1) throw new Error(`unknown snapshot format ${String(meta.format)}`);
  return meta;
}

function decodeIds(buf: Buffer, meta: Meta): Float64Array {
  const ids = arrayOf(buf, meta.widths.id, meta.length);
  return ids instanceof Float64Array ? ids : Float64Array.from(ids);
}

export function decodeSnapshot(version: number, values: Record<SnapshotColumn, Buffer>): Snapshot {
  const meta = decodeMeta(values.meta);
  const n = meta.length;
  const ids = decodeIds(values.id, meta);
  const columns = emptyColumns();
  columns.length = n;
  columns.id = Array.from(ids, String);
  columns.name = JSON.parse(values.name.toString('utf8')) as string[];
  if (columns.name.length !== n) throw new Error('the snapshot names do not match its length');
  for (const field of CODED) {
    const codes = arrayOf(values[field], meta.widths[field], n);
    const dict = [null, ...meta.dicts[field]];
    const out = new Array<string | null>(n);
    for (let k = 0; k < n; k++) out[k] = dict[codes[k]!] ?? null;
    columns[field] = out;
  }
  columns.mass = arrayOf(values.mass, 'f64', n);
  columns.lat = arrayOf(values.lat, 'f64', n);
  columns.lon = arrayOf(values.lon, 'f64', n);
  const years = arrayOf(values.year, 'i16', n);
  columns.year = new Float64Array(n);
  for (let k = 0; k < n; k++) columns.year[k] = years[k] === MISSING_YEAR ? NaN : years[k]!;
  return { version, columns, ids };
}

/** The same client, answering strings as Buffers (snapshot columns are binary). */
const binary = (redis: Redis) => redis.withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer });

/** Reads `columns` of a version's snapshot at once (one MGET); null when any is gone (the version was replaced). */
async function readColumns<C extends SnapshotColumn>(redis: Redis, version: number, columns: readonly C[]): Promise<Record<C, Buffer> | null> {
  // MGET rather than MULTI: node-redis 6 does not apply the Buffer type mapping to EXEC replies.
  const replies = (await binary(redis).mGet(columns.map((column) => keys.snapshot(version, column)))) as unknown as (Buffer | null)[];
  const out = {} as Record<C, Buffer>;
  for (let i = 0; i < columns.length; i++) {
    const value = replies[i];
    if (!value) return null;
    out[columns[i]!] = value;
  }
  return out;
}

export async function readSnapshot(redis: Redis, version: number): Promise<Snapshot | null> {
  const values = await readColumns(redis, version, SNAPSHOT_COLUMNS);
  return values && decodeSnapshot(version, values);
}

/** The ids of a version's snapshot in ascending order; null when the version was replaced. */
export async function readSnapshotIds(redis: Redis, version: number): Promise<string[] | null> {
  const values = await readColumns(redis, version, ['meta', 'id'] as const);
  return values && Array.from(decodeIds(values.id, decodeMeta(values.meta)), String);
}

export interface DatasetStatus {
  version: number;
  state: DatasetState;
}

export async function datasetStatus(redis: Redis): Promise<DatasetStatus> {
  const [version, state] = await redis.hmGet(keys.dataset, ['version', 'state']);
  return { version: Number(version ?? 0), state: (state as DatasetState | null) ?? 'empty' };
}

const emptySnapshot = (version: number): Snapshot => ({ version, columns: emptyColumns(), ids: new Float64Array(0) });

/** How often current() looks again when a load replaces the snapshot while it is being read. */
const READ_ATTEMPTS = 5;

/**
 * The current version's snapshot, kept in memory until `dataset.version` moves on. Every call
 * costs one small round trip (the version and state); the columns are read once per version.
 */
export class SnapshotCache {
  #current: Snapshot | undefined;
  #reading: { version: number; promise: Promise<Snapshot | null> } | undefined;

  constructor(private readonly redis: Redis) {}

  async current(): Promise<Snapshot> {
    for (let attempt = 0; attempt < READ_ATTEMPTS; attempt++) {
      const { version, state } = await datasetStatus(this.redis);
      if (state === 'loading') throw new DatasetNotReadyError();
      if (this.#current?.version === version) return this.#current;
      if (state !== 'ready') return (this.#current = emptySnapshot(version));
      const snapshot = await this.#read(version);
      if (snapshot) {
        if (!this.#current || this.#current.version < version) this.#current = snapshot;
        return snapshot;
      }
      // Null: the keys went between reading the version and the columns; a newer version exists.
      const now = await datasetStatus(this.redis);
      if (now.version === version && now.state === 'ready') {
        throw new Error(`the snapshot of dataset version ${version} is missing from Redis: load the dataset again`);
      }
    }
    throw new DatasetNotReadyError('the dataset keeps changing; try again shortly');
  }

  /** One read per version, however many callers ask at once. */
  #read(version: number): Promise<Snapshot | null> {
    if (this.#reading?.version !== version) {
      const promise = readSnapshot(this.redis, version).finally(() => {
        if (this.#reading?.promise === promise) this.#reading = undefined;
      });
      this.#reading = { version, promise };
    }
    return this.#reading.promise;
  }
}
