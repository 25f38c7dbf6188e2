/**
 * A job this worker holds, from its claim until its settle (or hand-back) is written: what Redis
 * told the worker about its lease, its progress reports, and what stops its run (cancellation,
 * timeout, a lost lease, shutdown). It is the JobRun its handler sees.
 */
import {
  isRedisUnavailable,
  JobCancelledError,
  LeaseLostError,
  type ClaimedJob,
  type WorkerQueue,
  type LeaseState,
} from '@meteorites/shared';
import { setImmediate as yieldToLoop } from 'node:timers/promises';

export interface JobRun {
  job: ClaimedJob;
  /** Reports progress (0..1); throws once the job is cancelled, timed out, lost or handed back. */
  progress(fraction: number): Promise<void>;
  /** Records the dataset version the job runs on (shown on the job while it runs). */
  begin(datasetVersion: number): Promise<void>;
}

export interface JobOutput {
  /** The result as JSON text (a string, or its UTF-8 bytes), stored as it is. */
  result: string | Buffer;
  datasetVersion: number;
  /** The dataset load it was computed on (Snapshot.generation): a result on a replaced load is refused and the job runs again. */
  datasetGeneration?: string;
}

/** Throws DeferJobError to be tried again later, any other error to fail (or retry, if transient). */
export type JobHandler = (run: JobRun) => Promise<JobOutput>;

/** Progress is written at most this often per job; calls in between only yield. */
const PROGRESS_INTERVAL_MS = 250;

/** A job this worker holds: what Redis told it about its lease, and the JobRun its handler sees. */
export class RunningJob implements JobRun {
  cancel = false;
  /** Set when the run must stop: timeout, lease lost, shutdown. */
  stopped?: Error;
  lastProgress = Date.now();
  readonly started = Date.now();
  /** performance.now() when a slot started it; unset while it waits for one. */
  ranAt?: number;
  /** How long its run took (ms), once it ended. */
  ranMs?: number;
  /** Rejects once the run is stopped, so the worker need not wait for the handler's next progress call. */
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

  async progress(fraction: number): Promise<void> {
    this.#throwIfStopped();
    const now = Date.now();
    if (now - this.lastProgress < PROGRESS_INTERVAL_MS) {
      await yieldToLoop();
    } else {
      this.lastProgress = now;
      await this.#report(Math.min(1, Math.max(0, fraction)));
    }
    this.#throwIfStopped();
  }

  /**
   * Progress is for show: a write that fails (Redis stalled, reply lost) does not stop the run.
   * Whether the job is still ours is the renewals' and the settle's to tell.
   */
  async #report(fraction: number, datasetVersion?: number): Promise<void> {
    try {
      this.apply(await this.queue().progress(this.job, fraction, datasetVersion));
    } catch (err) {
      if (!isRedisUnavailable(err)) throw err;
    }
  }

  #throwIfStopped(): void {
    if (this.stopped) throw this.stopped;
    if (this.cancel) throw new JobCancelledError();
  }
}
