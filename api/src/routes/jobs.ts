import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import { Job, JobId, JobStatus, SafeText, isEnded, confirmReplicas, ReplicasLaggingError } from '@meteorites/shared';
import { ApiError, conflict, errorResponse, notFound } from '../errors.ts';

const Err = Type.Ref('Error');

const JobRequest = Type.Object(
  {
    analysis: SafeText({ minLength: 1, maxLength: 100, description: 'An analysis name from GET /analyses.', examples: ['mass-by-class'] }),
    params: Type.Optional(
      Type.Record(Type.String(), Type.Unknown(), {
        description: "The analysis' parameters (see GET /analyses); omitted ones take their defaults.",
        examples: [{ year_from: 1900 }],
      }),
    ),
  },
  { additionalProperties: false },
);

const JobCreated = Type.Object(
  {
    ...Job.properties,
    deduplicated: Type.Boolean({
      description: 'true (status 200): the same analysis with the same params on the same dataset version already had this job.',
    }),
  },
  { description: 'The job; `Location: /jobs/{id}` names it.' },
);

const JobParams = Type.Object({ id: JobId });

const JobList = Type.Object({
  items: Type.Array(Type.Ref('Job')),
  next_cursor: Type.Union([Type.String(), Type.Null()], { description: 'Pass as `cursor` for the next page; null on the last page.' }),
});

const jobs: FastifyPluginAsyncTypebox = async (app) => {
  // Job requests are JSON only: the default text/plain parser would hand the route a string and
  // answer a misleading "body must be object" instead of 415.
  app.removeContentTypeParser('text/plain');

  app.post(
    '/jobs',
    {
      schema: {
        tags: ['jobs'],
        summary: 'Run an analysis as a job',
        description:
          'Validates the request and queues a job (202). The same analysis with the same params (defaults filled in) on the ' +
          'same dataset version answers the existing job instead (200, `deduplicated: true`), unless that job failed or was cancelled.',
        body: JobRequest,
        response: {
          200: JobCreated,
          202: JobCreated,
          400: Err,
          413: errorResponse('The body exceeds 1 MiB (`payload_too_large`)'),
          415: errorResponse('The body is not `application/json` (`unsupported_media_type`)'),
          503: Err,
        },
      },
    },
    async (request, reply) => {
      // An unknown analysis or bad params throw their own 400s (UnknownAnalysisError, InvalidParamsError).
      const valid = app.analyses.validate(request.body.analysis, request.body.params ?? {});
      const { job, deduplicated } = await app.jobs.enqueue(valid.analysis.name, valid.params);
      try {
        await confirmReplicas(app.redis, app.config);
      } catch (err) {
        if (!(err instanceof ReplicasLaggingError)) throw err;
        throw new ApiError(
          503,
          'replication_pending',
          `job ${job.id} is queued on the primary and will most likely run, but ${err.message}, so a failover now could lose it: ` +
            'POST the same job again (it is found, not queued twice) or look it up with GET /jobs/{id}',
          { job_id: job.id },
        );
      }
      reply.header('location', `/jobs/${job.id}`).status(deduplicated ? 200 : 202);
      return { ...job, deduplicated };
    },
  );

  app.get(
    '/jobs',
    {
      schema: {
        tags: ['jobs'],
        summary: 'List jobs, newest first',
        querystring: Type.Object(
          {
            status: Type.Optional(JobStatus),
            limit: Type.Integer({ minimum: 1, maximum: 1000, default: 50 }),
            cursor: Type.Optional(SafeText({ minLength: 1, maxLength: 200, description: "The previous page's `next_cursor`." })),
          },
          { additionalProperties: false },
        ),
        response: { 200: JobList, 400: Err, 503: Err },
      },
    },
    async (request) => app.jobs.list(request.query),
  );

  app.get(
    '/jobs/:id',
    {
      schema: {
        tags: ['jobs'],
        summary: 'One job; `wait` long-polls until it ends',
        description:
          'With `wait` > 0 the answer comes as soon as the job ends (finished, failed or cancelled), or after `wait` seconds with the job as it is then.',
        params: JobParams,
        querystring: Type.Object(
          { wait: Type.Number({ minimum: 0, maximum: 30, default: 0, description: 'Seconds to wait for the job to end (0..30).' }) },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Ref('Job'),
          400: errorResponse('Not a job id, whatever its length, or `wait` out of range (`validation_failed`)'),
          404: Err,
          503: Err,
        },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      const waitMs = Math.round(request.query.wait * 1000);
      const events = app.jobEvents;
      if (waitMs > 0 && events) {
        // Registered before the read: an end announced after it cannot be missed.
        const waiter = events.waiter(id);
        const gone = () => waiter.dispose();
        reply.raw.once('close', gone);
        try {
          const job = await app.jobs.get(id);
          if (!job) throw notFound('job', { id });
          if (isEnded(job.status)) return job;
          await waiter.until(waitMs);
        } finally {
          waiter.dispose();
          reply.raw.off('close', gone);
        }
      }
      const job = await app.jobs.get(id);
      if (!job) throw notFound('job', { id });
      return job;
    },
  );

  app.delete(
    '/jobs/:id',
    {
      schema: {
        tags: ['jobs'],
        summary: 'Cancel a job that has not ended',
        description:
          'A queued job is cancelled at once and never runs (200). A running job is asked to stop (202, `cancel_requested: true`): ' +
          'its worker stops at its next checkpoint and the job ends `cancelled`. A job that already ended is a 409 naming its status.',
        params: JobParams,
        response: {
          200: Type.Ref('Job'),
          202: Type.Ref('Job'),
          400: errorResponse('Not a job id, whatever its length (`validation_failed`)'),
          404: Err,
          409: Err,
          503: Err,
        },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      const r = await app.jobs.cancel(id);
      if (!r) throw notFound('job', { id });
      if (r.outcome === 'ended') throw conflict('job_ended', `job ${id} already ended: ${r.job.status}`, { status: r.job.status });
      return reply.status(r.outcome === 'cancelled' ? 200 : 202).send(r.job);
    },
  );
};

export default jobs;
