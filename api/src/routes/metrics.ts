import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import { errorResponse } from '../errors.ts';
import { JOB_EVENTS } from '@meteorites/shared';

const metrics: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/metrics',
    {
      schema: {
        tags: ['service'],
        summary: 'Prometheus metrics',
        description:
          'Prometheus text format. Job counters (' +
          JOB_EVENTS.map((e) => `\`meteorites_jobs_${e}_total\``).join(', ') +
          '), `meteorites_job_duration_seconds`, the queue, workers and dataset gauges come from Redis, so every API ' +
          'instance shows the same totals, workers included; `meteorites_http_request_duration_seconds` is this ' +
          "process' own. 503 when Redis does not answer.",
        response: {
          200: { description: 'The metrics', content: { 'text/plain': { schema: Type.String() } } },
          503: errorResponse('Redis is not answering (`redis_unavailable`, Retry-After)'),
        },
      },
    },
    async (_request, reply) => {
      const text = await app.metrics.scrape();
      return reply.type(app.metrics.contentType).send(text);
    },
  );
};

export default metrics;
