/**
 * The dataset lock: one load or delete at a time, across every API and CLI process. A token in
 * `dataset:lock` with a TTL, renewed while the work runs, so a crashed loader blocks others for
 * one TTL at most; a load whose lock expired under it (a stall longer than the TTL) stops.
 */
import { LuaScript, ServiceError, keys, type Redis } from '@meteorites/shared';
import { randomBytes, randomUUID } from 'node:crypto';

/** Another load or delete holds the lock (API: 409). */
export class DatasetBusyError extends ServiceError {
  override name = 'DatasetBusyError';
  override readonly code = 'dataset_busy';
  override readonly statusCode = 409;
  constructor() {
    super('another load or delete of the dataset is running; try again when it has finished');
  }
}

/** The lock expired under a load (the process stalled longer than its TTL); the load stops. */
export class DatasetLockLostError extends ServiceError {
  override name = 'DatasetLockLostError';
  override readonly code = 'dataset_lock_lost';
  override readonly statusCode = 503;
  override readonly retryAfter = 1;
  constructor() {
    super('the dataset lock was lost while loading; the load stopped with state "loading"');
  }
}

export const LOCK_TTL_MS = 30_000;

const RELEASE = LuaScript.fromFile(import.meta.url, 'dataset-lock-release');
const RENEW = LuaScript.fromFile(import.meta.url, 'dataset-lock-renew');

export class Lock {
  #lost = false;
  readonly #timer: NodeJS.Timeout;

  private constructor(
    private readonly redis: Redis,
    private readonly token: string,
    ttlMs: number,
  ) {
    this.#timer = setInterval(
      () => {
        RENEW.run(redis, [keys.datasetLock], [token, String(ttlMs)])
          .then((renewed) => {
            if (renewed === 0) this.#lost = true;
          })
          // A failed renewal while Redis is away: the load's own writes fail and report it.
          .catch(() => {});
      },
      Math.max(100, Math.floor(ttlMs / 3)),
    );
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
export const newGeneration = () => randomBytes(8).toString('hex');

export async function withLock<T>(redis: Redis, ttlMs: number, work: (lock: Lock) => Promise<T>): Promise<T> {
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
