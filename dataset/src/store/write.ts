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
 * `meteorite:*` key that is not in its own input. Each change of `state` appends its dataset
 * event (shared/src/events.ts) in the same step.
 */
import { idAt, keys, SNAPSHOT_COLUMNS, type Redis, addDatasetEvent, datasetStatus, encodeSnapshot, idOrder } from '@meteorites/shared';
import type { ParsedDataset } from '../ingest/index.ts';
import { EmptyDatasetError } from '../ingest/errors.ts';
import { BulkWriter } from '../ingest/bulk-writer.ts';
import { MAX_RESTORE_BYTES } from '../ingest/hash-payload.ts';
import { LOCK_TTL_MS, newGeneration, withLock } from './lock.ts';
import { intsetMaxEntries, payloadEncoder, writeRecord, type WriteMode } from './record-writes.ts';

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
  /** EVENTS_STREAM_MAXLEN: the event stream the dataset events join is trimmed to about this many entries. */
  eventsMaxLen?: number;
}

/**
 * Records per progress step; the bulk connection has at most MAX_UNANSWERED commands unanswered,
 * far enough ahead that Redis still has work queued while this process encodes the snapshot.
 */
const RECORDS_PER_STEP = 5_000;
const MAX_UNANSWERED = 200_000;
/** Members per SADD, keys per UNLINK, keys per SCAN step. */
const BATCH = 1_000;

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
/** `state=loading`, and its event in the same step. */
async function setLoading(redis: Redis, version: number, eventsMaxLen: number | undefined): Promise<void> {
  const multi = redis.multi().hSet(keys.dataset, { version, state: 'loading' });
  addDatasetEvent(multi, 'loading', { version }, eventsMaxLen);
  await multi.exec();
}

export async function storeDataset(redis: Redis, parsed: ParsedDataset, opts: StoreOptions): Promise<{ version: number; records: number }> {
  const c = parsed.columns;
  const n = c.length;
  if (n === 0) throw new EmptyDatasetError(parsed.skipped);
  return withLock(redis, opts.lockTtlMs ?? LOCK_TTL_MS, async (lock) => {
    const [before, idSets] = await Promise.all([datasetStatus(redis), redis.exists([keys.meteoriteIds, keys.meteoriteIdsNext])]);
    // `empty` means no record key exists: a fresh database or a finished delete.
    const mode: WriteMode = before.state === 'ready' ? 'replace' : before.state === 'empty' && idSets === 0 ? 'fresh' : 'repair';
    const starting = Promise.all([
      setLoading(redis, before.version, opts.eventsMaxLen),
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
    const ready = redis
      .multi()
      .hSet(keys.dataset, {
        version,
        generation: newGeneration(),
        state: 'ready',
        records: n,
        loaded_at: new Date().toISOString(),
        source: opts.source,
      })
      .unlink(SNAPSHOT_COLUMNS.map((column) => keys.snapshot(before.version, column)));
    addDatasetEvent(ready, 'ready', { version, records: n }, opts.eventsMaxLen);
    await ready.exec();
    // No other snapshot can be left: a failed load wrote `version`'s keys, which this one just overwrote.
    return { version, records: n };
  });
}

/** Removes every meteorite key, the id sets and the snapshots; the dataset becomes `empty` under a new version. */
export async function deleteDataset(
  redis: Redis,
  opts: { lockTtlMs?: number; eventsMaxLen?: number } = {},
): Promise<{ version: number; removed: number }> {
  return withLock(redis, opts.lockTtlMs ?? LOCK_TTL_MS, async (lock) => {
    const before = await datasetStatus(redis);
    await setLoading(redis, before.version, opts.eventsMaxLen);
    let removed = 0;
    for await (const ids of scanMeteoriteIds(redis)) {
      removed += await unlinkMeteorites(redis, ids);
      lock.check();
    }
    await redis.unlink([keys.meteoriteIds, keys.meteoriteIdsNext]);
    await deleteSnapshots(redis);
    const version = before.version + 1;
    const empty = redis
      .multi()
      .hSet(keys.dataset, { version, generation: newGeneration(), state: 'empty', records: 0 })
      .hDel(keys.dataset, ['loaded_at', 'source']);
    addDatasetEvent(empty, 'empty', { version, records: 0 }, opts.eventsMaxLen);
    await empty.exec();
    return { version, removed };
  });
}
