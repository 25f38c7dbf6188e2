/**
 * The API as a library, for the tests, the benchmarks and the OpenAPI generator: the app factory
 * and the Fastify plugin it registers (the process itself starts from server.ts).
 */
export { default as appPlugin, buildApp, serverOptions, type App, type AppOptions } from './app.ts';
export { NO_SUMMARY } from './help-text.ts';
// The decorations the plugins declare on FastifyInstance (app.redis, app.jobEvents, ...), for callers that use them.
export type {} from './plugins/config.ts';
export type {} from './plugins/events.ts';
export type { StreamLimits } from './plugins/events.ts';
export type {} from './plugins/metrics.ts';
export type {} from './plugins/queue.ts';
export type {} from './plugins/redis.ts';
export type {} from './plugins/snapshot.ts';
