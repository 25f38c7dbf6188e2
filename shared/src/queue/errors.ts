/** Errors of the queue protocol and of running a job, named so callers can tell them apart. */

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

const TRANSIENT_NAMES = new Set([
  'RedisUnavailableError',
  'ClientClosedError',
  'ClientOfflineError',
  'SocketClosedUnexpectedlyError',
  'ConnectionTimeoutError',
  'ReconnectStrategyError',
  'SocketTimeoutError',
]);

/** Errors worth a retry: Redis unreachable or momentarily refusing (loading, busy, out of memory). */
export function isTransientError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  return (
    TRANSIENT_NAMES.has(err.name) ||
    /^(LOADING|BUSY|TRYAGAIN|OOM|MASTERDOWN|READONLY)\b/.test(err.message) ||
    /ECONNREFUSED|ECONNRESET|EPIPE|The client is closed|client is offline|Socket closed unexpectedly/i.test(err.message)
  );
}
