/**
 * Leases, as BullMQ's LockManager keeps locks: one timer renews the lease of every job this worker
 * holds (and its heartbeat), another recovers the jobs of workers that died. The sweep hands back
 * what this worker's own processing list holds and the process does not know of, and hand-backs
 * (a job leaving this worker's lease unfinished) are written here.
 */
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { InvalidIdError, keys, WorkerQueue, type HeldJob } from '@meteorites/shared';
import type { LogContext, WorkerContext } from './context.ts';
import type { RunningJob } from './running-job.ts';

/**
 * Every this many recovery rounds, one worker scans for every processing list: a list whose
 * worker's heartbeat recovery already dropped is in no other index. Not at a worker's first round:
 * the scan walks every key in Redis while the worker takes its first jobs, and a worker that
 * starts (a restart, a scale-up under load) is when the queue is busiest.
 */
const LIST_SCAN_ROUNDS = 12;

export class Leases {
  /** Runs this process started whose end it could not write (`id token`): a sweep does not refund them. */
  readonly #unsettled = new Set<string>();
  #sweeping?: Promise<void>;
  #sweepAgain = false;
  /** Queued ids the last sweep saw in the processing list (`id token`): still there now, no claim is starting them. */
  #queuedSeen = new Set<string>();
  #recoveries = 0;
  readonly #timers: NodeJS.Timeout[] = [];

  constructor(private readonly ctx: WorkerContext) {}

  /** Writes the worker's heartbeat, then renews and recovers on timers. */
  async start(): Promise<void> {
    const c = this.ctx.config;
    await this.ctx.queue.renew(this.ctx.id, c.JOB_LEASE_MS, []);
    this.#timers.push(setInterval(() => void this.#renew(), Math.max(100, Math.floor(c.JOB_LEASE_MS / 3))));
    this.#timers.push(
      setInterval(() => {
        void this.#recover();
        this.sweep();
      }, c.JOB_RECOVERY_INTERVAL_MS),
    );
    void this.#recover();
  }

  /** Stops the timers; resolves once a sweep under way is done. */
  stop(): Promise<void> {
    for (const t of this.#timers) clearInterval(t);
    return this.#sweeping ?? Promise.resolve();
  }

  /** The last sweep: hands back what is left and takes this worker's list and heartbeat out of Redis. */
  async retire(): Promise<void> {
    try {
      await this.#sweepOnce(true);
    } catch (err) {
      this.ctx.log.warn({ err: (err as Error).message }, 'could not deregister; recovery will clean up after the lease');
    }
  }

  /** Hands the job back to the queue, at once or after `delayMs`; `refund` takes back the attempt its start counted. */
  async release(a: RunningJob, opts: { delayMs: number; refund: boolean; error?: string }, log: LogContext): Promise<void> {
    try {
      const outcome = await this.ctx.queue.release(this.ctx.id, a.job, opts);
      if (outcome === 'released' && opts.delayMs > 0) {
        const t = setTimeout(() => void this.#recover(), opts.delayMs + 20);
        t.unref();
      }
    } catch (err) {
      this.unwritten(a);
      this.ctx.log.error({ ...log, err: (err as Error).message }, 'could not hand the job back; it will run again');
    }
  }

  /** Puts a job that never started back in the queue; its claim does not count as an attempt. */
  handBack(a: RunningJob): void {
    const { jobs } = this.ctx;
    jobs.track(this.release(a, { delayMs: 0, refund: true }, { job: a.job.id }).finally(() => jobs.forget(a)));
  }

  /** A run whose end (settle or hand-back) could not be written: the sweep hands it back, without a refund. */
  unwritten(a: RunningJob): void {
    this.#unsettled.add(`${a.job.id} ${a.job.token}`);
    this.sweep();
  }

  async #renew(): Promise<void> {
    if (!this.ctx.redis) return;
    const active = [...this.ctx.jobs.active.values()];
    try {
      const states = await this.ctx.queue.renew(
        this.ctx.id,
        this.ctx.config.JOB_LEASE_MS,
        active.map((a) => a.job),
      );
      states.forEach((state, i) => active[i]!.apply(state));
    } catch (err) {
      this.ctx.log.warn({ err: (err as Error).message }, 'lease renewal failed');
      this.sweep();
    }
  }

  async #recover(): Promise<void> {
    if (!this.ctx.redis) return;
    try {
      const r = await this.ctx.queue.recover(this.ctx.config.JOB_MAX_ATTEMPTS);
      if (r.requeued || r.lost || r.deadWorkers) this.ctx.log.warn(r, 'recovered jobs of lost workers');
      else if (r.promoted) this.ctx.log.debug(r, 'delayed jobs queued');
      if (++this.#recoveries % LIST_SCAN_ROUNDS === 0) await this.#recoverLists();
    } catch (err) {
      this.ctx.log.warn({ err: (err as Error).message }, 'recovery failed');
    }
  }

  /**
   * Unstarted ids in the processing list of any worker without a live heartbeat go back to the
   * queue. One worker scans: the first by id among those with a heartbeat (no key of its own to
   * coordinate; when it dies, recovery drops it and the next one takes over).
   */
  async #recoverLists(): Promise<void> {
    const redis = this.ctx.redis!; // timed by node-redis: a scan is no hot path
    const workers = await redis.zRange(keys.jobsWorkers, 0, -1);
    if (workers.length > 0 && workers.reduce((a, b) => (b < a ? b : a)) !== this.ctx.id) return;
    const queue = new WorkerQueue(redis);
    for await (const worker of queue.processingLists()) {
      if (worker === this.ctx.id) continue;
      let requeued: number;
      try {
        requeued = await queue.recoverList(worker);
      } catch (err) {
        if (err instanceof InvalidIdError) continue; // not a list this queue made
        throw err;
      }
      if (requeued > 0) {
        this.ctx.log.warn({ dead_worker: worker, requeued }, 'recovered unstarted jobs from the list of a worker without a heartbeat');
      }
    }
  }

  /**
   * Hands back what this worker's processing list holds and the process does not know of: jobs a
   * call claimed whose reply was lost (they run under this worker in Redis, unrenewed), ids a
   * blocking claim moved in and never started, runs whose end could not be written. Runs after
   * every failed call and periodically; one at a time, and once more if asked meanwhile.
   */
  sweep(): void {
    if (!this.ctx.redis || this.ctx.closing) return;
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
          this.ctx.log.warn({ err: (err as Error).message }, 'sweep of the processing list failed');
          break; // the next failed call or period tries again
        }
      } while (this.#sweepAgain && !this.ctx.closing);
    })().finally(() => (this.#sweeping = undefined));
  }

  async #sweepOnce(retire: boolean): Promise<void> {
    const { claimer, id } = this.ctx;
    const blockingClaims = claimer.blockingClaims;
    const blockingBefore = claimer.blockingClaim;
    const unsettledBefore = [...this.#unsettled];
    const held = await this.ctx.queue.held(id);
    // Replies come in order on this connection: by the next turn of the event loop, every call
    // sent before held() (and whatever it claimed) has been handled, so what is still unknown was
    // claimed by a call whose reply was lost.
    await yieldToLoop();
    const known = new Set<string>();
    for (const a of this.ctx.jobs.active.values()) known.add(`${a.job.id} ${a.job.token}`);
    // An id a blocking claim moved in is queued until its start: while one is on its way, a queued
    // id goes back only when the previous sweep saw it already.
    const blocking = blockingBefore || claimer.blockingClaim || blockingClaims !== claimer.blockingClaims;
    const seen = this.#queuedSeen;
    this.#queuedSeen = new Set();
    const unknown: (HeldJob & { refund: boolean })[] = [];
    for (const h of held) {
      const key = `${h.id} ${h.token}`;
      if (h.status === 'running' && (h.worker !== id || known.has(key))) continue;
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
    const requeued = await this.ctx.queue.sweep(id, retire, unknown);
    for (const h of unknown) this.#unsettled.delete(`${h.id} ${h.token}`);
    const running = unknown.filter((h) => h.status === 'running');
    if (running.length > 0) {
      this.ctx.log.warn({ jobs: running.map((h) => h.id), requeued }, 'jobs claimed by a call whose reply was lost: handed back');
    } else if (requeued > 0) {
      this.ctx.log.warn({ jobs: unknown.map((h) => h.id), requeued }, 'ids moved into the processing list and never started: put back');
    }
  }
}
