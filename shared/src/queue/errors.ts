/** Errors of the queue protocol and of running a job, named so callers can tell them apart. */
import { ErrorReply } from 'redis';
import { isRedisUnavailable } from '../redis.ts';

export class InvalidCursorError extends Error {
  override name = 'InvalidCursorError';
  constructor() {
    super('invalid cursor: pass the next_cursor of the previous page, with the same status filter');
  }
}

/** Thrown by a job's checkpoint once DELETE /jobs/{id} asked it to stop. */
export class JobCancelledError extends Error {
  override name = 'JobCancelledError';
  constructor() {
    super('cancelled');
  }
}

/** The job ran past JOB_TIMEOUT_MS; it fails with this message. */
export class JobTimeoutError extends Error {
  override name = 'JobTimeoutError';
  constructor(readonly timeoutMs: number) {
    super(`timed out after ${timeoutMs} ms`);
  }
}

/** This worker no longer holds the job's lease (recovery gave it to another): write nothing. */
export class LeaseLostError extends Error {
  override name = 'LeaseLostError';
  constructor() {
    super('lease lost');
  }
}

/** The worker is shutting down and handed the job back. */
export class ShutdownError extends Error {
  override name = 'ShutdownError';
  constructor() {
    super('worker shutting down');
  }
}

/** A handler cannot run the job yet (the dataset is loading): put it back for a while, no attempt spent. */
export class DeferJobError extends Error {
  override name = 'DeferJobError';
  constructor(
    message: string,
    readonly delayMs: number,
  ) {
    super(message);
  }
}

/**
 * Errors worth a retry: Redis unreachable, stalled or momentarily refusing (isRedisUnavailable:
 * loading, busy, failing over), or out of memory for now.
 */
export function isTransientError(err: unknown): boolean {
  return isRedisUnavailable(err) || (err instanceof ErrorReply && /^OOM\b/.test(err.message));
}
