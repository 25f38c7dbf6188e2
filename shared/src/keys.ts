/**
 * Every Redis key the project uses is built here, and only here. The type beside each name is
 * the Redis type stored under it. Ids are validated before they become part of a key, so a URL
 * can never reach a key with glob characters, colons or another record's namespace.
 */

/** Meteorite ids are non-negative integers (the NASA dataset's `id`), at most 15 digits. */
export const METEORITE_ID_PATTERN = '^(0|[1-9][0-9]{0,14})$';
const meteoriteIdRe = new RegExp(METEORITE_ID_PATTERN);

/** Job ids are lower-case RFC 4122 UUIDs, as crypto.randomUUID() makes them. */
export const JOB_ID_PATTERN = '^[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$';
const jobIdRe = new RegExp(JOB_ID_PATTERN);

/** Worker ids name a process' own processing list: letters, digits, dot, dash, underscore. */
const workerIdRe = /^[A-Za-z0-9._-]{1,128}$/;

export class InvalidIdError extends Error {
  override name = 'InvalidIdError';
  constructor(readonly kind: string, readonly id: string) {
    super(`invalid ${kind} id: ${JSON.stringify(id.length > 80 ? `${id.slice(0, 80)}...` : id)}`);
  }
}

export const isMeteoriteId = (id: string): boolean => meteoriteIdRe.test(id);
export const isJobId = (id: string): boolean => jobIdRe.test(id);

function checked(kind: string, re: RegExp, id: string): string {
  if (!re.test(id)) throw new InvalidIdError(kind, id);
  return id;
}

export const keys = {
  // ---- the dataset ----
  /** hash: one landing (`name id nametype recclass mass_g fall year reclat reclong`, absent = missing). */
  meteorite: (id: string) => `meteorite:${checked('meteorite', meteoriteIdRe, id)}`,
  /** set: every loaded meteorite id. */
  meteoriteIds: 'meteorites:ids',
  /** hash: `version state records loaded_at source`. */
  dataset: 'dataset',

  // ---- jobs ----
  /** hash: one job (see the Job schema). */
  job: (id: string) => `job:${checked('job', jobIdRe, id)}`,
  /** list: ids of queued jobs; the API pushes on the left, workers BLMOVE from the right. */
  jobsQueue: 'jobs:queue',
  /** string: a finished job's result as JSON. */
  result: (id: string) => `result:${checked('job', jobIdRe, id)}`,
  /** list: ids a worker has claimed and not yet finished (one list per worker process). */
  processing: (workerId: string) => `jobs:processing:${checked('worker', workerIdRe, workerId)}`,
} as const;

/** Every key pattern the project writes, for tests, backups and operators (SCAN MATCH). */
export const keyPatterns = ['meteorite:*', 'meteorites:*', 'dataset', 'job:*', 'jobs:*', 'result:*'] as const;
