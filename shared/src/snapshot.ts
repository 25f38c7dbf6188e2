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
import { RESP_TYPES } from 'redis';
import { codesFor, emptyColumns, TextList, Utf8Texts, type Codes, type CodedTexts, type Columns, type Texts } from './columns.ts';
import { keys, SNAPSHOT_COLUMNS, type SnapshotColumn } from './keys.ts';
import type { Redis } from './redis.ts';
import type { DatasetState } from './schemas.ts';

/** The dataset is being loaded or deleted: its data is partial. Callers wait and try again. */
export class DatasetNotReadyError extends ServiceError {
  override name = 'DatasetNotReadyError';
  override readonly code = 'dataset_loading';
  override readonly statusCode = 409;
  override readonly retryAfter = 1;
  constructor(message = 'the dataset is being loaded; try again shortly') {
    super(message);
  }
}

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

type Width = 'u8' | 'u16' | 'u32' | 'i16' | 'i32' | 'f64';
const ARRAYS = { u8: Uint8Array, u16: Uint16Array, u32: Uint32Array, i16: Int16Array, i32: Int32Array, f64: Float64Array };
type TypedArray = InstanceType<(typeof ARRAYS)[Width]>;
type Coded = 'nametype' | 'recclass' | 'fall';
const CODED: Coded[] = ['nametype', 'recclass', 'fall'];
type Measured = 'mass' | 'lat' | 'lon';
const MEASURED: Measured[] = ['mass', 'lat', 'lon'];

const FORMAT = 3;

interface Meta {
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
interface MetaV2 extends Omit<Meta, 'format' | 'names' | 'nameBytes'> {
  format: 2;
}

/** What the previous version of this module wrote (and a store may still hold): the same parts, undeflated, ids as they are, numbers as doubles. */
interface MetaV1 {
  format: 1;
  length: number;
  widths: { id: 'u32' | 'f64' } & Record<Coded, Width>;
  dicts: Record<Coded, string[]>;
}

/** How the parts of a snapshot of any format are to be read. */
interface Layout extends Omit<Meta, 'format' | 'names' | 'nameBytes'> {
  names: Width | 'json';
  nameBytes?: number;
  deflated: boolean;
  /** Whether the ids are stored as steps from the previous one. */
  idSteps: boolean;
}

const MISSING_YEAR = -32768;
const MISSING_INT = -2147483648;
/** Most decimal places tried for the integer form of mass and coordinates. */
const MAX_PLACES = 6;
const POW10 = Array.from({ length: MAX_PLACES + 1 }, (_, i) => 10 ** i);
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

const deflate = promisify(deflateRaw);
const inflate = promisify(inflateRaw);
// Output chunks near the output's size: zlib's default 16 KiB costs a callback and a Buffer per 16 KiB of a large column.
const chunkSize = (bytes: number) => Math.min(4 << 20, Math.max(16 << 10, bytes));

function bytesOf(a: TypedArray): Buffer {
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
function arrayOf<W extends Width>(buf: Buffer, width: W, length: number): InstanceType<(typeof ARRAYS)[W]> {
  const Typed = ARRAYS[width];
  const byteLength = length * Typed.BYTES_PER_ELEMENT;
  if (buf.length !== byteLength) throw new SnapshotFormatError(`a snapshot column holds ${buf.length} bytes, ${byteLength} expected`);
  if ((LITTLE_ENDIAN || Typed.BYTES_PER_ELEMENT === 1) && buf.byteOffset % Typed.BYTES_PER_ELEMENT === 0 && buf.buffer.byteLength - byteLength <= VIEW_SLACK) {
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

function bytesPer(width: Width): number {
  const array = ARRAYS[width];
  if (!array) throw new SnapshotFormatError(`a snapshot part has an unknown width ${String(width)}`);
  return array.BYTES_PER_ELEMENT;
}

const widthOf = (a: Codes): Width => (a instanceof Uint8Array ? 'u8' : a instanceof Uint16Array ? 'u16' : 'u32');

/**
 * The permutation that puts records in numeric id order. Ids are distinct non-negative integers,
 * so an id and its position fit in one double (id × 2^k + position) whenever that stays below
 * 2^53, and the native numeric sort orders those without a comparator call per step.
 */
export function idOrder(ids: ArrayLike<number>): Uint32Array {
  const n = ids.length;
  const num = Float64Array.from(ids);
  let sorted = true;
  let max = 0;
  for (let i = 0; i < n; i++) {
    const v = num[i]!;
    if (i > 0 && v < num[i - 1]!) sorted = false;
    if (v > max) max = v;
  }
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  if (sorted) return order;
  const slots = 2 ** Math.ceil(Math.log2(n));
  if ((max + 1) * slots > Number.MAX_SAFE_INTEGER) return order.sort((a, b) => num[a]! - num[b]!);
  for (let i = 0; i < n; i++) num[i] = num[i]! * slots + i;
  num.sort();
  for (let i = 0; i < n; i++) order[i] = num[i]! % slots;
  return order;
}

/** The fewest decimal places (up to MAX_PLACES) at which every value is an exact 32-bit integer; null if none. */
function placesOf(values: Float64Array): number | null {
  let places = 0;
  let largest = 0;
  for (let k = 0; k < values.length; k++) {
    const v = values[k]!;
    if (Number.isNaN(v)) continue;
    // A value exact at p places is exact at every p' > p too (both are m / 10^p rounded once).
    while (Math.round(v * POW10[places]!) / POW10[places]! !== v) if (++places > MAX_PLACES) return null;
    largest = Math.max(largest, Math.abs(v));
  }
  return largest * POW10[places]! < 2 ** 31 - 1 ? places : null;
}

/** `values` taken in `order` as 32-bit integers at `places` decimals, or as doubles when places is null. */
function measured(values: Float64Array, order: Uint32Array, places: number | null): TypedArray {
  const n = order.length;
  if (places === null) {
    const out = new Float64Array(n);
    for (let k = 0; k < n; k++) out[k] = values[order[k]!]!;
    return out;
  }
  const scale = POW10[places]!;
  const out = new Int32Array(n);
  for (let k = 0; k < n; k++) {
    const v = values[order[k]!]!;
    out[k] = Number.isNaN(v) ? MISSING_INT : Math.round(v * scale);
  }
  return out;
}

/** Names taken in `order`: their UTF-8 byte lengths (`width` wide), then all their bytes. */
function encodeNames(names: Texts, order: Uint32Array): { width: Width; bytes: Buffer; text: number } {
  const n = order.length;
  const lengths = new Uint32Array(n);
  let total = 0;
  let longest = 0;
  for (let k = 0; k < n; k++) {
    const bytes = Buffer.byteLength(names.at(order[k]!));
    lengths[k] = bytes;
    total += bytes;
    if (bytes > longest) longest = bytes;
  }
  const lengthPart = codesFor(longest, n);
  lengthPart.set(lengths);
  const head = bytesOf(lengthPart);
  const out = Buffer.allocUnsafe(head.length + total);
  head.copy(out);
  let at = head.length;
  for (let k = 0; k < n; k++) at += out.write(names.at(order[k]!), at);
  return { width: widthOf(lengthPart), bytes: out, text: total };
}

/**
 * Encodes columns (taken in `order`) as the snapshot's key values. The arrays are built here;
 * the compression runs on libuv's thread pool, so the caller's event loop stays free meanwhile.
 */
export async function encodeSnapshot(c: Columns, order: Uint32Array): Promise<Record<SnapshotColumn, Buffer>> {
  const n = c.length;
  const ids = new Float64Array(n);
  let maxStep = 0;
  for (let k = 0; k < n; k++) {
    ids[k] = c.id[order[k]!]!;
    maxStep = Math.max(maxStep, ids[k]! - (k > 0 ? ids[k - 1]! : 0));
  }
  const names = encodeNames(c.name, order);
  const meta: Meta = {
    format: FORMAT,
    length: n,
    id: maxStep <= 0xffffffff ? 'u32' : 'f64',
    codes: { nametype: 'u8', recclass: 'u8', fall: 'u8' },
    dicts: { nametype: [], recclass: [], fall: [] },
    places: { mass: placesOf(c.mass), lat: placesOf(c.lat), lon: placesOf(c.lon) },
    names: names.width,
    nameBytes: names.text,
  };
  let idPart: TypedArray = ids;
  if (meta.id === 'u32') {
    idPart = new Uint32Array(n);
    for (let k = 0; k < n; k++) idPart[k] = ids[k]! - (k > 0 ? ids[k - 1]! : 0);
  }
  const parts: Partial<Record<SnapshotColumn, TypedArray | Buffer>> = { id: idPart, name: names.bytes };
  for (const field of CODED) {
    const { codes, values } = c[field];
    const out = codesFor(values.length - 1, n);
    for (let k = 0; k < n; k++) out[k] = codes[order[k]!]!;
    meta.dicts[field] = values.slice(1) as string[];
    meta.codes[field] = widthOf(out);
    parts[field] = out;
  }
  const years = new Int16Array(n);
  for (let k = 0; k < n; k++) {
    const y = c.year[order[k]!]!;
    years[k] = Number.isNaN(y) ? MISSING_YEAR : y;
  }
  parts.year = years;
  for (const field of MEASURED) parts[field] = measured(c[field], order, meta.places[field]);

  const out = { meta: Buffer.from(JSON.stringify(meta)) } as Record<SnapshotColumn, Buffer>;
  await Promise.all(
    Object.entries(parts).map(async ([column, part]) => {
      const bytes = Buffer.isBuffer(part) ? part : bytesOf(part);
      out[column as SnapshotColumn] = await deflate(bytes, { level: 1, chunkSize: chunkSize(bytes.length) });
    }),
  );
  return out;
}

function decodeMeta(buf: Buffer): Layout {
  let meta: Meta | MetaV2 | MetaV1;
  try {
    meta = JSON.parse(buf.toString('utf8')) as Meta | MetaV2 | MetaV1;
  } catch {
    throw new SnapshotFormatError('the snapshot meta is not JSON');
  }
  if (meta.format === FORMAT || meta.format === 2) {
    const { format: _, ...rest } = meta;
    return { names: 'json', ...rest, deflated: true, idSteps: meta.id === 'u32' };
  }
  if (meta.format === 1) {
    const { id, ...codes } = meta.widths;
    const places = { mass: null, lat: null, lon: null };
    return { length: meta.length, id, codes, dicts: meta.dicts, places, names: 'json', deflated: false, idSteps: false };
  }
  throw new SnapshotFormatError(`unknown snapshot format ${String((meta as { format: unknown }).format)}: load the dataset again`);
}

/**
 * A part inflated. Given its size, into one buffer a byte larger (a full buffer makes zlib
 * allocate another chunk), so no chunks are concatenated and typed arrays can be views on it.
 */
async function inflated(buf: Buffer, layout: Layout, size?: number): Promise<Buffer> {
  if (!layout.deflated) return buf;
  try {
    return await inflate(buf, { chunkSize: size === undefined ? chunkSize(8 * buf.length) : Math.max(64, size + 1) });
  } catch (err) {
    throw new SnapshotFormatError(`a snapshot column does not inflate: ${(err as Error).message}`);
  }
}

async function decodeIds(buf: Buffer, layout: Layout): Promise<Float64Array> {
  const raw = arrayOf(await inflated(buf, layout, layout.length * bytesPer(layout.id)), layout.id, layout.length);
  if (!layout.idSteps) return raw instanceof Float64Array ? raw : Float64Array.from(raw);
  const ids = new Float64Array(layout.length);
  let id = 0;
  for (let k = 0; k < ids.length; k++) ids[k] = id += raw[k]!;
  return ids;
}

/** The names part as Texts: the UTF-8 bytes stay one buffer (formats 1 and 2: a JSON array, read into strings). */
function decodeNames(buf: Buffer, layout: Layout): Texts {
  const n = layout.length;
  if (layout.names === 'json') {
    const names = JSON.parse(buf.toString('utf8')) as string[];
    if (!Array.isArray(names) || names.length !== n) throw new SnapshotFormatError('the snapshot names do not match its length');
    return new TextList(names);
  }
  const head = n * bytesPer(layout.names);
  if (buf.length < head) throw new SnapshotFormatError(`the snapshot names hold ${buf.length} bytes, at least ${head} expected`);
  const lengths = arrayOf(buf.subarray(0, head), layout.names, n);
  const offsets = new Uint32Array(n + 1);
  for (let k = 0; k < n; k++) offsets[k + 1] = offsets[k]! + lengths[k]!;
  if (offsets[n] !== buf.length - head) throw new SnapshotFormatError(`the snapshot names hold ${buf.length - head} bytes of text, ${offsets[n]} expected`);
  return new Utf8Texts(buf.subarray(head), offsets);
}

function decodeCoded(buf: Buffer, width: Width, dict: string[], n: number): CodedTexts {
  if (width !== 'u8' && width !== 'u16' && width !== 'u32') throw new SnapshotFormatError(`codes cannot be ${width}`);
  const codes = arrayOf(buf, width, n);
  let max = 0;
  for (let k = 0; k < n; k++) if (codes[k]! > max) max = codes[k]!;
  if (max > dict.length) throw new SnapshotFormatError(`a snapshot code (${max}) is past its dictionary (${dict.length} values)`);
  return { codes, values: [null, ...dict] };
}

/** The parts decodeSnapshot inflates alongside the ids. */
const INFLATED = ['name', 'year', ...CODED, ...MEASURED] as const;

export async function decodeSnapshot(version: number, values: Record<SnapshotColumn, Buffer>): Promise<Snapshot> {
  const meta = decodeMeta(values.meta);
  const n = meta.length;
  const sizes: Record<(typeof INFLATED)[number], number | undefined> = {
    name: meta.names === 'json' || meta.nameBytes === undefined ? undefined : n * bytesPer(meta.names) + meta.nameBytes,
    year: 2 * n,
    nametype: n * bytesPer(meta.codes.nametype),
    recclass: n * bytesPer(meta.codes.recclass),
    fall: n * bytesPer(meta.codes.fall),
    mass: n * (meta.places.mass === null ? 8 : 4),
    lat: n * (meta.places.lat === null ? 8 : 4),
    lon: n * (meta.places.lon === null ? 8 : 4),
  };
  const [ids, inflatedParts] = await Promise.all([
    decodeIds(values.id, meta),
    Promise.all(INFLATED.map((part) => inflated(values[part], meta, sizes[part]))),
  ]);
  const part = (name: (typeof INFLATED)[number]) => inflatedParts[INFLATED.indexOf(name)]!;
  const columns = emptyColumns();
  columns.length = n;
  columns.id = ids;
  columns.name = decodeNames(part('name'), meta);
  for (const field of CODED) columns[field] = decodeCoded(part(field), meta.codes[field], meta.dicts[field], n);
  for (const field of MEASURED) {
    const places = meta.places[field];
    if (places === null) {
      columns[field] = arrayOf(part(field), 'f64', n);
      continue;
    }
    const ints = arrayOf(part(field), 'i32', n);
    const scale = POW10[places]!;
    const out = new Float64Array(n);
    for (let k = 0; k < n; k++) out[k] = ints[k] === MISSING_INT ? NaN : ints[k]! / scale;
    columns[field] = out;
  }
  const years = arrayOf(part('year'), 'i16', n);
  columns.year = new Float64Array(n);
  for (let k = 0; k < n; k++) columns.year[k] = years[k] === MISSING_YEAR ? NaN : years[k]!;
  return { version, columns };
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
  return values && (await decodeSnapshot(version, values));
}

/** The ids of a version's snapshot in ascending order; null when the version was replaced. */
export async function readSnapshotIds(redis: Redis, version: number): Promise<string[] | null> {
  const values = await readColumns(redis, version, ['meta', 'id'] as const);
  return values && Array.from(await decodeIds(values.id, decodeMeta(values.meta)), String);
}

export interface DatasetStatus {
  version: number;
  state: DatasetState;
  /**
   * The load's random id (`dataset.generation`; '' before the first load). A version number can
   * come back after Redis lost its last writes (a lost AOF tail, a failover), so only the
   * generation tells two loads apart.
   */
  generation: string;
}

export async function datasetStatus(redis: Redis): Promise<DatasetStatus> {
  const [version, state, generation] = await redis.hmGet(keys.dataset, ['version', 'state', 'generation']);
  return { version: Number(version ?? 0), state: (state as DatasetState | null) ?? 'empty', generation: generation ?? '' };
}

const emptySnapshot = (version: number, generation: string): Snapshot => ({ version, generation, columns: emptyColumns() });

/** How often current() looks again when a load replaces the snapshot while it is being read. */
const READ_ATTEMPTS = 5;

/**
 * The current load's snapshot, kept in memory until `dataset.generation` moves on. Every call
 * costs one small round trip (version, state, generation); the columns are read once per load.
 */
export class SnapshotCache {
  #current: Snapshot | undefined;
  #reading: { generation: string; promise: Promise<Snapshot | null> } | undefined;
  /** Status reads so far, and the one #current came from: a slow read never replaces a newer one. */
  #reads = 0;
  #currentRead = 0;

  constructor(private readonly redis: Redis) {}

  async current(): Promise<Snapshot> {
    for (let attempt = 0; attempt < READ_ATTEMPTS; attempt++) {
      const { version, state, generation } = await datasetStatus(this.redis);
      const read = ++this.#reads;
      if (state === 'loading') throw new DatasetNotReadyError();
      // The generation, not the version: after a lost write a version number can name another load.
      if (this.#current?.version === version && this.#current.generation === generation) return this.#current;
      const snapshot = state === 'ready' ? await this.#read(version, generation) : emptySnapshot(version, generation);
      if (snapshot) {
        if (read > this.#currentRead) {
          this.#current = snapshot;
          this.#currentRead = read;
        }
        return snapshot;
      }
      // Null: the keys went between reading the version and the columns; a newer version exists.
      const now = await datasetStatus(this.redis);
      if (now.version === version && now.generation === generation && now.state === 'ready') {
        throw new Error(`the snapshot of dataset version ${version} is missing from Redis: load the dataset again`);
      }
    }
    throw new DatasetNotReadyError('the dataset keeps changing; try again shortly');
  }

  /** One read per load, however many callers ask at once. */
  #read(version: number, generation: string): Promise<Snapshot | null> {
    if (this.#reading?.generation !== generation) {
      const promise = readSnapshot(this.redis, version)
        .then((snapshot) => snapshot && { ...snapshot, generation })
        .finally(() => {
          if (this.#reading?.promise === promise) this.#reading = undefined;
        });
      this.#reading = { generation, promise };
    }
    return this.#reading.promise;
  }
}
