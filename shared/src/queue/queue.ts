/**
 * The job queue, API side (enqueue, read, list, cancel, result); the workers' side (claim,
 * progress, renew, settle, release, recover) is WorkerQueue (./worker-queue.ts), as BullMQ splits
 * Queue and Worker. Every state change is one Lua script (./lua/).
 *
 * Lifecycle: queued -> running -> finished | failed | cancelled. A running job goes back to
 * queued when its worker hands it back (shutdown, dataset loading, transient error) or when its
 * lease expires (worker died); after JOB_MAX_ATTEMPTS lost leases it fails with "worker lost".
 */
import type { Redis } from '../redis.ts';
import { keys } from '../keys.ts';
import type { Job, JobStatus } from '../schemas.ts';
import { QueueBase, type QueueOptions } from './base.ts';
import { InvalidCursorError } from './errors.ts';
import { cancelledFrom, type CancelOutcome } from './lua/replies.ts';
import { scripts } from './lua/scripts.ts';

export { queueOptions, type QueueOptions } from './base.ts';
export type { CancelOutcome } from './lua/replies.ts';

export interface JobPage {
  items: Job[];
  next_cursor: string | null;
}

const ENDED = new Set<string>(['finished', 'failed', 'cancelled']);

export const isEnded = (status: string): boolean => ENDED.has(status);

/** A job hash as the API shows it. */
export function jobFromHash(h: Record<string, string>): Job {
  // A finished job's hash names the load it ran on only when it is not the one it was asked on (dv).
  const ranOn = h.dataset_version ?? (h.status === 'finished' ? h.dv : undefined);
  return {
    id: h.id!,
    analysis: h.analysis!,
    params: JSON.parse(h.params ?? '{}') as Record<string, unknown>,
    status: h.status as JobStatus,
    // A finished job's progress is 1 whatever the field says: the settle does not write it.
    progress: h.status === 'finished' ? 1 : Number(h.progress ?? 0),
    attempts: Number(h.attempts ?? 0),
    dataset_version: ranOn ? Number(ranOn) : null,
    created_at: h.created_at!,
    started_at: h.started_at ?? null,
    finished_at: h.finished_at ?? null,
    error: h.error ?? null,
    cancel_requested: h.cancel === '1',
  };
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

export class JobQueue extends QueueBase {
  constructor(redis: Redis, opts: QueueOptions = {}) {
    super(redis, opts);
  }

  /**
   * Records a job and queues it, unless the same analysis with the same canonical params already
   * has a live or finished job on the current dataset version: then that job is answered.
   */
  async enqueue(analysis: string, params: Record<string, unknown>, now = new Date()): Promise<{ job: Job; deduplicated: boolean }> {
    const id = crypto.randomUUID();
    const paramsJson = JSON.stringify(params);
    const [outcome, jobId] = (await this.run(scripts.enqueue, [id, analysis, paramsJson], undefined, now)) as [string, string];
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
    const running = hashes.filter((h) => h.status === 'running' && Number(h.seq) < before).sort((a, b) => Number(b.seq) - Number(a.seq));
    const page = running.slice(0, limit);
    const last = page[page.length - 1];
    return {
      items: page.map(jobFromHash),
      next_cursor: running.length > limit && last ? encodeCursor({ status: 'running', seq: Number(last.seq) }) : null,
    };
  }

  /** Returns null for an unknown job. */
  async cancel(id: string, now = new Date()): Promise<{ outcome: CancelOutcome; job: Job } | null> {
    const r = cancelledFrom((await this.run(scripts.cancel, [id], undefined, now)) as string[]);
    return r && { outcome: r.outcome, job: jobFromHash(r.hash) };
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
}
