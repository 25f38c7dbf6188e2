/**
 * The column snapshot of the current load, read from Redis and kept in memory until the load
 * changes (SnapshotCache), and the dataset status it is keyed by. What the snapshot holds and how
 * it is encoded: snapshot-format.ts; building one: snapshot-encode.ts; decoding: snapshot-decode.ts.
 */
import { ServiceError } from './errors.ts';
import { RESP_TYPES } from 'redis';
import { emptyColumns } from './columns.ts';
import { keys, SNAPSHOT_COLUMNS, type SnapshotColumn } from './keys.ts';
import type { Redis } from './redis.ts';
import type { DatasetState } from './schemas.ts';
import { decodeIds, decodeMeta, decodeSnapshot } from './snapshot-decode.ts';
import type { Snapshot } from './snapshot-format.ts';

export { SnapshotFormatError, type Snapshot } from './snapshot-format.ts';
export { encodeSnapshot, idOrder } from './snapshot-encode.ts';
export { decodeSnapshot } from './snapshot-decode.ts';

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

/** The same client, answering strings as Buffers (snapshot columns are binary). */
const binary = (redis: Redis) => redis.withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer });

/** Reads `columns` of a version's snapshot at once (one MGET); null when any is gone (the version was replaced). */
async function readColumns<C extends SnapshotColumn>(
  redis: Redis,
  version: number,
  columns: readonly C[],
): Promise<Record<C, Buffer> | null> {
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
 * The current load's snapshot, kept in memory until `dataset.generation` moves on. A call costs
 * one small round trip (version, state, generation), unless the caller knows them already (a
 * worker's claim reads them) and they name the snapshot kept; the columns are read once per load.
 */
export class SnapshotCache {
  #current: Snapshot | undefined;
  #reading: { generation: string; promise: Promise<Snapshot | null> } | undefined;
  /** Status reads so far, and the one #current came from: a slow read never replaces a newer one. */
  #reads = 0;
  #currentRead = 0;

  constructor(private readonly redis: Redis) {}

  /**
   * `known`: the dataset status as the caller read it a moment ago. When it names the snapshot
   * kept, that is the answer; a result computed on it is still checked against the load current
   * when it is written (the settle refuses one on a replaced load).
   */
  async current(known?: DatasetStatus): Promise<Snapshot> {
    const kept = this.#current;
    if (known && known.state !== 'loading' && kept?.version === known.version && kept.generation === known.generation) return kept;
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
