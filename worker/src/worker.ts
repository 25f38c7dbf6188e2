/**
 * A worker process' engine: claims jobs from the Redis queue, runs up to WORKER_CONCURRENCY at
 * once, keeps their leases alive, and settles each exactly once (fencing makes a late writer
 * harmless). Every claimed id lives in this worker's processing list in Redis, never only here.
 *
 * This file is the lifecycle (start, close) and the wiring; the parts share a WorkerContext:
 * - slots.ts: the WORKER_CONCURRENCY slots that run the jobs, and what a failed run comes to;
 * - running-job.ts: a job the worker holds (its lease, progress, cancellation), the handler's JobRun;
 * - claimer.ts: the claim loop, and the claim-ahead policy as a pure function;
 * - settler.ts: settle batching (a settle also claims the next jobs);
 * - leases.ts: lease renewal, recovery, the sweep of the worker's own list, and hand-backs;
 * - connection.ts: the command connection, replaced when it goes silent.
 */
import { ServiceError, type Config, closeRedis, type Redis, ShutdownError, type ClaimedJob, type SettleOutcome } from '@meteorites/shared';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino, type Logger } from 'pino';
import { Claimer } from './claimer.ts';
import { CommandConnection } from './connection.ts';
import { WorkerContext } from './context.ts';
import { Leases } from './leases.ts';
import type { JobHandler } from './running-job.ts';
import { Settler } from './settler.ts';
import { Slots } from './slots.ts';
import { closeWithin } from './timed-redis.ts';

export type { JobHandler, JobOutput, JobRun } from './running-job.ts';

export interface WorkerOptions {
  config: Config;
  logger?: Logger;
  /** Names the processing list; default host-pid-random. */
  id?: string;
  /** Builds the job handler from the worker's command connection (main.ts: run the analysis). */
  handler: (redis: Redis) => JobHandler;
  /** Called after each job this worker settled (for metrics and benchmarks). */
  onJobEnd?: (job: ClaimedJob, outcome: SettleOutcome) => void;
}

export class WorkerNotConfiguredError extends ServiceError {
  override name = 'WorkerNotConfiguredError';
  override readonly code = 'worker_not_configured';
}

export function defaultWorkerId(): string {
  return `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`.replace(/[^A-Za-z0-9._-]/g, '_').slice(-128);
}

export class Worker {
  readonly id: string;
  readonly log: Logger;
  readonly #ctx: WorkerContext;
  #closing?: Promise<void>;

  constructor(opts: WorkerOptions) {
    this.id = opts.id ?? defaultWorkerId();
    this.log = (opts.logger ?? pino({ level: opts.config.LOG_LEVEL })).child({ worker: this.id });
    const connection: CommandConnection = new CommandConnection({
      id: this.id,
      log: this.log,
      config: opts.config,
      makeHandler: opts.handler,
      closing: () => ctx.closing,
      onReplaced: () => ctx.leases.sweep(),
    });
    const ctx: WorkerContext = new WorkerContext(this.id, this.log, opts.config, connection);
    ctx.slots = new Slots(ctx);
    ctx.claimer = new Claimer(ctx);
    ctx.settler = new Settler(ctx, opts.onJobEnd);
    ctx.leases = new Leases(ctx);
    this.#ctx = ctx;
  }

  async start(): Promise<void> {
    const { config: c, connection, claimer } = this.#ctx;
    if (!c.REDIS_URL) throw new WorkerNotConfiguredError('REDIS_URL is not set: the worker needs the Redis the API uses');
    try {
      connection.use(await connection.connect(`worker:${this.id}`));
      claimer.blocking = await connection.connect(`worker:${this.id}:claim`);
    } catch (err) {
      await closeRedis(connection.redis);
      throw err;
    }
    await connection.checkSettings();
    await this.#ctx.leases.start();
    this.#ctx.slots.start();
    claimer.start();
    this.log.info(
      {
        concurrency: c.WORKER_CONCURRENCY,
        prefetch_below_ms: c.WORKER_PREFETCH_BELOW_MS,
        lease_ms: c.JOB_LEASE_MS,
        timeout_ms: c.JOB_TIMEOUT_MS,
        max_attempts: c.JOB_MAX_ATTEMPTS,
      },
      'worker started',
    );
  }

  /** Stops claiming, lets running jobs finish within the grace period, hands back the rest, closes Redis. */
  close(): Promise<void> {
    this.#ctx.closing = true;
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  /** Jobs running right now (for tests and logs). */
  get running(): number {
    return this.#ctx.jobs.running.size;
  }

  async #shutdown(): Promise<void> {
    const ctx = this.#ctx;
    const { config: c, jobs, leases } = ctx;
    if (!ctx.redis) return;
    ctx.stopping = true;
    this.log.info({ running: jobs.running.size, waiting: jobs.ready.length, grace_ms: c.WORKER_SHUTDOWN_GRACE_MS }, 'worker stopping');
    const claiming = ctx.claimer.stop();
    ctx.slots.stop();
    await claiming;
    for (const a of jobs.ready.splice(0)) leases.handBack(a);
    const drained = ctx.slots.ended().then(() => true);
    const inTime = await Promise.race([drained, sleep(c.WORKER_SHUTDOWN_GRACE_MS).then(() => false)]);
    if (!inTime) {
      const left = [...jobs.running];
      for (const a of left) a.stop(new ShutdownError());
      await Promise.all(left.map((a) => leases.release(a, { delayMs: 0, refund: true }, { job: a.job.id })));
      this.log.warn({ jobs: left.map((a) => a.job.id) }, 'grace period over: running jobs handed back to the queue');
      await Promise.race([drained, sleep(1000)]);
    }
    ctx.settler.flush();
    // Jobs still waiting for a slot go back; settles and hand-backs on their way are awaited (they may bring more).
    while (jobs.ready.length > 0 || jobs.calls.size > 0) {
      for (const a of jobs.ready.splice(0)) leases.handBack(a);
      await Promise.all(jobs.calls);
    }
    await leases.stop();
    await ctx.connection.reconnecting;
    await leases.retire();
    // A connection gone half-open would hold a graceful close for ever.
    await closeWithin(ctx.claimer.blocking, c.REDIS_COMMAND_TIMEOUT_MS);
    await closeWithin(ctx.redis, c.REDIS_COMMAND_TIMEOUT_MS);
    this.log.info('worker stopped');
  }
}
