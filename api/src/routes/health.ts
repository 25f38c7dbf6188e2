import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';

const Status = Type.Object({ status: Type.String() });

const health: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/health',
    {
      schema: {
        tags: ['service'],
        summary: 'Liveness: 200 while the process lives',
        response: { 200: Status },
      },
    },
    async () => ({ status: 'ok' }),
  );

  app.get(
    '/ready',
    {
      schema: {
        tags: ['service'],
        summary: 'Readiness: 200 when Redis answers, else 503',
        response: { 200: Status, 503: Type.Ref('Error') },
      },
    },
    async (_request, reply) => {
      try {
        await withTimeout(app.redis.ping(), 1000);
        return { status: 'ready' };
      } catch {
        reply.header('retry-after', '1');
        return reply.status(503).send({ error: { code: 'redis_unavailable', message: 'Redis is not answering' } });
      }
    },
  );
};

/** `p`, or a rejection once `ms` pass: a Redis that hangs (rather than refuses) must not hang the caller. */
export function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('timeout')), ms);
    }),
  ]);
}

export default health;
