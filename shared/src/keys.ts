/**
 * Every Redis key the project uses is built here, and only here. The type beside each name is
 * the Redis type stored under it. Ids are validated before they become part of a key, so a URL
 * can never reach a key with glob characters, colons or another record's namespace.
 */
import { ServiceError } from './errors.ts';
import { createHash } from 'node:crypto';

/** Meteorite ids are non-negative integers (the NASA dataset's `id`), at most 15 digits. */
export const METEORITE_ID_PATTERN = '^(0|[1-9][0-9]{0,14})$';
const meteoriteIdRe = new RegExp(METEORITE_ID_PATTERN);

/** Job ids are lower-case RFC 4122 UUIDs, as crypto.randomUUID() makes them. */
export const JOB_ID_PATTERN = '^[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$';
const jobIdRe = new RegExp(JOB_ID_PATTERN);

/** Worker ids name a process' own processing list: letters, digits, dot, dash, underscore. */
const workerIdRe = /^[A-Za-z0-9._-]{1,128}$/;

/** Rate limit names (`jobs`, `data`) and client addresses as they may appear in a key. */
const rateLimitNameRe = /^[a-z]{1,32}$/;
const ipRe = /^[0-9a-f.:]{2,45}$/;
const clientPart = (client: string) => (ipRe.test(client) ? client : `h${createHash('sha256').update(client).digest('hex').slice(0, 32)}`);

/** Running jobs are indexed by their lease (`jobs:leases`), the other statuses by a set each. */
const indexedStatusRe = /^(queued|finished|failed|cancelled)$/;

export class InvalidIdError extends ServiceError {
  override name = 'InvalidIdError';
  override readonly code = 'invalid_id';
  override readonly statusCode = 400;
  constructor(
    readonly kind: string,
    readonly id: string,
  ) {
    super(`invalid ${kind} id: ${JSON.stringify(id.length > 80 ? `${id.slice(0, 80)}...` : id)}`);
  }
}

export const isMeteoriteId = (id: string): boolean => meteoriteIdRe.test(id);
export const isJobId = (id: string): boolean => jobIdRe.test(id);

function checked(kind: string, re: RegExp, id: string): string {
  if (!re.test(id)) throw new InvalidIdError(kind, id);
  return id;
}

/** The columns of a dataset snapshot, one key each. */
export const SNAPSHOT_COLUMNS = ['meta', 'id', 'name', 'nametype', 'recclass', 'fall', 'mass', 'year', 'lat', 'lon'] as const;
export type SnapshotColumn = (typeof SNAPSHOT_COLUMNS)[number];

export const CHART_FORMATS = ['svg', 'png'] as const;
export type ChartFormat = (typeof CHART_FORMATS)[number];

/**
 * The key set for one deployment. `hashTag` (off by default, so single-Redis key names do not
 * change; on in cluster mode, cluster.ts): a Redis Cluster hash tag put in front of every key, so
 * the whole keyspace hashes to one slot and one master serves it (scripts, MULTI and multi-key
 * commands stay as on one server); per-job and per-record keys are built from tagged prefixes and share it too.
 */
export function buildKeys(opts: { hashTag?: string } = {}) {
  if (opts.hashTag !== undefined && !/^[A-Za-z0-9_-]{1,32}$/.test(opts.hashTag)) throw new InvalidIdError('hash tag', opts.hashTag);
  /** The tag's text before every key's name ('' when none). */
  const q = opts.hashTag ? `{${opts.hashTag}}` : '';
  const prefixes = {
    job: `${q}job:`,
    result: `${q}result:`,
    chart: `${q}chart:`,
    processing: `${q}jobs:processing:`,
    meteorite: `${q}meteorite:`,
  } as const;
  return {
    /** Prefixes the queue's scripts join to ids they read from lists and sets (passed to them as KEYS). */
    prefixes,
    // ---- the dataset ----
    /** hash: one landing (`name id nametype recclass mass_g fall year reclat reclong`, absent = missing). */
    meteorite: (id: string) => `${prefixes.meteorite}${checked('meteorite', meteoriteIdRe, id)}`,
    /** set: every loaded meteorite id. */
    meteoriteIds: `${q}meteorites:ids`,
    /**
     * hash: `version state records loaded_at source generation`. `generation` is a random id drawn
     * by every load and delete: the version is a counter and comes back after Redis loses its last
     * writes, so snapshot caches, results and dedup entries are tied to the generation too.
     */
    dataset: `${q}dataset`,
    /** set: the ids of the load in progress; renamed over `meteorites:ids` once every record is written. */
    meteoriteIdsNext: `${q}meteorites:ids:next`,
    /** string: the load lock, a random token (SET NX PX, renewed while a load or delete runs). */
    datasetLock: `${q}dataset:lock`,
    /** hash: a sample record a load writes (HSET, RESTORE) and DUMPs to check its RESTORE payloads against the server; deleted at once. */
    datasetProbe: `${q}dataset:probe`,
    /**
     * string (binary): one column of the dataset snapshot written for `version` (little-endian
     * typed arrays, names as UTF-8, deflated; `meta` plain JSON; see snapshot.ts). Deleted when the version is replaced.
     */
    snapshot: (version: number, column: SnapshotColumn) => {
      if (!Number.isSafeInteger(version) || version < 0) throw new InvalidIdError('dataset version', String(version));
      if (!SNAPSHOT_COLUMNS.includes(column)) throw new InvalidIdError('snapshot column', String(column));
      return `${q}dataset:snapshot:${version}:${column}`;
    },
    /** SCAN pattern of every snapshot key, whatever its version. */
    snapshotPattern: `${q}dataset:snapshot:*`,

    // ---- jobs ----
    /**
     * hash: one job (see the Job schema) plus the queue's own fields (`token seq worker cancel dv dg
     * dk dataset_generation unstarted_losses`): `dv`/`dg` the dataset version and
     * generation it was asked on, `dk` its dedup digest, `dataset_version`/`dataset_generation` the
     * load a finished job's result was computed on where it is not `dv`/`dg`, `unstarted_losses`
     * leases lost before a slot took the job (refunded).
     */
    job: (id: string) => `${prefixes.job}${checked('job', jobIdRe, id)}`,
    /** list: ids of queued jobs; the API pushes on the left, workers BLMOVE from the right. */
    jobsQueue: `${q}jobs:queue`,
    /** string: a finished job's result as JSON. */
    result: (id: string) => `${prefixes.result}${checked('job', jobIdRe, id)}`,
    /** list: ids a worker has claimed and not yet finished (one list per worker process). */
    processing: (workerId: string) => `${prefixes.processing}${checked('worker', workerIdRe, workerId)}`,
    /** zset: running job ids, scored by their lease deadline (Redis server time, ms). */
    jobsLeases: `${q}jobs:leases`,
    /** zset: queued job ids waiting out a retry backoff, scored by when they may run (server ms). */
    jobsDelayed: `${q}jobs:delayed`,
    /** zset: every job id, scored by its enqueue sequence number (newest = highest). */
    jobsAll: `${q}jobs:all`,
    /** zset: the job ids in one status but running, scored like `jobs:all`; moved in the same step as the status. */
    jobsByStatus: (status: string) => `${q}jobs:status:${checked('job status', indexedStatusRe, status)}`,
    /** string: the enqueue sequence counter (INCR). */
    jobsSeq: `${q}jobs:seq`,
    /**
     * hash: the SHA-1 (hex) of `<analysis> <canonical params JSON>` -> `<dataset version>:<dataset
     * generation>:<job id>`, for dedup. A digest rather than the text: retention removes an entry by
     * the digest its `jobs:ended:log` entry carries, when the job's hash may be gone already.
     */
    jobsDedup: `${q}jobs:dedup`,
    /**
     * list: ended jobs in the order they ended, as `<server ms>:<job id>:<dedup digest>`: what
     * retention (JOB_RETENTION_SECONDS, JOB_RETENTION_COUNT, RESULT_TTL_SECONDS) prunes from, oldest first.
     */
    jobsEnded: `${q}jobs:ended:log`,
    /** zset: the same as `<job id>:<dedup digest>` scored by server ms, as versions before the list kept it; drained into it by recovery. */
    jobsEndedLegacy: `${q}jobs:ended`,
    /** zset: live worker ids, scored by their heartbeat deadline (server ms). */
    jobsWorkers: `${q}jobs:workers`,
    /** pub/sub channel: `<job id> <status>` whenever a job ends, one line per job ended in the same step. */
    jobEvents: `${q}jobs:events`,
    /**
     * stream: every job and dataset event, written by the step that changed the state: an entry per
     * queue step holding a field per job event (queued started finished failed cancelled retrying:
     * the name, then `<job id> <analysis>[ <attempts>]`); `event` queued or progress, `id analysis
     * progress` (enqueue, progress); `event` loading ready empty, `version records` (the dataset).
     * Trimmed to about EVENTS_STREAM_MAXLEN entries. GET /events serves it; its ids are the SSE ids
     * (`<entry id>.<n>` for the n-th event of an entry that holds several).
     */
    events: `${q}events`,

    // ---- metrics (written by the queue's scripts, read by GET /metrics; see metrics.ts) ----
    /** hash: job counters, `<analysis>:<event>` -> count, event one of `submitted deduplicated finished failed cancelled`. */
    jobsMetrics: `${q}metrics:jobs`,
    /** hash: run time of finished jobs, `<analysis>:<le>` -> jobs in that bucket alone (not cumulative), `<analysis>:sum_ms` (the count is the buckets' total). */
    jobDurations: `${q}metrics:job_duration`,

    // ---- charts ----
    /** string (SVG text, or PNG bytes): a finished job's chart, rendered once; expires with `result:<id>`, and goes with its job (retention). */
    chart: (id: string, format: ChartFormat) => {
      if (!CHART_FORMATS.includes(format)) throw new InvalidIdError('chart format', String(format));
      return `${prefixes.chart}${checked('job', jobIdRe, id)}:${format}`;
    },

    // ---- rate limits ----
    /**
     * string: requests one client made in the current window of one limit (INCR, expires with the
     * window). The client is its IP address; anything else (a forwarded header's junk) is hashed.
     */
    rateLimit: (limit: string, client: string) => `${q}ratelimit:${checked('rate limit', rateLimitNameRe, limit)}:${clientPart(client)}`,
  } as const;
}

export type KeySet = ReturnType<typeof buildKeys>;

/**
 * The key names in use: no hash tag (one Redis server) until useHashTag() puts one on. Every
 * module reads its key names from this one object, so the switch reaches them all.
 */
export const keys: KeySet = buildKeys();

/**
 * Prefixes the queue's Lua scripts join to ids they read from lists and sets, and the loader to
 * the digits of numeric ids it writes straight into a command (hash-payload.ts).
 */
export const keyPrefixes = keys.prefixes;

/**
 * Switches this process's key names to those of `hashTag` (undefined: back to the plain names),
 * in place, so every importer of `keys` and `keyPrefixes` sees them. connectRedis() calls it in
 * cluster mode, before any key is used; a process never talks to two deployments at once.
 */
export function useHashTag(hashTag: string | undefined): void {
  const { prefixes, ...rest } = buildKeys({ hashTag });
  Object.assign(keys.prefixes, prefixes);
  Object.assign(keys, rest);
}

/** Every key pattern the project writes, for tests, backups and operators (SCAN MATCH); in cluster mode each has `{meteorites}` in front. */
export const keyPatterns = [
  'meteorite:*',
  'meteorites:*',
  'dataset',
  'dataset:*',
  'job:*',
  'jobs:*',
  'result:*',
  'chart:*',
  'metrics:*',
  'ratelimit:*',
  'events',
] as const;
