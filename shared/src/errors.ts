/**
 * The one error model, after fastify's lib/errors.js: every error the code throws on purpose is
 * a small named class that extends ServiceError and carries its own `code`, HTTP `statusCode`,
 * optional `retryAfter` (seconds) and `details`. The API's error handler (api/src/plugins/
 * errors.ts) answers `{"error": {"code", "message", ...details}}` from those fields alone, so a
 * new error needs no table entry and no try/catch in a route.
 *
 * A statusCode of 500 means "not the client's business": the handler logs the error and answers
 * `internal` without its message. Errors that never reach HTTP (a worker's lease lost, a CLI's
 * usage error) keep that default and use `code` to be told apart in logs.
 */

export interface ServiceErrorOptions {
  /** Fields added to the error body next to `code` and `message` (e.g. `problems`, `field`). */
  details?: Record<string, unknown>;
  /** Seconds a client should wait before trying again: sent as Retry-After. */
  retryAfter?: number;
  cause?: unknown;
}

export class ServiceError extends Error {
  override name = 'ServiceError';
  /** Machine-readable, snake_case, stable: what clients branch on. */
  readonly code: string = 'internal';
  readonly statusCode: number = 500;
  readonly retryAfter: number | undefined;
  readonly details: Record<string, unknown>;

  constructor(message: string, options: ServiceErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.details = options.details ?? {};
    this.retryAfter = options.retryAfter;
  }
}

/**
 * A page cursor that is not one of ours, or one made for another query (GET /meteorites,
 * GET /jobs): the one cursor error of every listing.
 */
export class InvalidCursorError extends ServiceError {
  override name = 'InvalidCursorError';
  override readonly code = 'invalid_cursor';
  override readonly statusCode = 400;
  constructor(message = 'the cursor is not valid for this query: start again without it') {
    super(message);
  }
}
