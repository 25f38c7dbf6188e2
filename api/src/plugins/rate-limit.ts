/**
 * Rate limits on the two expensive writes, per client address in fixed one-minute windows:
 * POST /jobs (RATE_LIMIT_JOBS_PER_MIN) and POST /data (RATE_LIMIT_DATA_PER_MIN); 0 turns one off.
 * @fastify/rate-limit does the bookkeeping; its store here is a counter in Redis on the API's own
 * connection (one Lua INCR + PEXPIRE per request), so every API process shares the same counts.
 * Over the limit: 429 `rate_limited` with Retry-After. When Redis is down the count cannot be
 * taken and the request fails like any Redis-backed one, a quick 503 (these routes need Redis
 * anyway): the limit is never silently skipped.
 */
import fp from 'fastify-plugin';
import rateLimit, { type FastifyRateLimitStore, type RateLimitOptions } from '@fastify/rate-limit';
import type { RouteOptions } from 'fastify';
import { keys, LuaScript, type Config } from '@meteorites/shared';
import { ApiError, errorResponse } from '../errors.ts';

const WINDOW_MS = 60_000;

/** The limited routes, by `METHOD url`, with the setting that sets each limit. */
const LIMITS: Record<string, { name: string; setting: keyof Config & `RATE_LIMIT_${string}` }> = {
  'POST /jobs': { name: 'jobs', setting: 'RATE_LIMIT_JOBS_PER_MIN' },
  'POST /data': { name: 'data', setting: 'RATE_LIMIT_DATA_PER_MIN' },
};

/** Counts a request and answers the count and the window's remaining ms, atomically (./rate-limit.lua). */
const COUNT = LuaScript.fromFile(import.meta.url, 'rate-limit');

/** Route options carry the limit's name to the store's child(): the plugin merges them into its params. */
type LimitOptions = RateLimitOptions & { limitName: string };

export default fp(
  async (app) => {
    class RedisWindowStore implements FastifyRateLimitStore {
      readonly limitName: string;

      constructor(params: object) {
        this.limitName = (params as Partial<LimitOptions>).limitName ?? '';
      }

      incr(client: string, callback: (err: Error | null, result?: { current: number; ttl: number }) => void, timeWindow: number): void {
        COUNT.run(app.redis, [keys.rateLimit(this.limitName, client)], [String(timeWindow)]).then(
          (reply) => {
            const [current, ttl] = reply as [number, number];
            callback(null, { current, ttl });
          },
          (err: Error) => callback(err),
        );
      }

      child(params: object): RedisWindowStore {
        return new RedisWindowStore(params);
      }
    }

    // Before @fastify/rate-limit's own onRoute hook, which reads config.rateLimit.
    app.addHook('onRoute', (route: RouteOptions) => {
      const limit = LIMITS[`${String(route.method)} ${route.url}`];
      if (!limit) return;
      const schema = route.schema as { response?: Record<string, unknown> } | undefined;
      if (schema) {
        route.schema = {
          ...schema,
          response: {
            ...schema.response,
            429: errorResponse(`More than ${limit.setting} requests from this client this minute (\`rate_limited\`, Retry-After)`),
          },
        } as RouteOptions['schema'];
      }
      const max = app.config[limit.setting];
      if (max > 0) {
        const options: LimitOptions = { max, timeWindow: WINDOW_MS, limitName: limit.name };
        route.config = { ...route.config, rateLimit: options };
      }
    });

    await app.register(rateLimit, {
      global: false,
      store: RedisWindowStore,
      errorResponseBuilder: (_request, context) =>
        new ApiError(429, 'rate_limited', `at most ${context.max} of these requests per minute; retry in ${context.after}`, {
          retry_after_s: Math.ceil(context.ttl / 1000),
        }),
    });
  },
  { name: 'rate-limit', dependencies: ['config', 'errors', 'redis'], fastify: '5.x' },
);
