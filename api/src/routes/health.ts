import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import { deadline } from '@meteorites/shared';

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
        await deadline(app.redis.ping(), 1000);
        return { status: 'ready' };
      } catch {
        reply.header('retry-after', '1');
        return reply.status(503).send({ error: { code: 'redis_unavailable', message: 'Redis is not answering' } });
      }
    },
  );
};

export default health;
