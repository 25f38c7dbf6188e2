/**
 * The claimer fills the free slots no settle claims for (a settle claims the next jobs in the
 * same call, settler.ts). It takes queued jobs with a non-blocking script and, when the queue is
 * empty, blocks on a connection of its own (BLMOVE).
 *
 * Claiming ahead: while jobs run short (WORKER_PREFETCH_BELOW_MS), the worker holds more jobs than
 * it runs (MIN_AHEAD), so a slot starts its next job while the previous settle is still on its
 * way: the worker and Redis then work at the same time instead of taking turns. A job claimed
 * ahead is a running job in Redis (leased, renewed, in the processing list); one that waited the
 * whole threshold for a slot goes back to the front of the queue, so long jobs never keep a job
 * from idle workers, and a long run pauses claiming ahead. claimPlan() is that policy.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { deadline, type Redis, WorkerQueue, type ClaimedJob } from '@meteorites/shared';
import type { WorkerContext } from './context.ts';
import { RunningJob } from './running-job.ts';

/** How long one BLMOVE waits: also how long close() may wait for the claimer to notice. */
const CLAIM_BLOCK_SECONDS = 1;
/**
 * Claiming ahead, a worker holds up to max(AHEAD_PER_SLOT × WORKER_CONCURRENCY, MIN_AHEAD) jobs
 * more than it runs, and its settles leave in batches of half of what it holds: two calls on their
 * way at a time, each shared by several jobs even at concurrency 1 (a call's own cost in Redis is
 * most of a short job's; measured in bench/queue.ts, 5 to 9 all did about as well).
 */
export const MIN_AHEAD = 8;
/**
 * Held ahead per slot. A call has a cost of its own in Redis (the script's start, a write per key
 * it touches at its end, MULTI/EXEC in the AOF, the reply), so larger batches share it among more
 * jobs: no-op jobs at concurrency 20, Redis CPU per job 23.3 → 21.3 µs and 35.4k → 39.0k jobs/s
 * (mean of 7 alternating runs each) going from 1 to 3; 6 did little more (21.1 µs, 40.2k).
 */
export const AHEAD_PER_SLOT = 3;

/** Jobs held at most while claiming ahead: one per slot, and AHEAD_PER_SLOT more per slot (at least MIN_AHEAD) waiting. */
export function holdAheadLimit(concurrency: number): number {
  return concurrency + Math.max(AHEAD_PER_SLOT * concurrency, MIN_AHEAD);
}

/** A settle batch this large leaves at once: half of what the worker holds ahead, so two calls are on their way. */
export function settleBatchSize(concurrency: number): number {
  return Math.ceil(holdAheadLimit(concurrency) / 2);
}

/** What the claim-ahead policy looks at. */
export interface ClaimView {
  /** WORKER_CONCURRENCY. */
  concurrency: number;
  /** WORKER_PREFETCH_BELOW_MS: jobs are claimed ahead only while they run shorter than this (0: never). */
  prefetchBelowMs: number;
  /** Mean run time of recent jobs (ms); Infinity before the first job ended. */
  meanRunMs: number;
  /** When each running job started (performance.now() ms). */
  runningSince: readonly number[];
  now: number;
  /** Claimed jobs waiting for a slot. */
  waiting: number;
  /** Jobs asked for by claims still on their way. */
  asked: number;
  stopping: boolean;
}

export interface ClaimPlan {
  /** How many more jobs to claim now; none when 0 or less. */
  want: number;
  /** Claim them ahead (held): Redis counts one as started only once a slot takes it. */
  hold: boolean;
}

/** Claiming ahead pays while jobs run short: on average, and with none running for the whole threshold. */
export function claimingAhead(v: Pick<ClaimView, 'prefetchBelowMs' | 'meanRunMs' | 'runningSince' | 'now'>): boolean {
  if (!(v.meanRunMs < v.prefetchBelowMs)) return false;
  for (const since of v.runningSince) if (v.now - since >= v.prefetchBelowMs) return false;
  return true;
}

/** How many more jobs to claim now: free slots, and while jobs run short, those to hold ahead. */
export function claimPlan(v: ClaimView): ClaimPlan {
  const hold = claimingAhead(v);
  if (v.stopping) return { want: 0, hold };
  const held = v.waiting + v.runningSince.length + v.asked;
  return { want: (hold ? holdAheadLimit(v.concurrency) : v.concurrency) - held, hold };
}

/** Blocking is for a free slot only: jobs claimed ahead come from a busy queue, never from a wait. */
export function mayBlock(v: { concurrency: number; running: number; waiting: number }): boolean {
  return v.running + v.waiting < v.concurrency;
}

export class Claimer {
  /** Jobs asked for by claims still on their way, settles' included: counted so that two claims never overfill. */
  asked = 0;
  /** The connection BLMOVE blocks on; set by start(), replaced when it goes silent. */
  blocking?: Redis;
  #loop?: Promise<void>;
  #wakeLoop?: () => void;
  #blockingClaim = false;
  #blockingClaims = 0;
  /** A settle's claim found the queue empty just now: the next claim goes straight to the blocking wait. */
  #drained = false;
  #staleCheck?: NodeJS.Timeout;

  constructor(private readonly ctx: WorkerContext) {}

  /** A blocking claim (BLMOVE, then the start of what it moved) is on its way. */
  get blockingClaim(): boolean {
    return this.#blockingClaim;
  }

  /** Counted up at each blocking claim. */
  get blockingClaims(): number {
    return this.#blockingClaims;
  }

  start(): void {
    this.#loop = this.#claimLoop();
  }

  /**
   * Stops claiming; resolves when the loop has ended. A claim blocked in BLMOVE would hold close()
   * for up to CLAIM_BLOCK_SECONDS; an id it moved into the processing list just before is put back
   * by the final sweep.
   */
  stop(): Promise<void> {
    if (this.blocking?.isOpen) this.blocking.destroy();
    this.wake();
    clearTimeout(this.#staleCheck);
    return this.#loop ?? Promise.resolve();
  }

  /** What to claim now, by claimPlan(). */
  plan(): ClaimPlan {
    const { config: c, jobs } = this.ctx;
    return claimPlan({
      concurrency: c.WORKER_CONCURRENCY,
      prefetchBelowMs: c.WORKER_PREFETCH_BELOW_MS,
      meanRunMs: jobs.meanRunMs,
      runningSince: Array.from(jobs.running, (a) => a.ranAt!),
      now: performance.now(),
      waiting: jobs.ready.length,
      asked: this.asked,
      stopping: this.ctx.stopping,
    });
  }

  /**
   * A settle asked for jobs and got fewer: the queue is empty. The loop then blocks at once rather
   * than asking again first (a round trip per job when jobs come one at a time); a job that
   * arrived meanwhile is in the queue, and BLMOVE answers at once with it.
   */
  drained(): void {
    this.#drained = true;
  }

  wake(): void {
    const wake = this.#wakeLoop;
    this.#wakeLoop = undefined;
    wake?.();
  }

  /** Claimed jobs go to idle slots, the rest wait in line. */
  offer(claimed: readonly ClaimedJob[], held: boolean): void {
    const { jobs, config: c } = this.ctx;
    for (const job of claimed) {
      const a = new RunningJob(job, () => this.ctx.queue, held);
      jobs.active.set(job.id, a);
      if (this.ctx.stopping || !this.ctx.slots.give(a)) jobs.ready.push(a);
    }
    if (jobs.ready.length > 0 && !this.#staleCheck && !this.ctx.stopping && c.WORKER_PREFETCH_BELOW_MS > 0) {
      this.#staleCheck = setTimeout(() => this.#handBackStale(), c.WORKER_PREFETCH_BELOW_MS);
      this.#staleCheck.unref();
    }
  }

  async #claimLoop(): Promise<void> {
    const { config: c, jobs, id } = this.ctx;
    let backoff = 0;
    while (!this.ctx.stopping) {
      const plan = this.plan();
      const want = plan.want;
      if (want <= 0) {
        await new Promise<void>((resolve) => (this.#wakeLoop = resolve));
        continue;
      }
      this.asked += want;
      let held = plan.hold;
      try {
        let claimed: ClaimedJob[] = [];
        const drained = this.#drained;
        this.#drained = false;
        try {
          if (!drained) claimed = await this.ctx.queue.claim(id, c.JOB_LEASE_MS, want, held);
        } finally {
          this.asked -= want;
        }
        if (claimed.length === 0) {
          if (!mayBlock({ concurrency: c.WORKER_CONCURRENCY, running: jobs.running.size, waiting: jobs.ready.length })) {
            await new Promise<void>((resolve) => (this.#wakeLoop = resolve));
            continue;
          }
          this.asked++;
          this.#blockingClaim = true;
          this.#blockingClaims++;
          try {
            const jobId = await deadline(
              WorkerQueue.waitForJob(this.blocking!, id, CLAIM_BLOCK_SECONDS),
              CLAIM_BLOCK_SECONDS * 1000 + c.REDIS_COMMAND_TIMEOUT_MS,
            ).catch(async (err: unknown) => {
              // Failed while the connection says it is up: no reply came, it may be half-open.
              if (this.blocking?.isReady && !this.ctx.stopping) await this.#replaceBlocking();
              throw err;
            });
            if (!jobId) continue;
            if (this.ctx.stopping) break; // the final sweep puts it back
            held = false; // for a free slot: started at once
            const job = await this.ctx.queue.start(id, c.JOB_LEASE_MS, jobId);
            if (job) claimed.push(job);
          } finally {
            this.asked--;
            this.#blockingClaim = false;
          }
        }
        backoff = 0;
        this.offer(claimed, held);
      } catch (err) {
        if (this.ctx.stopping) break;
        backoff = Math.min(2000, backoff ? backoff * 2 : 100);
        this.ctx.log.warn({ err: (err as Error).message, retry_ms: backoff }, 'claiming failed');
        await sleep(backoff);
        // A claim whose reply was lost left its jobs in our processing list, started or not.
        this.ctx.leases.sweep();
      }
    }
  }

  /** The blocking connection answered nothing within its block time and the timeout: a new one replaces it. */
  async #replaceBlocking(): Promise<void> {
    const old = this.blocking;
    this.blocking = await this.ctx.connect(`worker:${this.ctx.id}:claim`);
    old?.destroy();
    this.ctx.log.warn('Redis blocking connection silent: replaced');
  }

  /** Jobs that waited the whole threshold for a slot go back to the front of the queue, for other workers. */
  #handBackStale(): void {
    this.#staleCheck = undefined;
    const { jobs } = this.ctx;
    const limit = this.ctx.config.WORKER_PREFETCH_BELOW_MS;
    const now = Date.now();
    const stale: RunningJob[] = [];
    const fresh: RunningJob[] = [];
    for (const a of jobs.ready) (now - a.started >= limit ? stale : fresh).push(a);
    if (stale.length > 0) {
      jobs.ready.splice(0, jobs.ready.length, ...fresh);
      this.ctx.log.debug({ jobs: stale.map((a) => a.job.id) }, 'jobs claimed ahead waited too long: handed back');
      for (const a of stale) this.ctx.leases.handBack(a);
    }
    this.offer([], false);
  }
}
