/**
 * Settle batching. A slot that finishes a job settles it and claims the next ones in the same
 * script call, and slots finishing in the same event-loop turn share that call, so a busy queue
 * costs at most one round trip per job. The starts of held jobs (claimed ahead) ride on the same
 * calls, or on one of their own at the end of the turn.
 */
import {
  isRedisUnavailable,
  LeaseLostError,
  type ClaimedJob,
  type Settlement,
  type SettleOutcome,
  confirmReplicas,
  ReplicasLaggingError,
} from '@meteorites/shared';
import { setTimeout as sleep } from 'node:timers/promises';
import { settleBatchSize } from './claimer.ts';
import type { LogContext, WorkerContext } from './context.ts';
import type { RunningJob } from './running-job.ts';

const SETTLE_TRIES = 3;

interface PendingSettle {
  a: RunningJob;
  s: Settlement;
  log: LogContext;
}

/** A settle call's item: the run's length goes with it, for the duration histogram. */
const settleItem = (p: PendingSettle) => ({ job: p.a.job, settlement: p.s, runMs: p.a.ranMs });

export class Settler {
  /** Slots wait for it before their next jobs: set for a turn of the event loop after a settle call leaves. */
  pause?: Promise<void>;
  /** A batch this large leaves at once. */
  readonly #fullBatch: number;
  #settling: PendingSettle[] = [];
  /** Held jobs a slot took this turn: Redis learns they started with the next settle call, or one of their own. */
  #starts: RunningJob[] = [];
  #startsFlush?: NodeJS.Immediate;

  constructor(
    private readonly ctx: WorkerContext,
    /** Called after each job this worker settled (for metrics and benchmarks). */
    private readonly onJobEnd?: (job: ClaimedJob, outcome: SettleOutcome) => void,
  ) {
    this.#fullBatch = settleBatchSize(ctx.config.WORKER_CONCURRENCY);
  }

  /**
   * Settles through a batch: jobs that end in the same turn of the event loop share one script
   * call, which also claims the next ones. A batch leaves at once when it is full (the
   * concurrency, or half of what the worker holds ahead) or when no job could join it.
   */
  settle(a: RunningJob, s: Settlement, log: LogContext): void {
    const { jobs } = this.ctx;
    this.#settling.push({ a, s, log });
    if (this.#settling.length >= this.#fullBatch || (jobs.running.size === 0 && jobs.ready.length === 0)) this.flush();
    else if (this.#settling.length === 1) setImmediate(() => this.flush());
  }

  flush(): void {
    const batch = this.#settling.splice(0);
    if (batch.length === 0) return;
    const { claimer } = this.ctx;
    const plan = claimer.plan();
    const want = Math.max(0, plan.want);
    claimer.asked += want;
    this.ctx.jobs.track(this.#writeSettles(batch, want, plan.hold, this.#takeStarts()));
    // Slots wait a turn of the event loop before their next jobs, so that this call leaves now and
    // Redis works on it meanwhile, rather than after them with the next batch's.
    this.pause ??= new Promise((resolve) =>
      setImmediate(() => {
        this.pause = undefined;
        resolve();
      }),
    );
  }

  /**
   * A slot took a held job (no started_at, see scripts.ts HOLD): its start is written at the end
   * of this turn, with a settle leaving then or in a call of its own. node-redis writes commands at
   * the end of the turn too, so nothing the run sends reaches Redis before its start does; a run
   * that dies before is one Redis never saw, and recovery refunds its attempt.
   */
  started(a: RunningJob): void {
    this.#starts.push(a);
    if (this.#startsFlush) return;
    this.#startsFlush = setImmediate(() => {
      this.#startsFlush = undefined;
      const started = this.#takeStarts();
      if (started.length > 0) this.ctx.jobs.track(this.#writeStarts(started));
    });
  }

  async #writeSettles(batch: PendingSettle[], want: number, hold: boolean, started: RunningJob[]): Promise<void> {
    const { claimer, config: c } = this.ctx;
    let next: ClaimedJob[] = [];
    try {
      const r = await this.ctx.queue.settle(
        this.ctx.id,
        batch.map(settleItem),
        want > 0 ? { leaseMs: c.JOB_LEASE_MS, count: want, hold } : undefined,
        started.map((a) => a.job),
      );
      await this.#confirmSettled(batch);
      batch.forEach((p, i) => this.#ended(p, r.outcomes[i]!));
      this.#applyStarts(started, r.started);
      next = r.next;
      if (next.length < want) claimer.drained();
    } catch (err) {
      // Retried one by one and claiming nothing: the reply (and any job it claimed) may be lost;
      // the sweep hands back what it claimed.
      this.ctx.leases.sweep();
      await Promise.all(batch.map((p) => this.#settleAlone(p, err)));
    } finally {
      claimer.asked -= want;
    }
    claimer.offer(next, hold);
    claimer.wake();
  }

  async #settleAlone(p: PendingSettle, firstError: unknown): Promise<void> {
    let err = firstError;
    for (let attempt = 2; attempt <= SETTLE_TRIES && isRedisUnavailable(err); attempt++) {
      await sleep(100 * 2 ** attempt);
      try {
        const r = await this.ctx.queue.settle(this.ctx.id, [settleItem(p)]);
        await this.#confirmSettled([p]);
        this.#ended(p, r.outcomes[0]!);
        return;
      } catch (e) {
        err = e;
      }
    }
    this.ctx.jobs.forget(p.a);
    this.ctx.leases.unwritten(p.a);
    this.ctx.log.error({ ...p.log, err: (err as Error).message }, 'could not settle the job; it will run again');
  }

  /**
   * REDIS_MIN_REPLICAS_ACK: a job counts as ended here only once replicas have its settle. The
   * settle stands on the primary either way: when they lag, a failover now would lose it, and
   * the job would run again once its lease ran out on the new primary (it never stays running).
   */
  async #confirmSettled(batch: PendingSettle[]): Promise<void> {
    try {
      await confirmReplicas(this.ctx.redis!, this.ctx.config);
    } catch (err) {
      // A lost WAIT reply is no better: the settle itself went through, so it is not retried.
      const message = err instanceof ReplicasLaggingError ? err.message : `WAIT failed: ${(err as Error).message}`;
      const why = 'settle not confirmed by replicas: a failover now would run the job again';
      for (const p of batch) this.ctx.log.warn({ ...p.log, err: message }, why);
    }
  }

  #ended(p: PendingSettle, outcome: SettleOutcome): void {
    const log = this.ctx.log;
    this.ctx.jobs.forget(p.a);
    if (outcome === 'lost') log.warn(p.log, 'lease lost before the job could be settled; nothing written');
    else if (outcome === 'stale') log.info(p.log, 'the dataset was replaced while the job ran: result dropped, the job is queued again');
    else if (log.isLevelEnabled('info')) log.info({ ...p.log, status: outcome, ms: Date.now() - p.a.started }, 'job ended');
    this.onJobEnd?.(p.a.job, outcome);
  }

  /** The starts still to write: runs that ended meanwhile are written by their settle. */
  #takeStarts(): RunningJob[] {
    const running = this.ctx.jobs.running;
    const started = this.#starts.filter((a) => running.has(a) && !a.stopped);
    this.#starts = [];
    return started;
  }

  async #writeStarts(started: RunningJob[]): Promise<void> {
    try {
      const r = await this.ctx.queue.settle(
        this.ctx.id,
        [],
        undefined,
        started.map((a) => a.job),
      );
      this.#applyStarts(started, r.started);
    } catch (err) {
      // Not written: the run's settle writes it, or recovery refunds the attempt if this worker dies.
      this.ctx.log.warn({ err: (err as Error).message }, 'could not record the start of jobs');
      this.ctx.leases.sweep();
    }
  }

  #applyStarts(started: RunningJob[], outcomes: readonly string[]): void {
    outcomes.forEach((o, i) => o === 'lost' && started[i]!.stop(new LeaseLostError()));
  }
}
