/**
 * A worker process' engine: claims jobs from the Redis queue, runs up to WORKER_CONCURRENCY at
 * once, keeps their leases alive, and settles each exactly once (fencing makes a late writer
 * harmless). Every claimed id lives in this worker's processing list in Redis, never only here.
 *
 * One claimer feeds the slots: it takes queued jobs with a non-blocking script and, when the
 * queue is empty, blocks on a connection of its own (BLMOVE). A slot that finishes a job claims
 * the next one in the same script call, and slots finishing in the same event-loop turn share
 * that call, so a busy queue costs at most one round trip per job.
 *
 * Attempts: a start counts one; a run handed back at shutdown or deferred while the dataset
 * loads is refunded; a run lost with its worker, or retried after a transient error, is not.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { setImmediate as yieldToLoop, setTimeout as sleep } from 'node:timers/promises';
import { pino, type Logger } from 'pino';
import type { Config } from '@meteorites/shared/config';
import { closeRedis, connectRedis, type Redis } from '@meteorites/shared/redis';
import {
  DeferJobError,
  isTransientError,
  JobCancelledError,
  JobQueue,
  JobTimeoutError,
  LeaseLostError,
  ShutdownError,
  type ClaimedJob,
  type LeaseState,
  type Settlement,
  type SettleOutcome,
} from '@meteorites/shared/queue/index';

export interface JobRun {
  job: ClaimedJob;
  /** Reports progress (0..1); throws once the job is cancelled, timed out, lost or handed back. */
  checkpoint(progress: number): Promise<void>;
  /** Records the dataset version the job runs on (shown on the job while it runs). */
  begin(datasetVersion: number): Promise<void>;
}

export interface JobOutput {
  /** The result as a JSON string, stored as it is. */
  result: string;
  datasetVersion: number;
}

/** Throws DeferJobError to be tried again later, any other error to fail (or retry, if transient). */
export type JobHandler = (run: JobRun) => Promise<JobOutput>;

/** Progress is written at most this often per job; checkpoints in between only yield. */
const PROGRESS_INTERVAL_MS = 250;
/** How long one BLMOVE waits: also how long close() may wait for the claimer to notice. */
const CLAIM_BLOCK_SECONDS = 1;
const SETTLE_TRIES = 3;

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

type LogContext = Record<string, unknown>;

interface PendingSettle {
  a: Active;
  s: Settlement;
  log: LogContext;
  resolve(next: ClaimedJob | null): void;
}

/** A job this worker holds: what Redis told it about its lease, and the JobRun its handler sees. */
class Active implements JobRun {
  cancel = false;
  /** Set when the run must stop: timeout, lease lost, shutdown. */
  stopped?: Error;
  lastProgress = Date.now();
  readonly started = Date.now();
  /** Rejects once the run is stopped, so the worker need not wait for the handler's next checkpoint. */
  readonly interrupted: Promise<never>;
  #interrupt!: (reason: Error) => void;

  constructor(
    readonly job: ClaimedJob,
    private readonly queue: JobQueue,
  ) {
    this.interrupted = new Promise<never>((_, reject) => (this.#interrupt = reject));
    this.interrupted.catch(() => {});
  }

  stop(reason: Error): void {
    this.stopped ??= reason;
    this.#interrupt(this.stopped);
  }

  apply(state: LeaseState): void {
    if (state === 'cancel') this.cancel = true;
    else if (state === 'lost') this.stop(new LeaseLostError());
  }

  async begin(datasetVersion: number): Promise<void> {
    this.apply(await this.queue.progress(this.job, 0, datasetVersion));
  }

  async checkpoint(progress: number): Promise<void> {
    this.#throwIfStopped();
    const now = Date.now();
    if (now - this.lastProgress < PROGRESS_INTERVAL_MS) {
      await yieldToLoop();
    } else {
      this.lastProgress = now;
      this.apply(await this.queue.progress(this.job, Math.min(1, Math.max(0, progress))));
    }
    this.#throwIfStopped();
  }

  #throwIfStopped(): void {
    if (this.stopped) throw this.stopped;
    if (this.cancel) throw new JobCancelledError();
  }
}

export class WorkerNotConfiguredError extends Error {
  override name = 'WorkerNotConfiguredError';
}

export function defaultWorkerId(): string {
  return `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`.replace(/[^A-Za-z0-9._-]/g, '_').slice(-128);
}

export class Worker {
  readonly id: string;
  readonly log: Logger;
  readonly #config: Config;
  readonly #makeHandler: (redis: Redis) => JobHandler;
  readonly #onJobEnd: WorkerOptions['onJobEnd'];
  #redis?: Redis;
  #blocking?: Redis;
  #queue!: JobQueue;
  #handler!: JobHandler;
  readonly #active = new Map<string, Active>();
  readonly #slots = new Set<Promise<void>>();
  #settling: PendingSettle[] = [];
  #stopping = false;
  #closing?: Promise<void>;
  #claimer?: Promise<void>;
  #wakeClaimer?: () => void;
  readonly #timers: NodeJS.Timeout[] = [];

  constructor(opts: WorkerOptions) {
    this.#config = opts.config;
    this.id = opts.id ?? defaultWorkerId();
    this.log = (opts.logger ?? pino({ level: opts.config.LOG_LEVEL })).child({ worker: this.id });
    this.#makeHandler = opts.handler;
    this.#onJobEnd = opts.onJobEnd;
  }

  async start(): Promise<void> {
    const c = this.#config;
    if (!c.REDIS_URL) throw new WorkerNotConfiguredError('REDIS_URL is not set: the worker needs the Redis the API uses');
    const onError = (err: Error) => this.log.warn({ err: err.message }, 'redis connection error');
    const connect = (name: string) => connectRedis(c.REDIS_URL!, { connectTimeoutMs: c.REDIS_CONNECT_TIMEOUT_MS, name, onError });
    try {
      this.#redis = await connect(`worker:${this.id}`);
      this.#blocking = await connect(`worker:${this.id}:claim`);
    } catch (err) {
      await closeRedis(this.#redis);
      throw err;
    }
    // No per-command timeout on the hot path: node-redis arms an AbortSignal timer per command for
    // it, a large share of a no-op job's cost. Leases and fencing already cover a stuck Redis.
    const fast = this.#redis.withCommandOptions({ timeout: 0 }) as unknown as Redis;
    this.#queue = new JobQueue(fast, { resultTtlSeconds: c.RESULT_TTL_SECONDS });
    this.#handler = this.#makeHandler(this.#redis);
    await this.#checkRedisSettings();
    await this.#queue.renew(this.id, c.JOB_LEASE_MS, []);
    this.#timers.push(setInterval(() => void this.#renew(), Math.max(100, Math.floor(c.JOB_LEASE_MS / 3))));
    this.#timers.push(setInterval(() => void this.#recover(), c.JOB_RECOVERY_INTERVAL_MS));
    void this.#recover();
    this.#claimer = this.#claimLoop();
    this.log.info(
      { concurrency: c.WORKER_CONCURRENCY, lease_ms: c.JOB_LEASE_MS, timeout_ms: c.JOB_TIMEOUT_MS, max_attempts: c.JOB_MAX_ATTEMPTS },
      'worker started',
    );
  }

  /** Stops claiming, lets running jobs finish within the grace period, hands back the rest, closes Redis. */
  close(): Promise<void> {
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  /** Jobs running right now (for tests and logs). */
  get running(): number {
    return this.#active.size;
  }

  async #checkRedisSettings(): Promise<void> {
    try {
      const cfg = (await this.#redis!.configGet(['maxmemory-policy', 'appendonly', 'save'])) as Record<string, string>;
      if (cfg['maxmemory-policy'] !== 'noeviction') {
        this.log.warn(
          { 'maxmemory-policy': cfg['maxmemory-policy'] },
          'Redis maxmemory-policy is not noeviction: under memory pressure Redis may evict jobs, queue entries and results',
        );
      }
      if (cfg.appendonly !== 'yes' && !cfg.save) {
        this.log.warn('Redis persistence is off (no AOF, no RDB save): a Redis restart loses every job and result');
      }
    } catch (err) {
      this.log.warn(
        { err: (err as Error).message },
        'could not read the Redis configuration; make sure maxmemory-policy is noeviction and persistence is on',
      );
    }
  }

  async #claimLoop(): Promise<void> {
    const c = this.#config;
    let backoff = 0;
    while (!this.#stopping) {
      if (this.#slots.size >= c.WORKER_CONCURRENCY) {
        await new Promise<void>((resolve) => (this.#wakeClaimer = resolve));
        continue;
      }
      try {
        const jobs = await this.#queue.claim(this.id, c.JOB_LEASE_MS, c.WORKER_CONCURRENCY - this.#slots.size);
        if (jobs.length === 0) {
          const id = await JobQueue.waitForJob(this.#blocking!, this.id, CLAIM_BLOCK_SECONDS);
          if (!id) continue;
          if (this.#stopping) break; // the final sweep puts it back
          const job = await this.#queue.start(this.id, c.JOB_LEASE_MS, id);
          if (job) jobs.push(job);
        }
        backoff = 0;
        for (const job of jobs) this.#launch(job);
      } catch (err) {
        if (this.#stopping) break;
        backoff = Math.min(2000, backoff ? backoff * 2 : 100);
        this.log.warn({ err: (err as Error).message, retry_ms: backoff }, 'claiming failed');
        await sleep(backoff);
        // A claim whose reply was lost left its id in our processing list, unstarted.
        await this.#queue.sweep(this.id, false).catch(() => {});
      }
    }
  }

  #launch(first: ClaimedJob): void {
    const slot: Promise<void> = (async () => {
      let job: ClaimedJob | null = first;
      while (job) job = await this.#execute(job);
    })()
      .catch((err: unknown) => this.log.error({ err }, 'job slot failed'))
      .finally(() => {
        this.#slots.delete(slot);
        this.#wakeClaimer?.();
      });
    this.#slots.add(slot);
  }

  /** Runs one job to its end; returns the next job when settling claimed one. */
  async #execute(job: ClaimedJob): Promise<ClaimedJob | null> {
    const log: LogContext = { job: job.id, analysis: job.analysis, attempt: job.attempts };
    const a = new Active(job, this.#queue);
    this.#active.set(job.id, a);
    const timeout = setTimeout(() => a.stop(new JobTimeoutError(this.#config.JOB_TIMEOUT_MS)), this.#config.JOB_TIMEOUT_MS);
    this.log.debug(log, 'job started');
    try {
      let settlement: Settlement;
      try {
        const running = this.#handler(a);
        running.catch(() => {});
        const out = await Promise.race([running, a.interrupted]);
        settlement = { status: 'finished', result: out.result, datasetVersion: out.datasetVersion };
      } catch (err) {
        const s = await this.#onError(a, err, log);
        if (!s) return null;
        settlement = s;
      }
      return await this.#settle(a, settlement, log);
    } finally {
      clearTimeout(timeout);
      this.#active.delete(job.id);
    }
  }

  /** Decides what a failed run means; returns the settlement to write, or null when it was handed back. */
  async #onError(a: Active, err: unknown, log: LogContext): Promise<Settlement | null> {
    const c = this.#config;
    if (err instanceof LeaseLostError) {
      this.log.warn(log, 'lease lost: another worker owns the job now; nothing written');
      return null;
    }
    if (err instanceof ShutdownError) return null; // close() handed it back
    if (err instanceof JobCancelledError) return { status: 'cancelled' };
    if (err instanceof JobTimeoutError) return { status: 'failed', error: err.message };
    if (err instanceof DeferJobError) {
      await this.#release(a, { delayMs: err.delayMs, refund: true }, log);
      this.log.info({ ...log, reason: err.message, delay_ms: err.delayMs }, 'job deferred');
      return null;
    }
    const message = err instanceof Error ? err.message || err.name : String(err);
    if (isTransientError(err) && a.job.attempts < c.JOB_MAX_ATTEMPTS) {
      const delayMs = c.JOB_RETRY_BACKOFF_MS * 2 ** (a.job.attempts - 1);
      await this.#release(a, { delayMs, refund: false, error: message }, log);
      this.log.warn({ ...log, err: message, delay_ms: delayMs }, 'transient error: job will be retried');
      return null;
    }
    this.log.warn({ ...log, err: message }, 'job failed');
    return { status: 'failed', error: message };
  }

  /**
   * Settles through a batch: slots that end in the same turn of the event loop share one script
   * call, which also claims their next jobs. When every running job is in the batch, nobody else
   * can join: it leaves at once.
   */
  #settle(a: Active, s: Settlement, log: LogContext): Promise<ClaimedJob | null> {
    return new Promise((resolve) => {
      this.#settling.push({ a, s, log, resolve });
      if (this.#settling.length === this.#active.size) void this.#flushSettles();
      else if (this.#settling.length === 1) setImmediate(() => void this.#flushSettles());
    });
  }

  async #flushSettles(): Promise<void> {
    const batch = this.#settling.splice(0);
    if (batch.length === 0) return;
    const next = this.#stopping ? undefined : { leaseMs: this.#config.JOB_LEASE_MS, count: batch.length };
    try {
      const r = await this.#queue.settle(this.id, batch.map((p) => ({ job: p.a.job, settlement: p.s })), next);
      batch.forEach((p, i) => {
        this.#ended(p, r.outcomes[i]!);
        p.resolve(r.next[i] ?? null);
      });
    } catch (err) {
      // Retried one by one and claiming nothing: the reply (and any job it claimed) may be lost.
      await Promise.all(batch.map(async (p) => p.resolve(await this.#settleAlone(p, err))));
    }
  }

  async #settleAlone(p: PendingSettle, firstError: unknown): Promise<null> {
    let err = firstError;
    for (let attempt = 2; attempt <= SETTLE_TRIES && isTransientError(err); attempt++) {
      await sleep(100 * 2 ** attempt);
      try {
        const r = await this.#queue.settle(this.id, [{ job: p.a.job, settlement: p.s }]);
        this.#ended(p, r.outcomes[0]!);
        return null;
      } catch (e) {
        err = e;
      }
    }
    this.log.error({ ...p.log, err: (err as Error).message }, 'could not settle the job; its lease will expire and it will run again');
    return null;
  }

  #ended(p: PendingSettle, outcome: SettleOutcome): void {
    if (outcome === 'lost') this.log.warn(p.log, 'lease lost before the job could be settled; nothing written');
    else if (this.log.isLevelEnabled('info')) this.log.info({ ...p.log, status: outcome, ms: Date.now() - p.a.started }, 'job ended');
    this.#onJobEnd?.(p.a.job, outcome);
  }

  async #release(a: Active, opts: { delayMs: number; refund: boolean; error?: string }, log: LogContext): Promise<void> {
    try {
      const outcome = await this.#queue.release(this.id, a.job, opts);
      if (outcome === 'released' && opts.delayMs > 0) {
        const t = setTimeout(() => void this.#recover(), opts.delayMs + 20);
        t.unref();
      }
    } catch (err) {
      this.log.error({ ...log, err: (err as Error).message }, 'could not hand the job back; its lease will expire and it will run again');
    }
  }

  async #renew(): Promise<void> {
    if (!this.#redis) return;
    const active = [...this.#active.values()];
    try {
      const states = await this.#queue.renew(this.id, this.#config.JOB_LEASE_MS, active.map((a) => a.job));
      states.forEach((state, i) => active[i]!.apply(state));
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'lease renewal failed');
    }
  }

  async #recover(): Promise<void> {
    if (!this.#redis) return;
    try {
      const r = await this.#queue.recover(this.#config.JOB_MAX_ATTEMPTS);
      if (r.requeued || r.lost || r.deadWorkers) this.log.warn(r, 'recovered jobs of lost workers');
      else if (r.promoted) this.log.debug(r, 'delayed jobs queued');
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'recovery failed');
    }
  }

  async #shutdown(): Promise<void> {
    if (!this.#redis) return;
    const c = this.#config;
    this.#stopping = true;
    this.log.info({ running: this.#active.size, grace_ms: c.WORKER_SHUTDOWN_GRACE_MS }, 'worker stopping');
    this.#wakeClaimer?.();
    await this.#claimer;
    const drained = Promise.all(this.#slots).then(() => true);
    const inTime = await Promise.race([drained, sleep(c.WORKER_SHUTDOWN_GRACE_MS).then(() => false)]);
    if (!inTime) {
      const left = [...this.#active.values()];
      for (const a of left) a.stop(new ShutdownError());
      await Promise.all(left.map((a) => this.#release(a, { delayMs: 0, refund: true }, { job: a.job.id })));
      this.log.warn({ jobs: left.map((a) => a.job.id) }, 'grace period over: running jobs handed back to the queue');
      await Promise.race([drained, sleep(1000)]);
    }
    for (const t of this.#timers) clearInterval(t);
    try {
      await this.#queue.sweep(this.id, true);
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'could not deregister; recovery will clean up after the lease');
    }
    await closeRedis(this.#blocking);
    await closeRedis(this.#redis);
    this.log.info('worker stopped');
  }
}
