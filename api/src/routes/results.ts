import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import { JobId } from '@meteorites/shared/schemas';
import { AnalysisResult } from '@meteorites/shared/analyses/index';
import { conflict, errorResponse, notFound } from '../errors.ts';

const Err = Type.Ref('Error');

const results: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/results/:id',
    {
      schema: {
        tags: ['results'],
        summary: "A finished job's result",
        description: 'The result JSON as the worker stored it. 404: no such job; 409: the job has not finished (`error.status` says where it is).',
        params: Type.Object({ id: JobId }),
        response: { 200: AnalysisResult, 400: errorResponse('Not a job id, whatever its length (`validation_failed`)'), 404: Err, 409: Err, 503: Err },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      const r = await app.jobs.result(id);
      // Stored as JSON already: sent as it is, not parsed and serialised again.
      if ('json' in r) return reply.type('application/json; charset=utf-8').send(r.json);
      if (r.status === null) throw notFound('job', { id });
      throw conflict('job_not_finished', `job ${id} has no result: it is ${r.status}`, { status: r.status });
    },
  );
};

export default results;
