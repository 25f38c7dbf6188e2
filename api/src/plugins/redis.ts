/**
 * The API's Redis client. Connects when the app is built (failing fast with a clear error when
 * Redis is unreachable) unless `connect: false`, which `npm run openapi` uses: building the
 * OpenAPI document needs routes, not a database. `app.openRedis` opens the further connections
 * other plugins need of their own (a subscriber, a blocking reader) with the same settings, so
 * none of them can miss one (Sentinel, cluster, timeouts).
 */
import fp from 'fastify-plugin';
import { createClient } from 'redis';
import { closeRedis, connectRedis, type Redis, routeOf } from '@meteorites/shared';

declare module 'fastify' {
  interface FastifyInstance {
    redis: Redis;
    /** Another connection with the API's settings, named `name` (CLIENT LIST); its errors are logged as `what`'s. */
    openRedis: (name: string, what: string) => Promise<Redis>;
  }
}

export interface RedisPluginOptions {
  connect?: boolean;
}

export default fp<RedisPluginOptions>(
  async (app, opts) => {
    if (opts.connect === false) {
      // A client that never connects: any command fails as "client is closed".
      app.decorate('redis', createClient() as unknown as Redis);
      app.decorate('openRedis', () => Promise.reject(new Error('this app was built without Redis (connect: false)')));
      return;
    }
    const url = app.config.REDIS_URL;
    if (!url) throw new Error('REDIS_URL is not set: the API needs a Redis (npm start runs one for you)');
    const route = routeOf(app.config);
    const open = (name: string, what: string) =>
      connectRedis(url, {
        connectTimeoutMs: app.config.REDIS_CONNECT_TIMEOUT_MS,
        name,
        ...route,
        commandTimeoutMs: app.config.REDIS_COMMAND_TIMEOUT_MS,
        onError: (err) => app.log.warn({ err: err.message }, `redis ${what} connection error`),
      });
    const client = await open('api', 'command');
    app.decorate('redis', client);
    app.decorate('openRedis', open);
    app.addHook('onClose', async () => {
      await closeRedis(client, app.config.REDIS_COMMAND_TIMEOUT_MS);
    });
  },
  { name: 'redis', dependencies: ['config'], fastify: '5.x' },
);
