/**
 * Errors of the queue protocol and of running a job, named so callers can tell them apart. None
 * reaches a client as such: they keep ServiceError's status 500 and differ by `code`.
 */
import { ServiceError } from '../errors.ts';

export { InvalidCursorError } from '../errors.ts';

/** Thrown by a job's checkpoint once DELETE /jobs/{id} asked it to stop. */
export class JobCancelledError extends ServiceError {
  override name = 'JobCancelledError';
  override readonly code = 'job_cancelled';
  constructor() {
    super('cancelled');
  }
}

/** The job ran past JOB_TIMEOUT_MS; it fails with this message. */
export class JobTimeoutError extends ServiceError {
  override name = 'JobTimeoutError';
  override readonly code = 'job_timeout';
  constructor(readonly timeoutMs: number) {
    super(`timed out after ${timeoutMs} ms`);
  }
}

/** This worker no longer holds the job's lease (recovery gave it to another): write nothing. */
export class LeaseLostError extends ServiceError {
  override name = 'LeaseLostError';
  override readonly code = 'lease_lost';
  constructor() {
    super('lease lost');
  }
}

/** The worker is shutting down and handed the job back. */
export class ShutdownError extends ServiceError {
  override name = 'ShutdownError';
  override readonly code = 'shutting_down';
  constructor() {
    super('worker shutting down');
  }
}

/** A handler cannot run the job yet (the dataset is loading): put it back for a while, no attempt spent. */
export class DeferJobError extends ServiceError {
  override name = 'DeferJobError';
  override readonly code = 'job_deferred';
  constructor(
    message: string,
    readonly delayMs: number,
  ) {
    super(message);
  }
}
