/**
 * The WORKER_CONCURRENCY job slots. A slot takes the next claimed job (or waits for the claimer or
 * a settle to bring one), runs it to its end and hands its settlement to the settler, moving on
 * without waiting for Redis. What a failed run comes to is decided here.
 *
 * Attempts: a start counts one; a run handed back at shutdown or deferred while the dataset
 * loads is refunded; a run lost with its worker, or retried after a transient error, is not.
 */
import {
  isRedisUnavailable,
  DeferJobError,
  JobCancelledError,
  JobTimeoutError,
  LeaseLostError,
  ShutdownError,
  type Settlement,
} from '@meteorites/shared';
import type { LogContext, WorkerContext } from './context.ts';
import type { RunningJob } from './running-job.ts';

export class Slots {
  readonly #idle: ((a: RunningJob | undefined) => void)[] = [];
  #loops: Promise<void>[] = [];

  constructor(private readonly ctx: WorkerContext) {}

  start(): void {
    this.#loops = Array.from({ length: this.ctx.config.WORKER_CONCURRENCY }, () =>
      this.#loop().catch((err: unknown) => this.ctx.log.error({ err }, 'job slot failed')),
    );
  }

  /** Gives the job to an idle slot; false when none is idle. */
  give(a: RunningJob): boolean {
    const slot = this.#idle.shift();
    if (!slot) return false;
    slot(this.#take(a));
    return true;
  }

  /** Idle slots end now, busy ones after their job. */
  stop(): void {
    for (const slot of this.#idle.splice(0)) slot(undefined);
  }

  /** Resolves once every slot has ended. */
  async ended(): Promise<void> {
    await Promise.all(this.#loops);
  }

  async #loop(): Promise<void> {
    const { jobs, settler } = this.ctx;
    while (!this.ctx.stopping) {
      if (settler.pause) await settler.pause;
      const waiting = jobs.ready.shift();
      const a = waiting ? this.#take(waiting) : await new Promise<RunningJob | undefined>((resolve) => this.#idle.push(resolve));
      if (!a) return;
      await this.#execute(a);
    }
  }

  /** A slot takes the job: counted as running from here, so claims made meanwhile do not overfill. */
  #take(a: RunningJob): RunningJob {
    a.ranAt = performance.now();
    this.ctx.jobs.running.add(a);
    if (a.held) this.ctx.settler.started(a);
    return a;
  }

  /** Runs one job to its end and queues its settle; the slot moves on without waiting for Redis. */
  async #execute(a: RunningJob): Promise<void> {
    const { jobs, config: c, log } = this.ctx;
    const job = a.job;
    const logContext: LogContext = { job: job.id, analysis: job.analysis, attempt: job.attempts };
    if (a.stopped) {
      // Its lease was taken while it waited for a slot: it is another worker's now.
      jobs.running.delete(a);
      jobs.forget(a);
      log.warn(logContext, 'lease lost before the job started; nothing written');
      this.ctx.claimer.wake();
      return;
    }
    const timeout = setTimeout(() => a.stop(new JobTimeoutError(c.JOB_TIMEOUT_MS)), c.JOB_TIMEOUT_MS);
    log.debug(logContext, 'job started');
    let settlement: Settlement | null;
    try {
      if (a.cancel) throw new JobCancelledError();
      const running = this.ctx.handler(a);
      running.catch(() => {});
      const out = await Promise.race([running, a.interrupted]);
      settlement = { status: 'finished', result: out.result, datasetVersion: out.datasetVersion, datasetGeneration: out.datasetGeneration };
    } catch (err) {
      settlement = await this.#onError(a, err, logContext);
    } finally {
      clearTimeout(timeout);
      jobs.running.delete(a);
      const ms = performance.now() - a.ranAt!;
      a.ranMs = ms;
      jobs.meanRunMs = jobs.meanRunMs === Infinity ? ms : 0.8 * jobs.meanRunMs + 0.2 * ms;
    }
    if (settlement) {
      this.ctx.settler.settle(a, settlement, logContext);
    } else {
      // No settle will claim for the freed slot: the claimer does.
      jobs.forget(a);
      this.ctx.claimer.wake();
    }
  }

  /** Decides what a failed run means; returns the settlement to write, or null when it was handed back. */
  async #onError(a: RunningJob, err: unknown, logContext: LogContext): Promise<Settlement | null> {
    const { config: c, log, leases } = this.ctx;
    if (err instanceof LeaseLostError) {
      log.warn(logContext, 'lease lost: another worker owns the job now; nothing written');
      return null;
    }
    if (err instanceof ShutdownError) return null; // close() handed it back
    if (err instanceof JobCancelledError) return { status: 'cancelled' };
    if (err instanceof JobTimeoutError) return { status: 'failed', error: err.message };
    if (err instanceof DeferJobError) {
      await leases.release(a, { delayMs: err.delayMs, refund: true }, logContext);
      log.info({ ...logContext, reason: err.message, delay_ms: err.delayMs }, 'job deferred');
      return null;
    }
    const message = err instanceof Error ? err.message || err.name : String(err);
    if (isRedisUnavailable(err) && a.job.attempts < c.JOB_MAX_ATTEMPTS) {
      const delayMs = c.JOB_RETRY_BACKOFF_MS * 2 ** (a.job.attempts - 1);
      await leases.release(a, { delayMs, refund: false, error: message }, logContext);
      log.warn({ ...logContext, err: message, delay_ms: delayMs }, 'transient error: job will be retried');
      return null;
    }
    log.warn({ ...logContext, err: message }, 'job failed');
    return { status: 'failed', error: message };
  }
}
