/**
 * What counts as a Redis outage: the error classes this package throws for one, and
 * isRedisUnavailable(), the one list the API's 503 and a worker's retry both consult.
 */
import {
  ClientClosedError,
  ClientOfflineError,
  ConnectionTimeoutError,
  DisconnectsClientError,
  ErrorReply,
  ReconnectStrategyError,
  SocketClosedUnexpectedlyError,
  SocketTimeoutError,
  TimeoutError,
} from 'redis';
import { ServiceError } from '../errors.ts';

/**
 * Redis is not answering. The API answers it with a generic message (the original names hosts),
 * so its own message is for logs; code, status and Retry-After are the client's.
 */
export class RedisUnavailableError extends ServiceError {
  override name = 'RedisUnavailableError';
  override readonly code = 'redis_unavailable';
  override readonly statusCode = 503;
  override readonly retryAfter = 1;
}

/** The first connection failed in a way retrying cannot fix, so connectRedis() gave up at once. */
export class RedisRejectedError extends RedisUnavailableError {
  override name = 'RedisRejectedError';
}

/**
 * A command got no reply in time: Redis is stalled (stopped, forking, overloaded) or the
 * connection is half open. Whether the command ran is unknown, as with any lost reply.
 */
export class RedisTimeoutError extends RedisUnavailableError {
  override name = 'RedisTimeoutError';
  constructor(readonly timeoutMs: number) {
    super(`Redis did not answer within ${timeoutMs} ms`);
  }
}

/**
 * node-redis' errors for "no answer from Redis now". They set no `name` (every one is `Error`),
 * so they are told apart by class. TimeoutError is node-redis' per-command timeout.
 */
const UNAVAILABLE_CLASSES: ReadonlyArray<abstract new (...args: never[]) => Error> = [
  RedisUnavailableError,
  TimeoutError,
  ClientClosedError,
  ClientOfflineError,
  ConnectionTimeoutError,
  SocketClosedUnexpectedlyError,
  SocketTimeoutError,
  ReconnectStrategyError,
  DisconnectsClientError,
];

/**
 * Error replies of a server that is up but cannot serve yet: replaying its AOF, running a long
 * script, a replica without its primary, a failover under way, out of memory for now. READONLY (a
 * demoted primary) and UNBLOCKED (a blocking pop cut short by the demotion) also make the
 * connection reconnect (guardCommands), so the retry reaches the new primary; so do a cluster's
 * MOVED (a node that no longer serves the slot) and CLUSTERDOWN (a failover under way).
 */
const UNAVAILABLE_REPLY = /^(LOADING|BUSY|MASTERDOWN|TRYAGAIN|READONLY|UNBLOCKED|OOM|MOVED|CLUSTERDOWN)\b/;

/** Socket errors of a connection that failed or could not be made. */
const UNAVAILABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']);

/**
 * Whether `err` means "Redis is not answering right now" (the API's 503, a worker's retry), as
 * opposed to a refused command or a bug: the one list of Redis outages. Follows `cause`, so a
 * wrapped socket error counts too.
 */
export function isRedisUnavailable(err: unknown): boolean {
  for (let e = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if (UNAVAILABLE_CLASSES.some((cls) => e instanceof cls)) return true;
    if (e instanceof ErrorReply) return UNAVAILABLE_REPLY.test(e.message);
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && UNAVAILABLE_CODES.has(code)) return true;
  }
  return false;
}
