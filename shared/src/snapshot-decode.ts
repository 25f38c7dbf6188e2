/** Reading a snapshot's key values back into columns, in any of the formats snapshot-format.ts describes. */
import { emptyColumns, TextList, Utf8Texts, type CodedTexts, type Texts } from './columns.ts';
import type { SnapshotColumn } from './keys.ts';
import {
  arrayOf,
  bytesPer,
  chunkSize,
  CODED,
  FORMAT,
  inflate,
  MEASURED,
  MISSING_INT,
  MISSING_YEAR,
  POW10,
  SnapshotFormatError,
  type Layout,
  type Meta,
  type MetaV1,
  type MetaV2,
  type Snapshot,
  type Width,
} from './snapshot-format.ts';

export function decodeMeta(buf: Buffer): Layout {
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

export async function decodeIds(buf: Buffer, layout: Layout): Promise<Float64Array> {
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
  if (offsets[n] !== buf.length - head)
    throw new SnapshotFormatError(`the snapshot names hold ${buf.length - head} bytes of text, ${offsets[n]} expected`);
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
