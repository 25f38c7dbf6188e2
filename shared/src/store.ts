/**
 * The dataset in Redis (DESIGN.md): one `meteorite:<id>` hash per landing, the `meteorites:ids`
 * set, the `dataset` hash, and the column snapshot of the current version (snapshot.ts).
 *
 * A load, under a lock: `state=loading` → every record written over a bulk connection (a
 * RESTORE of a ready-made hash per record, see hash-payload.ts, or an HSET where the server
 * cannot take those; see WriteMode), then the new id set under a temporary key and the new
 * version's snapshot, all in one pipeline → hashes of ids absent from the new input deleted →
 * the id set swapped in (RENAME) → one MULTI bumps `version`, draws a new `generation`, sets
 * `state=ready` and the counts, and drops the previous snapshot. A failure part way leaves `state=loading`, which is the
 * truth, and the next load repairs whatever it finds without trusting it: it deletes every
 * `meteorite:*` key that is not in its own input.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { ErrorReply, RESP_TYPES } from 'redis';
import { columnsFromRecords, idAt, textAt, type Columns } from './columns.ts';
import type { ParsedDataset } from './ingest/index.ts';
import { EmptyDatasetError } from './ingest/errors.ts';
import { BulkWriter } from './ingest/bulk-writer.ts';
import { dumpRdbVersion, HASH_FIELDS, HashPayloadEncoder, MAX_RESTORE_BYTES, RDB_TYPE_HASH_LISTPACK } from './ingest/hash-payload.ts';
import { keys, SNAPSHOT_COLUMNS } from './keys.ts';
import { UNTIMED, type Redis } from './redis.ts';
import { LuaScript } from './lua/loader.ts';
import { classify } from './analyses/classification.ts';
import type { DatasetState, DatasetSummary, Meteorite } from './schemas.ts';
import { DatasetNotReadyError, datasetStatus, encodeSnapshot, idOrder, readSnapshotIds } from './snapshot.ts';

/** Another load or delete holds the lock (API: 409). */
export class DatasetBusyError extends Error {
  override name = 'DatasetBusyError';
  constructor() {
    super('another load or delete of the dataset is running; try again when it has finished');
  }
}

/** The lock expired under a load (the process stalled longer than its TTL); the load stops. */
export class DatasetLockLostError extends Error {
  override name = 'DatasetLockLostError';
  constructor() {
    super('the dataset lock was lost while loading; the load stopped with state "loading"');
  }
}

export interface StoreOptions {
  /** What was loaded (a file name, the request's content type), shown in the summary. */
  source: string;
  /** Called as records are acknowledged by Redis. */
  onProgress?: (written: number, total: number) => void;
  /** Told (at most once a load) of a server setting that makes the stored dataset cost more memory than it needs; an info-level note, never a failure. */
  onNotice?: (message: string) => void;
  /** How long the lock outlives a crashed loader; renewed every third of it while loading. */
  lockTtlMs?: number;
  /**
   * How record hashes are written. `restore` (the default): a RESTORE of a payload built here,
   * when the server passes the check at the start of the load (see payloadEncoder), else HSET.
   * `hset`: always HSET.
   */
  hashWrites?: 'restore' | 'hset';
}

const LOCK_TTL_MS = 30_000;
/**
 * Records per progress step; the bulk connection has at most MAX_UNANSWERED commands unanswered,
 * far enough ahead that Redis still has work queued while this process encodes the snapshot.
 */
const RECORDS_PER_STEP = 5_000;
const MAX_UNANSWERED = 200_000;
/** Members per SADD, keys per UNLINK, keys per SCAN step. */
const BATCH = 1_000;

const RELEASE = LuaScript.fromFile(new URL('./lua/', import.meta.url), 'dataset-lock-release');
const RENEW = LuaScript.fromFile(new URL('./lua/', import.meta.url), 'dataset-lock-renew');

class Lock {
  #lost = false;
  readonly #timer: NodeJS.Timeout;

  private constructor(
    private readonly redis: Redis,
    private readonly token: string,
    ttlMs: number,
  ) {
    this.#timer = setInterval(() => {
      RENEW.run(redis, [keys.datasetLock], [token, String(ttlMs)])
        .then((renewed) => {
          if (renewed === 0) this.#lost = true;
        })
        // A failed renewal while Redis is away: the load's own writes fail and report it.
        .catch(() => {});
    }, Math.max(100, Math.floor(ttlMs / 3)));
    this.#timer.unref();
  }

  static async acquire(redis: Redis, ttlMs: number): Promise<Lock> {
    const token = randomUUID();
    let taken;
    try {
      taken = await redis.set(keys.datasetLock, token, { condition: 'NX', expiration: { type: 'PX', value: ttlMs } });
    } catch (err) {
      // The reply was lost (a stalled Redis): the SET may still run. The release goes down the
      // same connection behind it, so a lock taken that way is not left to refuse loads for its TTL.
      release(redis, token).catch(() => {});
      throw err;
    }
    if (taken !== 'OK') throw new DatasetBusyError();
    return new Lock(redis, token, ttlMs);
  }

  check(): void {
    if (this.#lost) throw new DatasetLockLostError();
  }

  async release(): Promise<void> {
    clearInterval(this.#timer);
    await release(this.redis, this.token).catch(() => {});
  }
}

const release = (redis: Redis, token: string) => RELEASE.run(redis, [keys.datasetLock], [token]);

/**
 * A load's (or delete's) own random id, stored as `dataset.generation` beside the version: the
 * version is a counter in Redis and comes back when Redis loses its last writes (a lost AOF
 * tail, a failover), so caches, results and dedup entries are tied to the generation as well.
 */
const newGeneration = () => randomBytes(8).toString('hex');

async function withLock<T>(redis: Redis, ttlMs: number, work: (lock: Lock) => Promise<T>): Promise<T> {
  const lock = await Lock.acquire(redis, ttlMs);
  let result: T;
  try {
    result = await work(lock);
  } catch (err) {
    // Not awaited: when Redis is stalled the release would hold the error (the caller's 503) for
    // a second command timeout. It is queued on the connection all the same.
    void lock.release();
    throw err;
  }
  await lock.release();
  return result;
}

/**
 * How a load writes a record with HSET, by what the database may already hold under its key
 * (a RESTORE ... REPLACE needs none of this: it replaces whatever is there):
 * - `fresh`: nothing (a new or deleted dataset): HSET;
 * - `replace`: a hash from a finished load, holding only our fields: HSET, plus HDEL of the
 *   fields this record lacks, so none survives from the record it replaces;
 * - `repair`: anything (after a failed load or delete nothing is trusted): DEL, then HSET.
 */
type WriteMode = 'fresh' | 'replace' | 'repair';

const OPTIONAL_FIELDS = HASH_FIELDS.slice(2);

/** Record i's values for OPTIONAL_FIELDS, null where absent; numbers as JavaScript's shortest round-trip text (50.775000 -> "50.775"). */
function optionalValues(c: Columns, i: number): (string | null)[] {
  const num = (v: number) => (Number.isNaN(v) ? null : String(v));
  return [textAt(c.nametype, i), textAt(c.recclass, i), num(c.mass[i]!), textAt(c.fall, i), num(c.year[i]!), num(c.lat[i]!), num(c.lon[i]!)];
}

/** Writes record i with HSET as its mode says; returns the number of commands it took. */
function writeRecord(w: BulkWriter, c: Columns, i: number, mode: WriteMode): number {
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
    if (v !== null && v !== undefined) (w.arg(OPTIONAL_FIELDS[f]!), w.arg(v));
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
async function payloadEncoder(redis: Redis): Promise<HashPayloadEncoder | null> {
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
    const restored = await Promise.all(payloads.map((p) => Promise.all([binary.restore(key, 0, p, { REPLACE: true }), dump()]).then(([, d]) => d)));
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
async function intsetMaxEntries(redis: Redis): Promise<number | null> {
  try {
    const value = Object.values(await redis.configGet('set-max-intset-entries'))[0];
    return value === undefined ? null : Number(value);
  } catch (err) {
    if (err instanceof ErrorReply) return null;
    throw err;
  }
}

/** Deletes (UNLINK) the given meteorite ids' hashes in batches; returns how many existed. */
async function unlinkMeteorites(redis: Redis, ids: string[]): Promise<number> {
  let removed = 0;
  for (let i = 0; i < ids.length; i += BATCH) {
    removed += await redis.unlink(ids.slice(i, i + BATCH).map(keys.meteorite));
  }
  return removed;
}

/** Every `meteorite:<id>` key in the database, found by SCAN (which does not trust any id set). */
async function* scanMeteoriteIds(redis: Redis): AsyncGenerator<string[]> {
  const prefix = keys.meteorite('0').slice(0, -1);
  for await (const batch of redis.scanIterator({ MATCH: `${prefix}*`, COUNT: BATCH })) {
    const ids = batch.map((key) => key.slice(prefix.length));
    if (ids.length > 0) yield ids;
  }
}

async function deleteSnapshots(redis: Redis): Promise<void> {
  for await (const batch of redis.scanIterator({ MATCH: keys.snapshotPattern, COUNT: BATCH })) {
    if (batch.length > 0) await redis.unlink(batch);
  }
}

/**
 * Replaces the dataset with `parsed` (already validated). Throws DatasetBusyError when another
 * load or delete runs, EmptyDatasetError when there is nothing to store (nothing is written).
 */
export async function storeDataset(
  redis: Redis,
  parsed: ParsedDataset,
  opts: StoreOptions,
): Promise<{ version: number; records: number }> {
  const c = parsed.columns;
  const n = c.length;
  if (n === 0) throw new EmptyDatasetError(parsed.skipped);
  return withLock(redis, opts.lockTtlMs ?? LOCK_TTL_MS, async (lock) => {
    const [before, idSets] = await Promise.all([datasetStatus(redis), redis.exists([keys.meteoriteIds, keys.meteoriteIdsNext])]);
    // `empty` means no record key exists: a fresh database or a finished delete.
    const mode: WriteMode = before.state === 'ready' ? 'replace' : before.state === 'empty' && idSets === 0 ? 'fresh' : 'repair';
    const starting = Promise.all([
      redis.hSet(keys.dataset, { version: before.version, state: 'loading' }),
      opts.hashWrites === 'hset' ? null : payloadEncoder(redis),
      intsetMaxEntries(redis),
    ]);
    // Sorted while those round trips are under way.
    const order = idOrder(c.id);
    const [, encoder, intsetMax] = await starting;
    if (intsetMax !== null && intsetMax < n) {
      opts.onNotice?.(
        `the server's set-max-intset-entries (${intsetMax}) is below the ${n} records: ${keys.meteoriteIds} will be a hashtable, ` +
          'about 55 B a record instead of 4 (raise the setting on the server to save that: README, "How the data sits in Redis")',
      );
    }
    const version = before.version + 1;
    const writer = await BulkWriter.open(redis);
    try {
      // Records done once Redis has answered a step's last command.
      const steps: { commands: number; records: number }[] = [];
      let commands = writer.replied;
      let written = 0;
      // RESTORE <key> 0 <payload> REPLACE, written by the encoder in place (one function for the whole load).
      let i = 0;
      const restore = encoder && ((buf: Buffer, at: number) => encoder.restoreCommand(c, i, buf, at));
      for (let start = 0; start < n; start += RECORDS_PER_STEP) {
        const end = Math.min(n, start + RECORDS_PER_STEP);
        for (let k = start; k < end; k++) {
          i = order[k]!;
          if (restore && writer.raw(MAX_RESTORE_BYTES, 1, restore)) commands++;
          else commands += writeRecord(writer, c, i, mode);
        }
        steps.push({ commands, records: end });
        await writer.settle(MAX_UNANSWERED);
        // A full turn of the event loop: lets the lock renewal timer and the replies run even when Redis keeps up.
        await new Promise(setImmediate);
        lock.check();
        while (steps.length > 0 && writer.replied >= steps[0]!.commands) written = steps.shift()!.records;
        opts.onProgress?.(written, n);
      }
      // Ascending ids into a fresh set: every SADD appends, so the set stays an intset (4 B an id)
      // up to the server's set-max-intset-entries; an insert in the middle would move the whole array.
      writer.command('DEL', keys.meteoriteIdsNext);
      for (let k = 0; k < n; k += BATCH) {
        const members: string[] = [];
        for (let j = k; j < Math.min(n, k + BATCH); j++) members.push(idAt(c, order[j]!));
        writer.command('SADD', keys.meteoriteIdsNext, ...members);
      }
      // Encoded while Redis works through the commands still in flight, and sent in the same pipeline.
      const snapshot = await encodeSnapshot(c, order);
      for (const column of SNAPSHOT_COLUMNS) {
        writer.begin(3);
        writer.arg('SET');
        writer.arg(keys.snapshot(version, column));
        writer.bytes(snapshot[column]);
      }
      await writer.settle(0);
      opts.onProgress?.(n, n);
    } finally {
      writer.close();
    }
    lock.check();

    if (mode !== 'repair') {
      // The previous load finished: its id set is exact.
      await unlinkMeteorites(redis, await redis.sDiff([keys.meteoriteIds, keys.meteoriteIdsNext]));
    } else {
      // After a failed load or delete nothing is trusted: every meteorite key not in the new input goes.
      for await (const ids of scanMeteoriteIds(redis)) {
        const member = await redis.smIsMember(keys.meteoriteIdsNext, ids);
        const stale = ids.filter((_, j) => member[j] === 0);
        if (stale.length > 0) await unlinkMeteorites(redis, stale);
      }
    }
    // UNLINK frees the old set in the background; RENAME over it would free it inline, a second at a million ids.
    await redis.multi().unlink(keys.meteoriteIds).rename(keys.meteoriteIdsNext, keys.meteoriteIds).exec();
    lock.check();
    await redis
      .multi()
      .hSet(keys.dataset, { version, generation: newGeneration(), state: 'ready', records: n, loaded_at: new Date().toISOString(), source: opts.source })
      .unlink(SNAPSHOT_COLUMNS.map((column) => keys.snapshot(before.version, column)))
      .exec();
    // No other snapshot can be left: a failed load wrote `version`'s keys, which this one just overwrote.
    return { version, records: n };
  });
}

/** Removes every meteorite key, the id sets and the snapshots; the dataset becomes `empty` under a new version. */
export async function deleteDataset(redis: Redis, opts: { lockTtlMs?: number } = {}): Promise<{ version: number; removed: number }> {
  return withLock(redis, opts.lockTtlMs ?? LOCK_TTL_MS, async (lock) => {
    const before = await datasetStatus(redis);
    await redis.hSet(keys.dataset, { version: before.version, state: 'loading' });
    let removed = 0;
    for await (const ids of scanMeteoriteIds(redis)) {
      removed += await unlinkMeteorites(redis, ids);
      lock.check();
    }
    await redis.unlink([keys.meteoriteIds, keys.meteoriteIdsNext]);
    await deleteSnapshots(redis);
    const version = before.version + 1;
    await redis
      .multi()
      .hSet(keys.dataset, { version, generation: newGeneration(), state: 'empty', records: 0 })
      .hDel(keys.dataset, ['loaded_at', 'source'])
      .exec();
    return { version, removed };
  });
}

export async function getSummary(redis: Redis): Promise<DatasetSummary> {
  const h = await redis.hGetAll(keys.dataset);
  return {
    version: Number(h.version ?? 0),
    state: (h.state as DatasetState | undefined) ?? 'empty',
    records: Number(h.records ?? 0),
    loaded_at: h.loaded_at ?? null,
    source: h.source ?? null,
  };
}

const numberOrNull = (v: string | null): number | null => (v === null ? null : Number(v));

/** The hash fields a landing is read with (HMGET), in the order meteoriteFromFields takes them. */
const METEORITE_FIELDS = ['id', 'name', 'nametype', 'recclass', 'mass_g', 'fall', 'year', 'reclat', 'reclong'];

/**
 * HMGET's reply for METEORITE_FIELDS in the API's shape; null when there is no such hash (every
 * field nil). Fields by position rather than HGETALL's map: no field names to send back and decode.
 */
function meteoriteFromFields(v: readonly (string | null)[]): Meteorite | null {
  const id = v[0] ?? null;
  if (id === null) return null;
  const recclass = v[3] ?? null;
  const classified = classify(recclass);
  return {
    id,
    name: v[1] ?? '',
    nametype: v[2] ?? null,
    recclass,
    mass_g: numberOrNull(v[4] ?? null),
    fall: v[5] ?? null,
    year: numberOrNull(v[6] ?? null),
    reclat: numberOrNull(v[7] ?? null),
    reclong: numberOrNull(v[8] ?? null),
    class_type: classified?.class_type ?? null,
    class_group: classified?.class_group ?? null,
  };
}

/**
 * One landing by id (validated by the caller), or null. The API's hot path: the command goes out
 * as it is (no command parser, no reply transform) and without node-redis' own per-command timer
 * (an AbortSignal each): the connection's command timeout (connectRedis) covers it.
 */
export async function getMeteorite(redis: Redis, id: string): Promise<Meteorite | null> {
  const reply = await redis.sendCommand(['HMGET', keys.meteorite(id), ...METEORITE_FIELDS], UNTIMED);
  return meteoriteFromFields(reply as unknown as (string | null)[]);
}

/** The hashes of `ids` in one pipeline, in the same order; absent ones left out. */
export async function getMeteorites(redis: Redis, ids: readonly string[]): Promise<Meteorite[]> {
  if (ids.length === 0) return [];
  const multi = redis.multi();
  for (const id of ids) multi.hmGet(keys.meteorite(id), METEORITE_FIELDS);
  const replies = (await multi.execAsPipeline()) as unknown as (string | null)[][];
  const out: Meteorite[] = [];
  for (const fields of replies) {
    const m = meteoriteFromFields(fields);
    if (m) out.push(m);
  }
  return out;
}

/**
 * Every record in id order, a batch at a time (the next batch is fetched while the caller handles
 * this one). Empty when nothing is loaded; DatasetNotReadyError while a load runs.
 */
export async function* iterateMeteorites(redis: Redis, batchSize = 1000): AsyncGenerator<Meteorite[]> {
  let ids: string[] | null = null;
  for (let attempt = 0; attempt < 5 && !ids; attempt++) {
    const { version, state } = await datasetStatus(redis);
    if (state === 'loading') throw new DatasetNotReadyError();
    if (state !== 'ready') return;
    ids = await readSnapshotIds(redis, version);
  }
  if (!ids) throw new DatasetNotReadyError('the dataset keeps changing; try again shortly');
  const fetch = (from: number) => {
    const p = getMeteorites(redis, ids.slice(from, from + batchSize));
    p.catch(() => {}); // awaited below; this only keeps an abandoned prefetch from being "unhandled"
    return p;
  };
  let next = fetch(0);
  for (let from = 0; from < ids.length; from += batchSize) {
    const batch = await next;
    if (from + batchSize < ids.length) next = fetch(from + batchSize);
    yield batch;
  }
}
