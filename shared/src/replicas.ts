/**
 * REDIS_MIN_REPLICAS_ACK: an acknowledged write must survive a failover. Redis replicates
 * asynchronously, so a primary that dies right after answering may take the write with it; WAIT
 * holds the answer until that many replicas have the connection's writes so far. It does not make
 * the write synchronous: on a timeout the write stays on the primary (and is most likely kept),
 * only the promise that a failover keeps it is missing, which the caller reports.
 */
import type { Config } from './config.ts';
import { ServiceError } from './errors.ts';
import { deadline, UNTIMED, type Redis } from './redis.ts';

export class ReplicasLaggingError extends ServiceError {
  override name = 'ReplicasLaggingError';
  override readonly code = 'replication_pending';
  override readonly statusCode = 503;
  override readonly retryAfter = 1;
  constructor(
    readonly acked: number,
    readonly wanted: number,
    readonly timeoutMs: number,
  ) {
    super(`only ${acked} of ${wanted} replicas confirmed the write within ${timeoutMs} ms`);
  }
}

/** Per connection: the WAIT on the wire, and the one that goes next for the callers who came since. */
interface Waits {
  sent?: Promise<number>;
  next?: Promise<number>;
}

const waits = new WeakMap<Redis, Waits>();

/**
 * Waits until REDIS_MIN_REPLICAS_ACK replicas have every write `redis` made so far (WAIT counts
 * the writes of its own connection: call it on the connection that wrote). Nothing to do at 0.
 *
 * WAIT holds its connection until it returns, so one WAIT per request would queue them one
 * replica round trip each. Callers share instead: a WAIT covers every write its connection sent
 * before it, so whoever comes while one is on the wire joins the single next one.
 */
export async function confirmReplicas(
  redis: Redis,
  config: Pick<Config, 'REDIS_MIN_REPLICAS_ACK' | 'REDIS_REPLICA_ACK_TIMEOUT_MS' | 'REDIS_COMMAND_TIMEOUT_MS'>,
): Promise<void> {
  const wanted = config.REDIS_MIN_REPLICAS_ACK;
  if (wanted <= 0) return;
  const timeoutMs = config.REDIS_REPLICA_ACK_TIMEOUT_MS;
  let w = waits.get(redis);
  if (!w) waits.set(redis, (w = {}));
  const state = w;
  const send = () => {
    const reply = redis.withCommandOptions(UNTIMED).sendCommand(['WAIT', String(wanted), String(timeoutMs)]);
    const sent = deadline(reply, timeoutMs + config.REDIS_COMMAND_TIMEOUT_MS).then(Number);
    state.sent = sent;
    const clear = () => {
      if (state.sent === sent) state.sent = undefined;
    };
    sent.then(clear, clear);
    return sent;
  };
  let acked: Promise<number>;
  if (!state.sent) acked = send();
  else {
    state.next ??= state.sent
      .then(
        () => undefined,
        () => undefined,
      )
      .then(() => {
        state.next = undefined;
        return send();
      });
    acked = state.next;
  }
  const n = await acked;
  if (n < wanted) throw new ReplicasLaggingError(n, wanted, timeoutMs);
}
