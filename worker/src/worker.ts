/**
 * A worker process' engine: claims jobs from the Redis queue, runs up to WORKER_CONCURRENCY at
 * once, keeps their leases alive, and settles each exactly once (fencing makes a late writer
 * harmless). Every claimed id lives in this worker's processing list in Redis, never only here.
 *
 * WORKER_CONCURRENCY slots run the jobs. A slot that finishes a job settles it and claims the next
 * one in the same script call, and slots finishing in the same event-loop turn share that call, so
 * a busy queue costs at most one round trip per job. A claimer fills free slots otherwise: it takes
 * queued jobs with a non-blocking script and, when the queue is empty, blocks on a connection of
 * its own (BLMOVE).
 *
 * Claiming ahead: while jobs run short (WORKER_PREFETCH_BELOW_MS), the worker holds more jobs than
 * it runs (MIN_AHEAD), so a slot starts its next job while the previous settle is still on its
 * way: the worker and Redis then work at the same time instead of taking turns. A job claimed
 * ahead is a running job in Redis (leased, renewed, in the processing list); one that waited the
 * whole threshold for a slot goes back to the front of the queue, so long jobs never keep a job
 * from idle workers, and a long run pauses claiming ahead.
 *
 * Attempts: a start counts one; a run handed back at shutdown or deferred while the dataset
 * loads is refunded; a run lost with its worker, or retried after a transient error, is not.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { setImmediate as yieldToLoop, setTimeout as sleep } from 'node:timers/promises';
import { pino, type Logger } from 'pino';
import type { Config } from '@meteorites/shared/config';
import { InvalidIdError, keys } from '@meteorites/shared/keys';
import { closeRedis, connectRedis, deadline, UNTIMED, type Redis } from '@meteorites/shared/redis';
import { closeWithin, withReplyTimeout } from './timed-redis.ts';
import {
  DeferJobError,
  isTransientError,
  JobCancelledError,
  WorkerQueue,
  JobTimeoutError,
  queueOptions,
  LeaseLostError,
  ShutdownError,
  type ClaimedJob,
  type HeldJob,
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
  /** The dataset load it was computed on (Snapshot.generation): a result on a replaced load is refused and the job runs again. */
  datasetGeneration?: string;
}

/** Throws DeferJobError to be tried again later, any other error to fail (or retry, if transient). */
export type JobHandler = (run: JobRun) => Promise<JobOutput>;

/** Progress is written at most this often per job; checkpoints in between only yield. */
const PROGRESS_INTERVAL_MS = 250;
/** How long one BLMOVE waits: also how long close() may wait for the claimer to notice. */
const CLAIM_BLOCK_SECONDS = 1;
const SETTLE_TRIES = 3;
/**
 * Every this many recovery rounds, one worker scans for every processing list: a list whose
 * worker's heartbeat recovery already dropped is in no other index.
 */
const LIST_SCAN_ROUNDS = 12;
/**
 * Claiming ahead, a worker holds up to max(WORKER_CONCURRENCY, this) jobs more than it runs, and
 * its settles leave in batches of half of what it holds: two calls on their way at a time, each
 * shared by several jobs even at concurrency 1 (a call's own cost in Redis is most of a short
 * job's; measured in bench/queue.ts, 5 to 9 all did about as well).
 */
const MIN_AHEAD = 8;

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
}

/** A job this worker holds: what Redis told it about its lease, and the JobRun its handler sees. */
class Active implements JobRun {
  cancel = false;
  /** Set when the run must stop: timeout, lease lost, shutdown. */
  stopped?: Error;
  lastProgress = Date.now();
  readonly started = Date.now();
  /** performance.now() when a slot started it; unset while it waits for one. */
  ranAt?: number;
  /** Rejects once the run is stopped, so the worker need not wait for the handler's next checkpoint. */
  readonly interrupted: Promise<never>;
  #interrupt!: (reason: Error) => void;

  constructor(
    readonly job: ClaimedJob,
    /** The worker's queue on its current connection (replaced when one goes silent). */
    private readonly queue: () => WorkerQueue,
    /** Claimed ahead: Redis counts it as started only once the worker says a slot took it. */
    readonly held: boolean,
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
    await this.#report(0, datasetVersion);
  }

  async checkpoint(progress: number): Promise<void> {
    this.#throwIfStopped();
    const now = Date.now();
    if (now - this.lastProgress < PROGRESS_INTERVAL_MS) {
      await yieldToLoop();
    } else {
      this.lastProgress = now;
      await this.#report(Math.min(1, Math.max(0, progress)));
    }
    this.#throwIfStopped();
  }

  /**
   * Progress is for show: a write that fails (Redis stalled, reply lost) does not stop the run.
   * Whether the job is still ours is the renewals' and the settle's to tell.
   */
  async #report(progress: number, datasetVersion?: number): Promise<void> {
    try {
      this.apply(await this.queue().progress(this.job, progress, datasetVersion));
    } catch (err) {
      if (!isTransientError(err)) throw err;
    }
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
  #queue!: WorkerQueue;
  #connect!: (name: string) => Promise<Redis>;
  #reconnecting?: Promise<void>;
  #handler!: JobHandler;
  /** Every job this worker holds, from its claim until its settle (or hand-back) is written. */
  readonly #active = new Map<string, Active>();
  /** Claimed, waiting for a slot. */
  readonly #ready: Active[] = [];
  readonly #running = new Set<Active>();
  /** Jobs asked for by claims still on their way: counted so that two claims never overfill. */
  #asked = 0;
  /** Jobs held at most while claiming ahead: one per slot, and as many again (at least MIN_AHEAD) waiting. */
  readonly #holdAhead: number;
  /** A settle batch this large leaves at once: half of #holdAhead, so two calls are on their way. */
  readonly #fullBatch: number;
  /** Mean run time of recent jobs (ms); unknown at first, so nothing is claimed ahead before a job has run. */
  #meanRunMs = Infinity;
  readonly #idleSlots: ((a: Active | undefined) => void)[] = [];
  #slots: Promise<void>[] = [];
  #settling: PendingSettle[] = [];
  /** Held jobs a slot took this turn: Redis learns they started with the next settle call, or one of their own. */
  #starts: Active[] = [];
  #startsFlush?: NodeJS.Immediate;
  /** Settle and hand-back calls on their way; shutdown waits for them. */
  readonly #calls = new Set<Promise<void>>();
  #staleCheck?: NodeJS.Timeout;
  #pause?: Promise<void>;
  #stopping = false;
  #closing?: Promise<void>;
  #claimer?: Promise<void>;
  #wakeClaimer?: () => void;
  /** A blocking claim (BLMOVE, then the start of what it moved) is on its way; counted up at each. */
  #blockingClaim = false;
  #blockingClaims = 0;
  /** Runs this process started whose end it could not write (`id token`): a sweep does not refund them. */
  readonly #unsettled = new Set<string>();
  #sweeping?: Promise<void>;
  #sweepAgain = false;
  /** Queued ids the last sweep saw in the processing list (`id token`): still there now, no claim is starting them. */
  #queuedSeen = new Set<string>();
  #recoveries = 0;
  readonly #timers: NodeJS.Timeout[] = [];

  constructor(opts: WorkerOptions) {
    this.#config = opts.config;
    this.id = opts.id ?? defaultWorkerId();
    this.log = (opts.logger ?? pino({ level: opts.config.LOG_LEVEL })).child({ worker: this.id });
    this.#makeHandler = opts.handler;
    this.#onJobEnd = opts.onJobEnd;
    const c = opts.config.WORKER_CONCURRENCY;
    this.#holdAhead = c + Math.max(c, MIN_AHEAD);
    this.#fullBatch = Math.ceil(this.#holdAhead / 2);
  }

  async start(): Promise<void> {
    const c = this.#config;
    if (!c.REDIS_URL) throw new WorkerNotConfiguredError('REDIS_URL is not set: the worker needs the Redis the API uses');
    const onError = (err: Error) => this.log.warn({ err: err.message }, 'redis connection error');
    const connect = (name: string) => connectRedis(c.REDIS_URL!, { connectTimeoutMs: c.REDIS_CONNECT_TIMEOUT_MS, name, onError });
    this.#connect = connect;
    try {
      this.#use(await connect(`worker:${this.id}`));
      this.#blocking = await connect(`worker:${this.id}:claim`);
    } catch (err) {
      await closeRedis(this.#redis);
      throw err;
    }
    await this.#checkRedisSettings();
    await this.#queue.renew(this.id, c.JOB_LEASE_MS, []);
    this.#timers.push(setInterval(() => void this.#renew(), Math.max(100, Math.floor(c.JOB_LEASE_MS / 3))));
    this.#timers.push(
      setInterval(() => {
        void this.#recover();
        this.#sweep();
      }, c.JOB_RECOVERY_INTERVAL_MS),
    );
    void this.#recover();
    this.#slots = Array.from({ length: c.WORKER_CONCURRENCY }, () =>
      this.#slot().catch((err: unknown) => this.log.error({ err }, 'job slot failed')),
    );
    this.#claimer = this.#claimLoop();
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

  /**
   * Makes `redis` the command connection. No node-redis command timeout on the hot path (it arms
   * an AbortSignal per command, a large share of a no-op job's cost): a plain timer per call
   * instead (timed-redis.ts), which also tells when the connection went silent.
   */
  #use(redis: Redis): void {
    const c = this.#config;
    this.#redis = redis;
    const fast = withReplyTimeout(redis.withCommandOptions(UNTIMED) as unknown as Redis, c.REDIS_COMMAND_TIMEOUT_MS, () => this.#reconnect());
    this.#queue = new WorkerQueue(fast, queueOptions(c));
    this.#handler = this.#makeHandler(redis);
  }

  /**
   * A connection that answered nothing for REDIS_COMMAND_TIMEOUT_MS may be half-open (its peer
   * gone without a word): it would hang until the kernel gives up, minutes later. A new one
   * replaces it once it connects; the calls left on the old one fail as lost replies, and the
   * sweeps (on the new one) find what they did.
   */
  #reconnect(): void {
    if (this.#reconnecting || this.#closing) return;
    this.#reconnecting = (async () => {
      for (let backoff = 100; !this.#closing; backoff = Math.min(2000, backoff * 2)) {
        try {
          const fresh = await this.#connectWithin(`worker:${this.id}`);
          if (this.#closing) return void fresh.destroy();
          const old = this.#redis!;
          this.#use(fresh);
          old.destroy();
          this.log.warn({ timeout_ms: this.#config.REDIS_COMMAND_TIMEOUT_MS }, 'Redis connection silent: replaced');
          this.#sweep();
          return;
        } catch (err) {
          this.log.warn({ err: (err as Error).message }, 'could not open a new Redis connection');
          await sleep(backoff);
        }
      }
    })().finally(() => (this.#reconnecting = undefined));
  }

  /** A new connection, or an error after REDIS_CONNECT_TIMEOUT_MS: a silent server would hold its handshake for ever. */
  async #connectWithin(name: string): Promise<Redis> {
    const pending = this.#connect(name);
    try {
      return await deadline(pending, this.#config.REDIS_CONNECT_TIMEOUT_MS);
    } catch (err) {
      pending.then((late) => late.destroy(), () => {});
      throw err;
    }
  }

  /** The blocking connection answered nothing within its block time and the timeout: a new one replaces it. */
  async #replaceBlocking(): Promise<void> {
    const old = this.#blocking;
    this.#blocking = await this.#connectWithin(`worker:${this.id}:claim`);
    old?.destroy();
    this.log.warn('Redis blocking connection silent: replaced');
  }

  /** Stops claiming, lets running jobs finish within the grace period, hands back the rest, closes Redis. */
  close(): Promise<void> {
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  /** Jobs running right now (for tests and logs). */
  get running(): number {
    return this.#running.size;
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

  /** How many more jobs to claim now: free slots, and while jobs run short, those to hold ahead. */
  #wanted(): number {
    if (this.#stopping) return 0;
    const held = this.#ready.length + this.#running.size + this.#asked;
    return (this.#claimingAhead() ? this.#holdAhead : this.#config.WORKER_CONCURRENCY) - held;
  }

  #claimingAhead(): boolean {
    const limit = this.#config.WORKER_PREFETCH_BELOW_MS;
    if (!(this.#meanRunMs < limit)) return false;
    const now = performance.now();
    for (const a of this.#running) if (now - a.ranAt! >= limit) return false;
    return true;
  }

  async #claimLoop(): Promise<void> {
    const c = this.#config;
    let backoff = 0;
    while (!this.#stopping) {
      const want = this.#wanted();
      if (want <= 0) {
        await new Promise<void>((resolve) => (this.#wakeClaimer = resolve));
        continue;
      }
      this.#asked += want;
      let held = this.#claimingAhead();
      try {
        let jobs: ClaimedJob[];
        try {
          jobs = await this.#queue.claim(this.id, c.JOB_LEASE_MS, want, held);
        } finally {
          this.#asked -= want;
        }
        if (jobs.length === 0) {
          // Blocking is for a free slot only: jobs claimed ahead come from a busy queue, never from a wait.
          if (this.#running.size + this.#ready.length >= c.WORKER_CONCURRENCY) {
            await new Promise<void>((resolve) => (this.#wakeClaimer = resolve));
            continue;
          }
          this.#asked++;
          this.#blockingClaim = true;
          this.#blockingClaims++;
          try {
            const id = await deadline(
              WorkerQueue.waitForJob(this.#blocking!, this.id, CLAIM_BLOCK_SECONDS),
              CLAIM_BLOCK_SECONDS * 1000 + c.REDIS_COMMAND_TIMEOUT_MS,
            ).catch(async (err: unknown) => {
              // Failed while the connection says it is up: no reply came, it may be half-open.
              if (this.#blocking?.isReady && !this.#stopping) await this.#replaceBlocking();
              throw err;
            });
            if (!id) continue;
            if (this.#stopping) break; // the final sweep puts it back
            held = false; // for a free slot: started at once
            const job = await this.#queue.start(this.id, c.JOB_LEASE_MS, id);
            if (job) jobs.push(job);
          } finally {
            this.#asked--;
            this.#blockingClaim = false;
          }
        }
        backoff = 0;
        this.#offer(jobs, held);
      } catch (err) {
        if (this.#stopping) break;
        backoff = Math.min(2000, backoff ? backoff * 2 : 100);
        this.log.warn({ err: (err as Error).message, retry_ms: backoff }, 'claiming failed');
        await sleep(backoff);
        // A claim whose reply was lost left its jobs in our processing list, started or not.
        this.#sweep();
      }
    }
  }

  #wake(): void {
    const wake = this.#wakeClaimer;
    this.#wakeClaimer = undefined;
    wake?.();
  }

  /** Claimed jobs go to idle slots, the rest wait in line. */
  #offer(jobs: readonly ClaimedJob[], held: boolean): void {
    for (const job of jobs) {
      const a = new Active(job, () => this.#queue, held);
      this.#active.set(job.id, a);
      const slot = this.#stopping ? undefined : this.#idleSlots.shift();
      if (slot) slot(this.#take(a));
      else this.#ready.push(a);
    }
    if (this.#ready.length > 0 && !this.#staleCheck && !this.#stopping && this.#config.WORKER_PREFETCH_BELOW_MS > 0) {
      this.#staleCheck = setTimeout(() => this.#handBackStale(), this.#config.WORKER_PREFETCH_BELOW_MS);
      this.#staleCheck.unref();
    }
  }

  /** Jobs that waited the whole threshold for a slot go back to the front of the queue, for other workers. */
  #handBackStale(): void {
    this.#staleCheck = undefined;
    const limit = this.#config.WORKER_PREFETCH_BELOW_MS;
    const now = Date.now();
    const stale: Active[] = [];
    const fresh: Active[] = [];
    for (const a of this.#ready) (now - a.started >= limit ? stale : fresh).push(a);
    if (stale.length > 0) {
      this.#ready.splice(0, this.#ready.length, ...fresh);
      this.log.debug({ jobs: stale.map((a) => a.job.id) }, 'jobs claimed ahead waited too long: handed back');
      for (const a of stale) this.#handBack(a);
    }
    this.#offer([], false);
  }

  /** Puts a job that never started back in the queue; its claim does not count as an attempt. */
  #handBack(a: Active): void {
    this.#track(this.#release(a, { delayMs: 0, refund: true }, { job: a.job.id }).finally(() => this.#forget(a)));
  }

  /**
   * Drops a run from #active, but only that run: by the time a hand-back or settle completes, a
   * later claim (whose reply came in the same read) may hold the same id with a new token.
   */
  #forget(a: Active): void {
    if (this.#active.get(a.job.id) === a) this.#active.delete(a.job.id);
  }

  #track(call: Promise<void>): void {
    this.#calls.add(call);
    void call.finally(() => this.#calls.delete(call));
  }

  async #slot(): Promise<void> {
    while (!this.#stopping) {
      if (this.#pause) await this.#pause;
      const waiting = this.#ready.shift();
      const a = waiting ? this.#take(waiting) : await new Promise<Active | undefined>((resolve) => this.#idleSlots.push(resolve));
      if (!a) return;
      await this.#execute(a);
    }
  }

  /**
   * A slot takes the job: counted as running from here, so claims made meanwhile do not overfill.
   * A job claimed ahead is held (no started_at, see scripts.ts HOLD): its start is written at the
   * end of this turn, with a settle leaving then or in a call of its own. node-redis writes commands
   * at the end of the turn too, so nothing the run sends reaches Redis before its start does; a run
   * that dies before is one Redis never saw, and recovery refunds its attempt.
   */
  #take(a: Active): Active {
    a.ranAt = performance.now();
    this.#running.add(a);
    if (!a.held) return a;
    this.#starts.push(a);
    this.#startsFlush ??= setImmediate(() => {
      this.#startsFlush = undefined;
      const started = this.#takeStarts();
      if (started.length > 0) this.#track(this.#writeStarts(started));
    });
    return a;
  }

  /** The starts still to write: runs that ended meanwhile are written by their settle. */
  #takeStarts(): Active[] {
    const started = this.#starts.filter((a) => this.#running.has(a) && !a.stopped);
    this.#starts = [];
    return started;
  }

  async #writeStarts(started: Active[]): Promise<void> {
    try {
      const r = await this.#queue.settle(this.id, [], undefined, started.map((a) => a.job));
      this.#applyStarts(started, r.started);
    } catch (err) {
      // Not written: the run's settle writes it, or recovery refunds the attempt if this worker dies.
      this.log.warn({ err: (err as Error).message }, 'could not record the start of jobs');
      this.#sweep();
    }
  }

  #applyStarts(started: Active[], outcomes: readonly string[]): void {
    outcomes.forEach((o, i) => o === 'lost' && started[i]!.stop(new LeaseLostError()));
  }

  /** Runs one job to its end and queues its settle; the slot moves on without waiting for Redis. */
  async #execute(a: Active): Promise<void> {
    const job = a.job;
    const log: LogContext = { job: job.id, analysis: job.analysis, attempt: job.attempts };
    if (a.stopped) {
      // Its lease was taken while it waited for a slot: it is another worker's now.
      this.#running.delete(a);
      this.#forget(a);
      this.log.warn(log, 'lease lost before the job started; nothing written');
      this.#wake();
      return;
    }
    const timeout = setTimeout(() => a.stop(new JobTimeoutError(this.#config.JOB_TIMEOUT_MS)), this.#config.JOB_TIMEOUT_MS);
    this.log.debug(log, 'job started');
    let settlement: Settlement | null;
    try {
      if (a.cancel) throw new JobCancelledError();
      const running = this.#handler(a);
      running.catch(() => {});
      const out = await Promise.race([running, a.interrupted]);
      settlement = { status: 'finished', result: out.result, datasetVersion: out.datasetVersion, datasetGeneration: out.datasetGeneration };
    } catch (err) {
      settlement = await this.#onError(a, err, log);
    } finally {
      clearTimeout(timeout);
      this.#running.delete(a);
      const ms = performance.now() - a.ranAt!;
      this.#meanRunMs = this.#meanRunMs === Infinity ? ms : 0.8 * this.#meanRunMs + 0.2 * ms;
    }
    if (settlement) {
      this.#settle(a, settlement, log);
    } else {
      // No settle will claim for the freed slot: the claimer does.
      this.#forget(a);
      this.#wake();
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
   * Settles through a batch: jobs that end in the same turn of the event loop share one script
   * call, which also claims the next ones. A batch leaves at once when it is full (the
   * concurrency, or half of what the worker holds ahead) or when no job could join it.
   */
  #settle(a: Active, s: Settlement, log: LogContext): void {
    this.#settling.push({ a, s, log });
    if (this.#settling.length >= this.#fullBatch || (this.#running.size === 0 && this.#ready.length === 0)) this.#flushSettles();
    else if (this.#settling.length === 1) setImmediate(() => this.#flushSettles());
  }

  #flushSettles(): void {
    const batch = this.#settling.splice(0);
    if (batch.length === 0) return;
    const want = Math.max(0, this.#wanted());
    this.#asked += want;
    this.#track(this.#writeSettles(batch, want, this.#takeStarts()));
    // Slots wait a turn of the event loop before their next jobs, so that this call leaves now and
    // Redis works on it meanwhile, rather than after them with the next batch's.
    this.#pause ??= new Promise((resolve) =>
      setImmediate(() => {
        this.#pause = undefined;
        resolve();
      }),
    );
  }

  async #writeSettles(batch: PendingSettle[], want: number, started: Active[]): Promise<void> {
    let next: ClaimedJob[] = [];
    const hold = this.#claimingAhead();
    try {
      const r = await this.#queue.settle(
        this.id,
        batch.map((p) => ({ job: p.a.job, settlement: p.s })),
        want > 0 ? { leaseMs: this.#config.JOB_LEASE_MS, count: want, hold } : undefined,
        started.map((a) => a.job),
      );
      batch.forEach((p, i) => this.#ended(p, r.outcomes[i]!));
      this.#applyStarts(started, r.started);
      next = r.next;
    } catch (err) {
      // Retried one by one and claiming nothing: the reply (and any job it claimed) may be lost;
      // the sweep hands back what it claimed.
      this.#sweep();
      await Promise.all(batch.map((p) => this.#settleAlone(p, err)));
    } finally {
      this.#asked -= want;
    }
    this.#offer(next, hold);
    this.#wake();
  }

  async #settleAlone(p: PendingSettle, firstError: unknown): Promise<void> {
    let err = firstError;
    for (let attempt = 2; attempt <= SETTLE_TRIES && isTransientError(err); attempt++) {
      await sleep(100 * 2 ** attempt);
      try {
        const r = await this.#queue.settle(this.id, [{ job: p.a.job, settlement: p.s }]);
        this.#ended(p, r.outcomes[0]!);
        return;
      } catch (e) {
        err = e;
      }
    }
    this.#forget(p.a);
    this.#unsettled.add(`${p.a.job.id} ${p.a.job.token}`);
    this.#sweep();
    this.log.error({ ...p.log, err: (err as Error).message }, 'could not settle the job; it will run again');
  }

  #ended(p: PendingSettle, outcome: SettleOutcome): void {
    this.#forget(p.a);
    if (outcome === 'lost') this.log.warn(p.log, 'lease lost before the job could be settled; nothing written');
    else if (outcome === 'stale') this.log.info(p.log, 'the dataset was replaced while the job ran: result dropped, the job is queued again');
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
      this.#unsettled.add(`${a.job.id} ${a.job.token}`);
      this.#sweep();
      this.log.error({ ...log, err: (err as Error).message }, 'could not hand the job back; it will run again');
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
      this.#sweep();
    }
  }

  async #recover(): Promise<void> {
    if (!this.#redis) return;
    try {
      const r = await this.#queue.recover(this.#config.JOB_MAX_ATTEMPTS);
      if (r.requeued || r.lost || r.deadWorkers) this.log.warn(r, 'recovered jobs of lost workers');
      else if (r.promoted) this.log.debug(r, 'delayed jobs queued');
      if (++this.#recoveries % LIST_SCAN_ROUNDS === 1) await this.#recoverLists();
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'recovery failed');
    }
  }

  /**
   * Unstarted ids in the processing list of any worker without a live heartbeat go back to the
   * queue. One worker scans: the first by id among those with a heartbeat (no key of its own to
   * coordinate; when it dies, recovery drops it and the next one takes over).
   */
  async #recoverLists(): Promise<void> {
    const redis = this.#redis!; // timed by node-redis: a scan is no hot path
    const workers = await redis.zRange(keys.jobsWorkers, 0, -1);
    if (workers.length > 0 && workers.reduce((a, b) => (b < a ? b : a)) !== this.id) return;
    const queue = new WorkerQueue(redis);
    for await (const worker of queue.processingLists()) {
      if (worker === this.id) continue;
      let requeued: number;
      try {
        requeued = await queue.recoverList(worker);
      } catch (err) {
        if (err instanceof InvalidIdError) continue; // not a list this queue made
        throw err;
      }
      if (requeued > 0) this.log.warn({ dead_worker: worker, requeued }, 'recovered unstarted jobs from the list of a worker without a heartbeat');
    }
  }

  /**
   * Hands back what this worker's processing list holds and the process does not know of: jobs a
   * call claimed whose reply was lost (they run under this worker in Redis, unrenewed), ids a
   * blocking claim moved in and never started, runs whose end could not be written. Runs after
   * every failed call and periodically; one at a time, and once more if asked meanwhile.
   */
  #sweep(): void {
    if (!this.#queue || this.#closing) return;
    if (this.#sweeping) {
      this.#sweepAgain = true;
      return;
    }
    this.#sweeping = (async () => {
      do {
        this.#sweepAgain = false;
        try {
          await this.#sweepOnce(false);
        } catch (err) {
          this.log.warn({ err: (err as Error).message }, 'sweep of the processing list failed');
          break; // the next failed call or period tries again
        }
      } while (this.#sweepAgain && !this.#closing);
    })().finally(() => (this.#sweeping = undefined));
  }

  async #sweepOnce(retire: boolean): Promise<void> {
    const blockingClaims = this.#blockingClaims;
    const blockingBefore = this.#blockingClaim;
    const unsettledBefore = [...this.#unsettled];
    const held = await this.#queue.held(this.id);
    // Replies come in order on this connection: by the next turn of the event loop, every call
    // sent before held() (and whatever it claimed) has been handled, so what is still unknown was
    // claimed by a call whose reply was lost.
    await yieldToLoop();
    const known = new Set<string>();
    for (const a of this.#active.values()) known.add(`${a.job.id} ${a.job.token}`);
    // An id a blocking claim moved in is queued until its start: while one is on its way, a queued
    // id goes back only when the previous sweep saw it already.
    const blocking = blockingBefore || this.#blockingClaim || blockingClaims !== this.#blockingClaims;
    const seen = this.#queuedSeen;
    this.#queuedSeen = new Set();
    const unknown: (HeldJob & { refund: boolean })[] = [];
    for (const h of held) {
      const key = `${h.id} ${h.token}`;
      if (h.status === 'running' && (h.worker !== this.id || known.has(key))) continue;
      if (h.status === 'queued' && blocking && !seen.has(key)) {
        this.#queuedSeen.add(key);
        continue;
      }
      unknown.push({ ...h, refund: !this.#unsettled.has(key) });
    }
    // Unsettled runs no longer in the list were taken over (recovery, cancel): nothing to remember.
    const inList = new Set(held.map((h) => `${h.id} ${h.token}`));
    for (const key of unsettledBefore) if (!inList.has(key)) this.#unsettled.delete(key);
    if (unknown.length === 0 && !retire) return;
    const requeued = await this.#queue.sweep(this.id, retire, unknown);
    for (const h of unknown) this.#unsettled.delete(`${h.id} ${h.token}`);
    const running = unknown.filter((h) => h.status === 'running');
    if (running.length > 0) {
      this.log.warn({ jobs: running.map((h) => h.id), requeued }, 'jobs claimed by a call whose reply was lost: handed back');
    } else if (requeued > 0) {
      this.log.warn({ jobs: unknown.map((h) => h.id), requeued }, 'ids moved into the processing list and never started: put back');
    }
  }

  /** Jobs waiting for a slot go back to the queue; settles and hand-backs on their way are awaited (they may bring more). */
  async #handBackWaiting(): Promise<void> {
    while (this.#ready.length > 0 || this.#calls.size > 0) {
      for (const a of this.#ready.splice(0)) this.#handBack(a);
      await Promise.all(this.#calls);
    }
  }

  async #shutdown(): Promise<void> {
    if (!this.#redis) return;
    const c = this.#config;
    this.#stopping = true;
    this.log.info({ running: this.#running.size, waiting: this.#ready.length, grace_ms: c.WORKER_SHUTDOWN_GRACE_MS }, 'worker stopping');
    // A claim blocked in BLMOVE would hold close() for up to CLAIM_BLOCK_SECONDS; an id it moved
    // into the processing list just before is put back by the final sweep.
    if (this.#blocking?.isOpen) this.#blocking.destroy();
    this.#wake();
    for (const slot of this.#idleSlots.splice(0)) slot(undefined);
    clearTimeout(this.#staleCheck);
    await this.#claimer;
    for (const a of this.#ready.splice(0)) this.#handBack(a);
    const drained = Promise.all(this.#slots).then(() => true);
    const inTime = await Promise.race([drained, sleep(c.WORKER_SHUTDOWN_GRACE_MS).then(() => false)]);
    if (!inTime) {
      const left = [...this.#running];
      for (const a of left) a.stop(new ShutdownError());
      await Promise.all(left.map((a) => this.#release(a, { delayMs: 0, refund: true }, { job: a.job.id })));
      this.log.warn({ jobs: left.map((a) => a.job.id) }, 'grace period over: running jobs handed back to the queue');
      await Promise.race([drained, sleep(1000)]);
    }
    this.#flushSettles();
    await this.#handBackWaiting();
    for (const t of this.#timers) clearInterval(t);
    await this.#sweeping;
    await this.#reconnecting;
    try {
      await this.#sweepOnce(true);
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'could not deregister; recovery will clean up after the lease');
    }
    // A connection gone half-open would hold a graceful close for ever.
    await closeWithin(this.#blocking, c.REDIS_COMMAND_TIMEOUT_MS);
    await closeWithin(this.#redis, c.REDIS_COMMAND_TIMEOUT_MS);
    this.log.info('worker stopped');
  }
}
