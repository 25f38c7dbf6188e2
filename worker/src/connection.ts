/**
 * The worker's command connection, its queue and its job handler, and their replacement when the
 * connection goes silent. (The claimer's blocking connection is the claimer's, claimer.ts.)
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { type Config, connectRedis, deadline, UNTIMED, type Redis, routeOf, WorkerQueue, queueOptions } from '@meteorites/shared';
import type { JobHandler } from './running-job.ts';
import { withReplyTimeout } from './timed-redis.ts';

export interface ConnectionOptions {
  id: string;
  log: Logger;
  config: Config;
  /** Builds the job handler from the command connection. */
  makeHandler: (redis: Redis) => JobHandler;
  /** The worker is closing: no new connection is opened. */
  closing: () => boolean;
  /** A new connection replaced a silent one: what calls on the old one did is for the sweep to find. */
  onReplaced: () => void;
}

export class CommandConnection {
  redis?: Redis;
  queue!: WorkerQueue;
  handler!: JobHandler;
  #reconnecting?: Promise<void>;

  constructor(private readonly opts: ConnectionOptions) {}

  /** Resolves once a replacement under way is done. */
  get reconnecting(): Promise<void> | undefined {
    return this.#reconnecting;
  }

  /** A new connection, with REDIS_URL (start() checked it is set). */
  connect(name: string): Promise<Redis> {
    const { config: c, log } = this.opts;
    const onError = (err: Error) => log.warn({ err: err.message }, 'redis connection error');
    return connectRedis(c.REDIS_URL!, { connectTimeoutMs: c.REDIS_CONNECT_TIMEOUT_MS, name, onError, ...routeOf(c) });
  }

  /** A new connection, or an error after REDIS_CONNECT_TIMEOUT_MS: a silent server would hold its handshake for ever. */
  async connectWithin(name: string): Promise<Redis> {
    const pending = this.connect(name);
    try {
      return await deadline(pending, this.opts.config.REDIS_CONNECT_TIMEOUT_MS);
    } catch (err) {
      pending.then(
        (late) => late.destroy(),
        () => {},
      );
      throw err;
    }
  }

  /**
   * Makes `redis` the command connection. No node-redis command timeout on the hot path (it arms
   * an AbortSignal per command, a large share of a no-op job's cost): a plain timer per call
   * instead (timed-redis.ts), which also tells when the connection went silent.
   */
  use(redis: Redis): void {
    const c = this.opts.config;
    this.redis = redis;
    const untimed = redis.withCommandOptions(UNTIMED) as unknown as Redis;
    const fast = withReplyTimeout(untimed, c.REDIS_COMMAND_TIMEOUT_MS, () => this.#reconnect());
    this.queue = new WorkerQueue(fast, queueOptions(c));
    this.handler = this.opts.makeHandler(redis);
  }

  /**
   * A connection that answered nothing for REDIS_COMMAND_TIMEOUT_MS may be half-open (its peer
   * gone without a word): it would hang until the kernel gives up, minutes later. A new one
   * replaces it once it connects; the calls left on the old one fail as lost replies, and the
   * sweeps (on the new one) find what they did.
   */
  #reconnect(): void {
    const { id, log, closing } = this.opts;
    if (this.#reconnecting || closing()) return;
    this.#reconnecting = (async () => {
      for (let backoff = 100; !closing(); backoff = Math.min(2000, backoff * 2)) {
        try {
          const fresh = await this.connectWithin(`worker:${id}`);
          if (closing()) return void fresh.destroy();
          const old = this.redis!;
          this.use(fresh);
          old.destroy();
          log.warn({ timeout_ms: this.opts.config.REDIS_COMMAND_TIMEOUT_MS }, 'Redis connection silent: replaced');
          this.opts.onReplaced();
          return;
        } catch (err) {
          log.warn({ err: (err as Error).message }, 'could not open a new Redis connection');
          await sleep(backoff);
        }
      }
    })().finally(() => (this.#reconnecting = undefined));
  }

  /** Warns about Redis settings under which acknowledged jobs could be lost. */
  async checkSettings(): Promise<void> {
    const log = this.opts.log;
    try {
      const cfg = (await this.redis!.configGet(['maxmemory-policy', 'appendonly', 'save'])) as Record<string, string>;
      if (cfg['maxmemory-policy'] !== 'noeviction') {
        log.warn(
          { 'maxmemory-policy': cfg['maxmemory-policy'] },
          'Redis maxmemory-policy is not noeviction: under memory pressure Redis may evict jobs, queue entries and results',
        );
      }
      if (cfg.appendonly !== 'yes' && !cfg.save) {
        log.warn('Redis persistence is off (no AOF, no RDB save): a Redis restart loses every job and result');
      }
    } catch (err) {
      log.warn(
        { err: (err as Error).message },
        'could not read the Redis configuration; make sure maxmemory-policy is noeviction and persistence is on',
      );
    }
  }
}
