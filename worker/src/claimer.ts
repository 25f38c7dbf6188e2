/**
 * The claimer fills the slots that settles leave free (a settle claims the next jobs in the same
 * call, settler.ts). It takes queued jobs with a non-blocking script and, when the queue is empty,
 * blocks on a connection of its own (BLMOVE).
 *
 * Claiming ahead: while jobs run short (WORKER_PREFETCH_BELOW_MS), the worker holds more jobs than
 * it runs (MIN_AHEAD), so a slot starts its next job while the previous settle is still on its
 * way: the worker and Redis then work at the same time instead of taking turns. A job claimed
 * ahead is a running job in Redis (leased, renewed, in the processing list); one that waited the
 * whole threshold for a slot goes back to the front of the queue, so long jobs never keep a job
 * from idle workers, and a long run pauses claiming ahead. claimPlan() is that policy.
 */

/**
 * Claiming ahead, a worker holds up to max(WORKER_CONCURRENCY, this) jobs more than it runs, and
 * its settles leave in batches of half of what it holds: two calls on their way at a time, each
 * shared by several jobs even at concurrency 1 (a call's own cost in Redis is most of a short
 * job's; measured in bench/queue.ts, 5 to 9 all did about as well).
 */
export const MIN_AHEAD = 8;

/** Jobs held at most while claiming ahead: one per slot, and as many again (at least MIN_AHEAD) waiting. */
export function holdAheadLimit(concurrency: number): number {
  return concurrency + Math.max(concurrency, MIN_AHEAD);
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
