/**
 * The job queue, workers' side (claim, progress, renew, settle, release, recover, sweep), as
 * BullMQ's Worker is to its Queue; the API side is JobQueue (./queue.ts). Every state change is
 * one Lua script (./lua/).
 *
 * Lifecycle: queued -> running -> finished | failed | cancelled. A running job goes back to
 * queued when its worker hands it back (shutdown, dataset loading, transient error) or when its
 * lease expires (worker died); after JOB_MAX_ATTEMPTS lost leases it fails with "worker lost".
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from '../redis.ts';
import { keyPrefixes, keys } from '../keys.ts';
import { QueueBase, type QueueOptions } from './base.ts';
import { PRUNE_BATCH, settleItem } from './lua/layout.ts';
import { claimedFrom, heldFrom, type ClaimedJob, type HeldJob } from './lua/replies.ts';
import { scripts } from './lua/scripts.ts';

export type { ClaimedDataset, ClaimedJob, HeldJob } from './lua/replies.ts';

export type Settlement =
  /**
   * datasetGeneration: the load the result was computed on (Snapshot.generation); a result on a
   * load that is no longer current is refused ('stale'). Unset: the result depends on no dataset
   * (not checked; recorded as computed on the load the job was asked on).
   */
  | { status: 'finished'; result: string | Buffer; datasetVersion: number; datasetGeneration?: string }
  | { status: 'failed'; error: string; datasetVersion?: number }
  | { status: 'cancelled' };

export type LeaseState = 'ok' | 'cancel' | 'lost';

/** 'stale': the result was computed on a load that is no longer current; the job is queued again. */
export type SettleOutcome = 'finished' | 'failed' | 'cancelled' | 'stale' | 'lost';

export class WorkerQueue extends QueueBase {
  /**
   * Claim tokens are `<nonce>.<call>`: this instance's random nonce and its claim calls counted
   * here. A token is only ever compared with its own job's, and a call claims a job at most once,
   * so the jobs of one call share it. Unique for ever without any counter in Redis, which would go
   * back with lost writes and hand one token to two workers.
   */
  readonly #tokenNonce = randomBytes(9).toString('base64url');
  #claimCalls = 0;

  constructor(redis: Redis, opts: QueueOptions = {}) {
    super(redis, opts);
  }

  #tokenBase(): string {
    return `${this.#tokenNonce}.${(++this.#claimCalls).toString(36)}`;
  }

  /**
   * Takes up to `count` queued jobs without blocking (none when the queue is empty). `hold`: the
   * jobs may wait in the worker for a slot, so they count as started only once settle() says so.
   */
  async claim(workerId: string, leaseMs: number, count = 1, hold = false): Promise<ClaimedJob[]> {
    return claimedFrom(
      (await this.run(
        scripts.claim,
        [workerId, leaseMs, '', count, this.#tokenBase(), hold ? '1' : '0'],
        keys.processing(workerId),
      )) as unknown[],
    );
  }

  /** Blocks (on a connection of its own) until a job id can be moved into the worker's processing list. */
  static async waitForJob(blocking: Redis, workerId: string, timeoutSeconds: number): Promise<string | null> {
    return blocking.blMove(keys.jobsQueue, keys.processing(workerId), 'RIGHT', 'LEFT', timeoutSeconds);
  }

  /** Starts an id waitForJob moved into the processing list; null when it is no longer queued. */
  async start(workerId: string, leaseMs: number, id: string, hold = false): Promise<ClaimedJob | null> {
    const reply = (await this.run(
      scripts.claim,
      [workerId, leaseMs, id, 0, this.#tokenBase(), hold ? '1' : '0'],
      keys.processing(workerId),
    )) as unknown[];
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
    items: readonly { job: ClaimedJob; settlement: Settlement; runMs?: number }[],
    next?: { leaseMs: number; count: number; hold?: boolean },
    started: readonly ClaimedJob[] = [],
  ): Promise<{ outcomes: SettleOutcome[]; next: ClaimedJob[]; started: ('started' | 'lost')[] }> {
    const n = items.length + started.length;
    const args: (string | number | Buffer)[] = [workerId, next?.leaseMs ?? 0, n];
    for (const { job, settlement: s, runMs } of items) {
      const payload = s.status === 'finished' ? s.result : s.status === 'failed' ? s.error : '';
      const version = s.status === 'cancelled' || s.datasetVersion === undefined ? '' : s.datasetVersion;
      const generation = s.status === 'finished' ? (s.datasetGeneration ?? '*') : '';
      // The run's length as the worker timed it, for the duration histogram (whole ms).
      const ms = runMs === undefined ? '' : Math.max(0, Math.round(runMs));
      args.push(...settleItem({ id: job.id, token: job.token, status: s.status, payload, version, generation, ms }));
    }
    for (const job of started) {
      // The version it runs on, as its claim found it (the claim wrote it on jobs it started itself).
      const version = job.dataset && job.dataset.state !== 'loading' ? job.dataset.version : '';
      args.push(...settleItem({ id: job.id, token: job.token, status: 'started', payload: '', version, generation: '', ms: '' }));
    }
    args.push(next?.count ?? 0, this.#tokenBase(), next?.hold ? '1' : '0');
    const reply = (await this.run(scripts.settle, args, keys.processing(workerId))) as unknown[];
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
    return (await this.run(
      scripts.release,
      [job.id, job.token, opts.delayMs, opts.refund ? '1' : '0', opts.error ?? ''],
      keys.processing(workerId),
    )) as 'released';
  }

  async progress(job: ClaimedJob, progress: number, datasetVersion?: number): Promise<LeaseState> {
    return (await this.run(scripts.progress, [job.id, job.token, progress, datasetVersion ?? ''])) as LeaseState;
  }

  /** Heartbeat plus lease renewal of the given jobs; tells per job whether it was asked to cancel or lost. */
  async renew(workerId: string, leaseMs: number, jobs: readonly ClaimedJob[]): Promise<LeaseState[]> {
    return (await this.run(scripts.renew, [workerId, leaseMs, ...jobs.flatMap((j) => [j.id, j.token])])) as LeaseState[];
  }

  async recover(maxAttempts: number, limit = 100): Promise<{ requeued: number; lost: number; promoted: number; deadWorkers: number }> {
    const [requeued, lost, promoted, deadWorkers] = (await this.run(scripts.recover, [maxAttempts, limit])) as number[];
    // Retention also runs while no job settles: what expired must not linger in the indexes.
    await this.prune();
    return { requeued: requeued!, lost: lost!, promoted: promoted!, deadWorkers: deadWorkers! };
  }

  /**
   * Removes ended jobs past the retention (age, count), with their results, charts, index and
   * dedup entries; at most `limit`, oldest first. Settles do the same as they go. Returns how many.
   */
  async prune(limit = PRUNE_BATCH): Promise<number> {
    return (await this.run(scripts.prune, [limit])) as number;
  }

  /** What the worker's processing list holds, with each job's status, token and worker as Redis has them now. */
  async held(workerId: string): Promise<HeldJob[]> {
    return heldFrom((await this.run(scripts.held, [], keys.processing(workerId))) as string[]);
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
    return (await this.run(scripts.sweep, args, keys.processing(workerId))) as number;
  }

  /**
   * Recovery of a processing list found by a scan whose worker has no live heartbeat: its
   * unstarted ids go back to the queue. Returns how many, or -1 when the worker is alive.
   */
  async recoverList(workerId: string): Promise<number> {
    return (await this.run(scripts.recoverList, [workerId], keys.processing(workerId))) as number;
  }

  /** Worker ids that have a processing list, found by SCAN (a list outlives a heartbeat recovery dropped). */
  async *processingLists(): AsyncGenerator<string> {
    for await (const batch of this.redis.scanIterator({ MATCH: `${keyPrefixes.processing}*`, COUNT: 1000 })) {
      for (const key of batch as unknown as string[]) yield key.slice(keyPrefixes.processing.length);
    }
  }
}
