/**
 * Reading landings back: the summary, one landing by id, a list of ids in one pipeline, and every
 * landing in id order (the ids from the current snapshot).
 */
import {
  classify,
  keys,
  UNTIMED,
  type Redis,
  type DatasetState,
  type DatasetSummary,
  type Meteorite,
  DatasetNotReadyError,
  datasetStatus,
  readSnapshotIds,
} from '@meteorites/shared';

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
