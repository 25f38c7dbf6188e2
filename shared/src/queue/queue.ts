/**
 * The job queue protocol, used by the API (enqueue, read, list, cancel) and the workers (claim,
 * progress, renew, settle, release, recover). Every state change is one Lua script (./scripts.ts).
 *
 * Lifecycle: queued -> running -> finished | failed | cancelled. A running job goes back to
 * queued when its worker hands it back (shutdown, dataset loading, transient error) or when its
 * lease expires (worker died); after JOB_MAX_ATTEMPTS lost leases it fails with "worker lost".
 */
import { randomBytes } from 'node:crypto';
import type { Config } from '../config.ts';
import type { Redis } from '../redis.ts';
import { keyPrefixes, keys } from '../keys.ts';
import { DEFAULT_EVENTS_MAXLEN } from '../events.ts';
import type { Job, JobStatus } from '../schemas.ts';
import { InvalidCursorError } from './errors.ts';
import { PRUNE_BATCH, scripts, type LuaScript } from './scripts.ts';

export interface QueueOptions {
  /** RESULT_TTL_SECONDS: ended jobs and results expire after this many seconds; 0: no TTL of their own. */
  resultTtlSeconds?: number;
  /** JOB_RETENTION_SECONDS: ended jobs are pruned (with everything naming them) past this age; 0: no age limit. */
  retentionSeconds?: number;
  /** JOB_RETENTION_COUNT: at most this many ended jobs are kept, the newest; 0: no limit. */
  retentionCount?: number;
  /** EVENTS_STREAM_MAXLEN: about how many events the event stream keeps. */
  eventsMaxLen?: number;
}

/** The queue's settings from the configuration, the same in the API and the workers. */
export function queueOptions(
  config: Pick<Config, 'RESULT_TTL_SECONDS' | 'JOB_RETENTION_SECONDS' | 'JOB_RETENTION_COUNT' | 'EVENTS_STREAM_MAXLEN'>,
): QueueOptions {
  return {
    resultTtlSeconds: config.RESULT_TTL_SECONDS,
    retentionSeconds: config.JOB_RETENTION_SECONDS,
    retentionCount: config.JOB_RETENTION_COUNT,
    eventsMaxLen: config.EVENTS_STREAM_MAXLEN,
  };
}

/** A job a worker holds: `token` (unique to this claim, for ever) proves its ownership to every later step. */
export interface ClaimedJob {
  id: string;
  token: string;
  attempts: number;
  analysis: string;
  params: Record<string, unknown>;
}

export type Settlement =
  /**
   * datasetGeneration: the load the result was computed on (Snapshot.generation); a result on a
   * load that is no longer current is refused ('stale'). Unset: the result depends on no dataset
   * (not checked; recorded as computed on the load the job was asked on).
   */
  | { status: 'finished'; result: string; datasetVersion: number; datasetGeneration?: string }
  | { status: 'failed'; error: string; datasetVersion?: number }
  | { status: 'cancelled' };

export type LeaseState = 'ok' | 'cancel' | 'lost';

/** An id in a worker's processing list and its job as Redis has it ('' for a field it lacks). */
export interface HeldJob {
  id: string;
  status: string;
  token: string;
  worker: string;
}

/** 'stale': the result was computed on a load that is no longer current; the job is queued again. */
export type SettleOutcome = 'finished' | 'failed' | 'cancelled' | 'stale' | 'lost';

export interface JobPage {
  items: Job[];
  next_cursor: string | null;
}

export type CancelOutcome = 'cancelled' | 'requested' | 'ended';

const ENDED = new Set<string>(['finished', 'failed', 'cancelled']);

export const isEnded = (status: string): boolean => ENDED.has(status);

/** A job hash as the API shows it. */
export function jobFromHash(h: Record<string, string>): Job {
  return {
    id: h.id!,
    analysis: h.analysis!,
    params: JSON.parse(h.params ?? '{}') as Record<string, unknown>,
    status: h.status as JobStatus,
    progress: Number(h.progress ?? 0),
    attempts: Number(h.attempts ?? 0),
    dataset_version: h.dataset_version ? Number(h.dataset_version) : null,
    created_at: h.created_at!,
    started_at: h.started_at ?? null,
    finished_at: h.finished_at ?? null,
    error: h.error ?? null,
    cancel_requested: h.cancel === '1',
  };
}

function pairsToHash(flat: string[]): Record<string, string> {
  const h: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) h[flat[i]!] = flat[i + 1]!;
  return h;
}

function claimedFrom(reply: unknown[], at = 0): ClaimedJob[] {
  const jobs: ClaimedJob[] = [];
  for (let i = at; i + 5 <= reply.length; i += 5) {
    jobs.push({
      id: String(reply[i]),
      token: String(reply[i + 1]),
      attempts: Number(reply[i + 2]),
      analysis: String(reply[i + 3]),
      params: JSON.parse(String(reply[i + 4])) as Record<string, unknown>,
    });
  }
  return jobs;
}

interface Cursor {
  status: string | null;
  seq: number;
}

export function encodeCursor(c: Cursor): string {
  return Buffer.from(JSON.stringify([c.status, c.seq])).toString('base64url');
}

export function decodeCursor(raw: string, status: string | null): Cursor {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8'));
  } catch {
    throw new InvalidCursorError();
  }
  if (!Array.isArray(parsed) || parsed.length !== 2 || parsed[0] !== status || !Number.isSafeInteger(parsed[1]) || parsed[1] < 0) {
    throw new InvalidCursorError();
  }
  return { status, seq: parsed[1] as number };
}

export class JobQueue {
  /** ARGV[1] of every script: `<ttl> <age> <keep> <maxlen>` (see scripts.ts). */
  readonly #retention: string;
  /**
   * Claim tokens are `<nonce>.<call>.<n>`: this instance's random nonce, its claim calls counted
   * here and the job's place in the call. Unique for ever without any counter in Redis, which
   * would go back with lost writes and hand one token to two workers.
   */
  readonly #tokenNonce = randomBytes(9).toString('base64url');
  #claimCalls = 0;

  constructor(
    readonly redis: Redis,
    opts: QueueOptions = {},
  ) {
    const ttl = opts.resultTtlSeconds ?? 0;
    // Pruned at the first limit reached: keys with a TTL take their index entries with them.
    const age = Math.min(...[ttl, opts.retentionSeconds ?? 0].filter((s) => s > 0), Infinity);
    this.#retention = `${ttl} ${Number.isFinite(age) ? age : 0} ${opts.retentionCount ?? 0} ${opts.eventsMaxLen ?? DEFAULT_EVENTS_MAXLEN}`;
  }

  #tokenBase(): string {
    return `${this.#tokenNonce}.${(++this.#claimCalls).toString(36)}.`;
  }

  #run(script: LuaScript, args: (string | number)[], processing?: string, now = new Date()): Promise<unknown> {
    return script.run(this.redis, script.keys(processing), [this.#retention, now.toISOString(), ...args.map(String)]);
  }

  // ---- API side ----

  /**
   * Records a job and queues it, unless the same analysis with the same canonical params already
   * has a live or finished job on the current dataset version: then that job is answered.
   */
  async enqueue(analysis: string, params: Record<string, unknown>, now = new Date()): Promise<{ job: Job; deduplicated: boolean }> {
    const id = crypto.randomUUID();
    const paramsJson = JSON.stringify(params);
    const [outcome, jobId] = (await this.#run(scripts.enqueue, [id, analysis, paramsJson], undefined, now)) as [string, string];
    if (outcome === 'dup') {
      const job = await this.get(jobId);
      if (job) return { job, deduplicated: true };
      // It expired between the script and this read: ask again, it will not match twice.
      return this.enqueue(analysis, params, now);
    }
    const job: Job = {
      id,
      analysis,
      params,
      status: 'queued',
      progress: 0,
      attempts: 0,
      dataset_version: null,
      created_at: now.toISOString(),
      started_at: null,
      finished_at: null,
      error: null,
      cancel_requested: false,
    };
    return { job, deduplicated: false };
  }

  async get(id: string): Promise<Job | null> {
    const h = await this.redis.hGetAll(keys.job(id));
    return h.id ? jobFromHash(h) : null;
  }

  /** Newest first. Ids whose job expired (RESULT_TTL_SECONDS) are dropped from the index as they are met. */
  async list(opts: { status?: JobStatus; limit: number; cursor?: string }): Promise<JobPage> {
    const status = opts.status ?? null;
    const before = opts.cursor ? decodeCursor(opts.cursor, status).seq : Infinity;
    if (status === 'running') return this.#listRunning(opts.limit, before);
    const index = status ? keys.jobsByStatus(status) : keys.jobsAll;
    let upper = Number.isFinite(before) ? `(${before}` : '+inf';
    const items: Job[] = [];
    for (;;) {
      const need = opts.limit - items.length;
      const batch = await this.redis.zRangeWithScores(index, upper, '-inf', {
        BY: 'SCORE',
        REV: true,
        LIMIT: { offset: 0, count: need + 1 },
      });
      const page = batch.slice(0, need);
      if (page.length === 0) return { items, next_cursor: null };
      const multi = this.redis.multi();
      for (const m of page) multi.hGetAll(keys.job(m.value));
      const hashes = (await multi.execAsPipeline()) as unknown as Record<string, string>[];
      const gone: string[] = [];
      page.forEach((m, i) => {
        const h = hashes[i]!;
        if (!h.id) gone.push(m.value);
        else if (!status || h.status === status) items.push(jobFromHash(h));
      });
      if (gone.length > 0) await this.redis.zRem(index, gone);
      const last = page[page.length - 1]!.score;
      upper = `(${last}`;
      if (batch.length <= need) return { items, next_cursor: null };
      if (items.length >= opts.limit) return { items, next_cursor: encodeCursor({ status, seq: last }) };
    }
  }

  /** Running jobs are the lease holders: few (workers × concurrency), so they are read whole and sorted here. */
  async #listRunning(limit: number, before: number): Promise<JobPage> {
    const ids = await this.redis.zRange(keys.jobsLeases, 0, -1);
    const multi = this.redis.multi();
    for (const id of ids) multi.hGetAll(keys.job(id));
    const hashes = ids.length > 0 ? ((await multi.execAsPipeline()) as unknown as Record<string, string>[]) : [];
    const running = hashes
      .filter((h) => h.status === 'running' && Number(h.seq) < before)
      .sort((a, b) => Number(b.seq) - Number(a.seq));
    const page = running.slice(0, limit);
    const last = page[page.length - 1];
    return {
      items: page.map(jobFromHash),
      next_cursor: running.length > limit && last ? encodeCursor({ status: 'running', seq: Number(last.seq) }) : null,
    };
  }

  /** Returns null for an unknown job. */
  async cancel(id: string, now = new Date()): Promise<{ outcome: CancelOutcome; job: Job } | null> {
    const reply = (await this.#run(scripts.cancel, [id], undefined, now)) as string[];
    if (reply[0] === 'missing') return null;
    return { outcome: reply[0] as CancelOutcome, job: jobFromHash(pairsToHash(reply.slice(1))) };
  }

  /** The stored result JSON, or the job's status when there is none (null: no such job). */
  async result(id: string): Promise<{ json: string } | { status: JobStatus | null }> {
    const [json, status] = (await this.redis.multi().get(keys.result(id)).hGet(keys.job(id), 'status').exec()) as unknown as [
      string | null,
      string | null,
    ];
    if (json !== null) return { json };
    return { status: (status as JobStatus | null) ?? null };
  }

  // ---- worker side ----

  /**
   * Takes up to `count` queued jobs without blocking (none when the queue is empty). `hold`: the
   * jobs may wait in the worker for a slot, so they count as started only once settle() says so.
   */
  async claim(workerId: string, leaseMs: number, count = 1, hold = false): Promise<ClaimedJob[]> {
    return claimedFrom((await this.#run(scripts.claim, [workerId, leaseMs, '', count, this.#tokenBase(), hold ? '1' : '0'], keys.processing(workerId))) as unknown[]);
  }

  /** Blocks (on a connection of its own) until a job id can be moved into the worker's processing list. */
  static async waitForJob(blocking: Redis, workerId: string, timeoutSeconds: number): Promise<string | null> {
    return blocking.blMove(keys.jobsQueue, keys.processing(workerId), 'RIGHT', 'LEFT', timeoutSeconds);
  }

  /** Starts an id waitForJob moved into the processing list; null when it is no longer queued. */
  async start(workerId: string, leaseMs: number, id: string, hold = false): Promise<ClaimedJob | null> {
    const reply = (await this.#run(scripts.claim, [workerId, leaseMs, id, 0, this.#tokenBase(), hold ? '1' : '0'], keys.processing(workerId))) as unknown[];
    return claimedFrom(reply)[0] ?? null;
  }

  /**
   * Ends jobs this worker holds and claims up to `next.count` queued ones in the same step (`hold`
   * as in claim()); `started` are held jobs a slot took meanwhile. An outcome is 'lost' when that
   * job's lease was taken: nothing was written for it; 'stale' when its result was computed on a
   * dataset load that is no longer current: it is queued again.
   */
  async settle(
    workerId: string,
    items: readonly { job: ClaimedJob; settlement: Settlement }[],
    next?: { leaseMs: number; count: number; hold?: boolean },
    started: readonly ClaimedJob[] = [],
  ): Promise<{ outcomes: SettleOutcome[]; next: ClaimedJob[]; started: ('started' | 'lost')[] }> {
    const n = items.length + started.length;
    const args: (string | number)[] = [workerId, next?.leaseMs ?? 0, n];
    for (const { job, settlement: s } of items) {
      const payload = s.status === 'finished' ? s.result : s.status === 'failed' ? s.error : '';
      const version = s.status === 'cancelled' || s.datasetVersion === undefined ? '' : s.datasetVersion;
      const generation = s.status === 'finished' ? (s.datasetGeneration ?? '*') : '';
      args.push(job.id, job.token, s.status, payload, version, generation);
    }
    for (const job of started) args.push(job.id, job.token, 'started', '', '', '');
    args.push(next?.count ?? 0, this.#tokenBase(), next?.hold ? '1' : '0');
    const reply = (await this.#run(scripts.settle, args, keys.processing(workerId))) as unknown[];
    return {
      outcomes: reply.slice(0, items.length) as SettleOutcome[],
      started: reply.slice(items.length, n) as ('started' | 'lost')[],
      next: claimedFrom(reply, n),
    };
  }

  /**
   * Hands a held job back to the queue, at once or after `delayMs` (via jobs:delayed). `refund`
   * takes back the attempt its start counted. A job asked to cancel ends cancelled instead.
   */
  async release(
    workerId: string,
    job: ClaimedJob,
    opts: { delayMs: number; refund: boolean; error?: string },
  ): Promise<'released' | 'cancelled' | 'lost'> {
    return (await this.#run(
      scripts.release,
      [job.id, job.token, opts.delayMs, opts.refund ? '1' : '0', opts.error ?? ''],
      keys.processing(workerId),
    )) as 'released';
  }

  async progress(job: ClaimedJob, progress: number, datasetVersion?: number): Promise<LeaseState> {
    return (await this.#run(scripts.progress, [job.id, job.token, progress, datasetVersion ?? ''])) as LeaseState;
  }

  /** Heartbeat plus lease renewal of the given jobs; tells per job whether it was asked to cancel or lost. */
  async renew(workerId: string, leaseMs: number, jobs: readonly ClaimedJob[]): Promise<LeaseState[]> {
    return (await this.#run(scripts.renew, [workerId, leaseMs, ...jobs.flatMap((j) => [j.id, j.token])])) as LeaseState[];
  }

  async recover(maxAttempts: number, limit = 100): Promise<{ requeued: number; lost: number; promoted: number; deadWorkers: number }> {
    const [requeued, lost, promoted, deadWorkers] = (await this.#run(scripts.recover, [maxAttempts, limit])) as number[];
    // Retention also runs while no job settles: what expired must not linger in the indexes.
    await this.prune();
    return { requeued: requeued!, lost: lost!, promoted: promoted!, deadWorkers: deadWorkers! };
  }

  /**
   * Removes ended jobs past the retention (age, count), with their results, charts, index and
   * dedup entries; at most `limit`, oldest first. Settles do the same as they go. Returns how many.
   */
  async prune(limit = PRUNE_BATCH): Promise<number> {
    return (await this.#run(scripts.prune, [limit])) as number;
  }

  /** What the worker's processing list holds, with each job's status, token and worker as Redis has them now. */
  async held(workerId: string): Promise<HeldJob[]> {
    const flat = (await this.#run(scripts.held, [], keys.processing(workerId))) as string[];
    const jobs: HeldJob[] = [];
    for (let i = 0; i + 4 <= flat.length; i += 4) jobs.push({ id: flat[i]!, status: flat[i + 1]!, token: flat[i + 2]!, worker: flat[i + 3]! });
    return jobs;
  }

  /**
   * Puts back what the worker's processing list holds and the worker does not know (`unknown`, as
   * held() saw it; by default everything held() sees now, refunded): a running job of this worker
   * goes back to the front of the queue (its attempt refunded when `refund`), an unstarted id to
   * the queue; an entry whose job changed since it was seen is left alone. `retire` also drops
   * the list and the heartbeat. Returns how many jobs went back to the queue.
   */
  async sweep(workerId: string, retire: boolean, unknown?: readonly (HeldJob & { refund: boolean })[]): Promise<number> {
    const entries = unknown ?? (await this.held(workerId)).map((h) => ({ ...h, refund: true }));
    const args: string[] = [workerId, retire ? '1' : '0'];
    for (const e of entries) args.push(e.id, e.status, e.token, e.refund ? '1' : '0');
    return (await this.#run(scripts.sweep, args, keys.processing(workerId))) as number;
  }

  /**
   * Recovery of a processing list found by a scan whose worker has no live heartbeat: its
   * unstarted ids go back to the queue. Returns how many, or -1 when the worker is alive.
   */
  async recoverList(workerId: string): Promise<number> {
    return (await this.#run(scripts.recoverList, [workerId], keys.processing(workerId))) as number;
  }

  /** Worker ids that have a processing list, found by SCAN (a list outlives a heartbeat recovery dropped). */
  async *processingLists(): AsyncGenerator<string> {
    for await (const batch of this.redis.scanIterator({ MATCH: `${keyPrefixes.processing}*`, COUNT: 1000 })) {
      for (const key of batch as unknown as string[]) yield key.slice(keyPrefixes.processing.length);
    }
  }
}
