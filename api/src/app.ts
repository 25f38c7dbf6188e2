/**
 * The API as a Fastify plugin: it never listens (server.ts does). Tests, `npm run openapi` and
 * production all build it through buildApp() with the same server options.
 */
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import fp from 'fastify-plugin';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { type Config, loggerSetup } from '@meteorites/shared';
import configPlugin from './plugins/config.ts';
import redisPlugin from './plugins/redis.ts';
import errorsPlugin, { frameworkError } from './plugins/errors.ts';
import swaggerPlugin from './plugins/swagger.ts';
import securityHeadersPlugin from './plugins/security-headers.ts';
import authPlugin from './plugins/auth.ts';
import rateLimitPlugin from './plugins/rate-limit.ts';
import snapshotPlugin from './plugins/snapshot.ts';
import queuePlugin from './plugins/queue.ts';
import metricsPlugin from './plugins/metrics.ts';
import eventsPlugin from './plugins/events.ts';
import healthRoutes from './routes/health.ts';
import dataRoutes from './routes/data.ts';
import meteoriteRoutes from './routes/meteorites.ts';
import jobRoutes from './routes/jobs.ts';
import resultRoutes from './routes/results.ts';
import chartRoutes from './routes/charts.ts';
import analysisRoutes from './routes/analyses.ts';
import metricsRoutes from './routes/metrics.ts';
import eventRoutes from './routes/events.ts';
import frontRoutes from './routes/front.ts';
import { buildSerializer } from './serializer.ts';
import { ShortRequestLog } from './request-log.ts';

export interface AppOptions {
  config: Config;
  /** false builds the app without connecting to Redis (OpenAPI generation). */
  connectRedis?: boolean;
  /** Called with the bare instance before any plugin or route: the tests add their response check (an onSend hook) here. */
  prepare?: (fastify: FastifyInstance) => void;
}

/** TRUST_PROXY as Fastify takes it: `true`, the proxies' addresses, or a hop count (as a function). */
function trustProxy(setting: string | undefined): NonNullable<FastifyServerOptions['trustProxy']> {
  if (setting === undefined || setting === 'false') return false;
  if (setting === 'true') return true;
  if (!/^\d+$/.test(setting)) return setting;
  const hops = Number(setting);
  return (_address: string, hop: number) => hop < hops;
}

export function serverOptions(config: Config): FastifyServerOptions {
  const log = loggerSetup(config, 'api');
  return {
    logger: log.stream ? { ...log.options, stream: log.stream } : log.options,
    ...(log.format === 'pretty' && { logController: new ShortRequestLog() }),
    // JSON bodies (jobs) are small; POST /data streams its body and enforces BODY_LIMIT_MB itself.
    bodyLimit: 1024 * 1024,
    // Time to RECEIVE a whole request (headers and body), not to answer it: long-polls are
    // unaffected, while a client that stalls mid-upload is cut off instead of holding a socket.
    requestTimeout: 120_000,
    ajv: { customOptions: { coerceTypes: 'array', removeAdditional: false, allErrors: false } },
    // A path id of any length reaches schema validation and is refused there as the documented 400
    // naming `params.id`; the router's default (100) answered an undocumented 414. No route has a
    // regular-expression parameter for a long value to be slow on. Node refuses a request head
    // over 16 KiB (431) before routing, so this is higher than any id that can arrive.
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 64 * 1024 },
    frameworkErrors: frameworkError,
    schemaController: { compilersFactory: { buildSerializer } },
    trustProxy: trustProxy(config.TRUST_PROXY),
  };
}

export default async function app(fastify: FastifyInstance, opts: AppOptions): Promise<void> {
  await fastify.register(configPlugin, { config: opts.config });
  await fastify.register(errorsPlugin);
  await fastify.register(securityHeadersPlugin);
  await fastify.register(authPlugin);
  await fastify.register(redisPlugin, { connect: opts.connectRedis });
  await fastify.register(rateLimitPlugin);
  await fastify.register(swaggerPlugin);
  await fastify.register(snapshotPlugin);
  await fastify.register(queuePlugin, { connect: opts.connectRedis });
  await fastify.register(metricsPlugin);
  await fastify.register(eventsPlugin, { connect: opts.connectRedis });

  await fastify.register(frontRoutes);
  await fastify.register(healthRoutes);
  await fastify.register(dataRoutes);
  await fastify.register(meteoriteRoutes);
  await fastify.register(jobRoutes);
  await fastify.register(resultRoutes);
  await fastify.register(chartRoutes);
  await fastify.register(analysisRoutes);
  await fastify.register(metricsRoutes);
  await fastify.register(eventRoutes);
}

export async function buildApp(opts: AppOptions) {
  const fastify = Fastify(serverOptions(opts.config)).withTypeProvider<TypeBoxTypeProvider>();
  opts.prepare?.(fastify);
  // fp() so the decorators (redis, config, swagger) are visible on the instance tests hold.
  await fastify.register(fp(app, { name: 'app' }), opts);
  await fastify.ready();
  return fastify;
}

export type App = Awaited<ReturnType<typeof buildApp>>;
