/** Building the snapshot of a load from its columns (the format: snapshot-format.ts). */
import { codesFor, type Columns, type Texts } from './columns.ts';
import type { SnapshotColumn } from './keys.ts';
import {
  bytesOf,
  chunkSize,
  CODED,
  deflate,
  FORMAT,
  MAX_PLACES,
  MEASURED,
  MISSING_INT,
  MISSING_YEAR,
  POW10,
  widthOf,
  type Meta,
  type TypedArray,
  type Width,
} from './snapshot-format.ts';

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
