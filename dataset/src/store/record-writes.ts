/**
 * How a load writes one record: a RESTORE of a ready-made hash when the server passes the probe
 * (payloadEncoder), else HSET as the WriteMode says; and what the server tells the loader about
 * its own settings.
 */
import { ErrorReply, RESP_TYPES } from 'redis';
import { columnsFromRecords, idAt, textAt, type Columns, keys, type Redis, type Meteorite } from '@meteorites/shared';
import type { BulkWriter } from '../ingest/bulk-writer.ts';
import { dumpRdbVersion, HASH_FIELDS, HashPayloadEncoder, RDB_TYPE_HASH_LISTPACK } from '../ingest/hash-payload.ts';

/**
 * How a load writes a record with HSET, by what the database may already hold under its key
 * (a RESTORE ... REPLACE needs none of this: it replaces whatever is there):
 * - `fresh`: nothing (a new or deleted dataset): HSET;
 * - `replace`: a hash from a finished load, holding only our fields: HSET, plus HDEL of the
 *   fields this record lacks, so none survives from the record it replaces;
 * - `repair`: anything (after a failed load or delete nothing is trusted): DEL, then HSET.
 */
export type WriteMode = 'fresh' | 'replace' | 'repair';

const OPTIONAL_FIELDS = HASH_FIELDS.slice(2);

/** Record i's values for OPTIONAL_FIELDS, null where absent; numbers as JavaScript's shortest round-trip text (50.775000 -> "50.775"). */
function optionalValues(c: Columns, i: number): (string | null)[] {
  const num = (v: number) => (Number.isNaN(v) ? null : String(v));
  return [
    textAt(c.nametype, i),
    textAt(c.recclass, i),
    num(c.mass[i]!),
    textAt(c.fall, i),
    num(c.year[i]!),
    num(c.lat[i]!),
    num(c.lon[i]!),
  ];
}

/** Writes record i with HSET as its mode says; returns the number of commands it took. */
export function writeRecord(w: BulkWriter, c: Columns, i: number, mode: WriteMode): number {
  const id = idAt(c, i);
  const key = keys.meteorite(id);
  let commands = 1;
  if (mode === 'repair') {
    w.command('DEL', key);
    commands++;
  }
  const values = optionalValues(c, i);
  let present = 0;
  for (const v of values) if (v !== null) present++;
  w.begin(6 + 2 * present);
  w.arg('HSET');
  w.arg(key);
  w.arg('name');
  w.arg(c.name.at(i));
  w.arg('id');
  w.arg(id);
  for (let f = 0; f < values.length; f++) {
    const v = values[f];
    if (v !== null && v !== undefined) {
      w.arg(OPTIONAL_FIELDS[f]!);
      w.arg(v);
    }
  }
  if (mode === 'replace' && present < values.length) {
    w.begin(2 + values.length - present);
    w.arg('HDEL');
    w.arg(key);
    for (let f = 0; f < values.length; f++) if (values[f] === null) w.arg(OPTIONAL_FIELDS[f]!);
    commands++;
  }
  return commands;
}

/**
 * Sample records that take every branch of the payload encoder: integers of each listpack width
 * and sign, texts that listpack.c stores as integers, a 63-byte UTF-8 name, absent fields.
 */
const PROBE_RECORDS: Partial<Meteorite>[] = [
  { id: '1', name: 'Aachen', nametype: 'Valid', recclass: 'L5', mass_g: 21, fall: 'Fell', year: 1880, reclat: 50.775, reclong: 6.08333 },
  {
    id: '123456789012345',
    name: 'Château-Renard ☄ Ωμέγα, Ærøskøbing (1841) №7',
    nametype: '-4096',
    recclass: '-8388608',
    mass_g: 8388607,
    fall: '0',
    year: -32768,
    reclat: -2147483648,
    reclong: 0.000001,
  },
  { id: '0', name: '12345' },
  { id: '4095', name: 'Northwest Africa 12345', recclass: '32767', mass_g: 1e-7, year: 2147483648, reclat: -4097, reclong: 127 },
];

/** The hash HSET writes for record i, fields in the store's order. */
function hashOf(c: Columns, i: number): Record<string, string> {
  const h: Record<string, string> = { name: c.name.at(i), id: idAt(c, i) };
  optionalValues(c, i).forEach((v, f) => {
    if (v !== null) h[OPTIONAL_FIELDS[f]!] = v;
  });
  return h;
}

/**
 * A payload encoder this server takes, or null when records must go by HSET: for each probe
 * record the server must DUMP the hash HSET makes as a listpack, accept RESTORE of our payload,
 * and DUMP what it restored exactly as what HSET made. An older Redis, other hash encoding
 * settings, or a user not allowed RESTORE fail the check.
 */
export async function payloadEncoder(redis: Redis): Promise<HashPayloadEncoder | null> {
  const samples = columnsFromRecords(PROBE_RECORDS);
  const binary = redis.withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer });
  const key = keys.datasetProbe;
  // Commands issued together go down the connection in order, as one pipeline.
  const dump = () => binary.dump(key) as unknown as Promise<Buffer | null>;
  try {
    const made = await Promise.all(
      PROBE_RECORDS.map((_, i) => Promise.all([redis.del(key), redis.hSet(key, hashOf(samples, i)), dump()]).then(([, , d]) => d)),
    );
    const version = made[0] && dumpRdbVersion(made[0]);
    if (!version || made.some((d) => d?.[0] !== RDB_TYPE_HASH_LISTPACK)) return null;
    const encoder = new HashPayloadEncoder(version);
    const payloads = PROBE_RECORDS.map((_, i) => Buffer.from(encoder.bytes.subarray(0, encoder.encode(samples, i))));
    if (payloads.some((p) => p.length === 0)) return null;
    const restored = await Promise.all(
      payloads.map((p) => Promise.all([binary.restore(key, 0, p, { REPLACE: true }), dump()]).then(([, d]) => d)),
    );
    return restored.every((d, i) => d?.equals(made[i]!)) ? encoder : null;
  } catch (err) {
    if (err instanceof ErrorReply) return null;
    throw err;
  } finally {
    await redis.del(key).catch(() => {});
  }
}

/**
 * The server's `set-max-intset-entries`, or null when this user may not read it (managed Redis
 * services often refuse CONFIG). The loader never changes it: it is the server owner's setting.
 */
export async function intsetMaxEntries(redis: Redis): Promise<number | null> {
  try {
    const value = Object.values(await redis.configGet('set-max-intset-entries'))[0];
    return value === undefined ? null : Number(value);
  } catch (err) {
    if (err instanceof ErrorReply) return null;
    throw err;
  }
}
