import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import { JobId, AnalysisResult } from '@meteorites/shared';
import { ApiError, conflict, errorResponse, notFound } from '../errors.ts';
import { negotiate } from '../negotiate.ts';
import { resultCsv } from '../result-csv.ts';

const Err = Type.Ref('Error');
const RESPONSE_TYPES = ['application/json', 'text/csv'] as const;

const results: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/results/:id',
    {
      schema: {
        tags: ['results'],
        summary: "A finished job's result",
        description:
          'The result JSON as the worker stored it. With `Accept: text/csv` or `?format=csv`, its table (`groups`, `items` or ' +
          '`cells`) as CSV, header first, as an attachment named `<analysis>-<id>.csv`. 404: no such job; 409: the job has not ' +
          'finished (`error.status` says where it is).',
        params: Type.Object({ id: JobId }),
        querystring: Type.Object(
          { format: Type.Optional(Type.Enum(['json', 'csv'], { description: 'Overrides the Accept header.' })) },
          { additionalProperties: false },
        ),
        response: {
          200: {
            description: 'The result',
            content: { 'application/json': { schema: AnalysisResult }, 'text/csv': { schema: Type.String() } },
          },
          400: errorResponse('Not a job id, whatever its length (`validation_failed`)'),
          404: Err,
          406: Err,
          409: Err,
          503: Err,
        },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      const format = request.query.format;
      const type =
        format === 'csv' ? 'text/csv' : format === 'json' ? 'application/json' : negotiate(request.headers.accept, RESPONSE_TYPES);
      if (!type) throw new ApiError(406, 'not_acceptable', `GET /results/{id} answers ${RESPONSE_TYPES.join(' or ')}`);
      const r = await app.jobs.result(id);
      if ('json' in r && type === 'text/csv') {
        const result = JSON.parse(r.json) as AnalysisResult;
        return reply
          .type('text/csv; charset=utf-8')
          .header('content-disposition', `attachment; filename="${result.analysis}-${id}.csv"`)
          .send(resultCsv(result));
      }
      // Stored as JSON already: sent as it is, not parsed and serialised again.
      if ('json' in r) return reply.type('application/json; charset=utf-8').send(r.json);
      if (r.status === null) throw notFound('job', { id });
      throw conflict('job_not_finished', `job ${id} has no result: it is ${r.status}`, { status: r.status });
    },
  );
};

export default results;
