/**
 * GET /events and GET /jobs/{id}/events: the event stream as Server-Sent Events (see
 * ../events/hub.ts). Writes go straight to the raw response once @fastify/sse has sent its head:
 * the hub formats each event once and hands every stream the same text, where reply.sse.send()
 * would serialize it again for each of them.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type {} from '@fastify/sse';
import Type from 'typebox';
import { DATASET_EVENT_NAMES, JOB_EVENT_NAMES, STREAM_ID_PATTERN, isEnded, JobId } from '@meteorites/shared';
import { ApiError, errorResponse, notFound } from '../errors.ts';
import { formatEvent, type EventHub, type Sink } from '../events/hub.ts';

const Err = Type.Ref('Error');

/**
 * A client that does not read is cut off once this much waits in its socket's buffer; it
 * reconnects with Last-Event-ID and reads the rest from Redis, instead of from this process' memory.
 */
const MAX_BUFFERED_BYTES = 1024 * 1024;

const StreamId = Type.String({
  pattern: STREAM_ID_PATTERN,
  description: 'An event id this service sent (`<ms>-<seq>`, or `<ms>-<seq>.<n>` for the n-th event of a stream entry that holds several).',
});

const Headers = Type.Object({
  'last-event-id': Type.Optional({
    ...StreamId,
    description: 'Sent by EventSource on reconnect: the events after this one come first.',
  }),
});

const Query = Type.Object(
  {
    last_event_id: Type.Optional({
      ...StreamId,
      description: 'As the Last-Event-ID header, for a client that cannot set headers (a page reloaded); the header wins.',
    }),
  },
  { additionalProperties: false },
);

const streamResponse = (description: string) => ({
  description,
  content: { 'text/event-stream': { schema: Type.String({ description: 'Server-Sent Events' }) } },
});

const FORMAT =
  'Each message has `id` (resume with `Last-Event-ID`), `event` and one JSON `data` line. Job events (' +
  JOB_EVENT_NAMES.map((e) => `\`${e}\``).join(', ') +
  '): `{"id", "analysis", "status", "progress"?, "attempts"?, "at"}`, status being the job\'s after the event. ' +
  'Dataset events (' +
  DATASET_EVENT_NAMES.map((e) => `\`${e}\``).join(', ') +
  '): `{"state", "version"?, "records"?, "at"}`. A comment line `: ping` comes every SSE_HEARTBEAT_MS (15 s). ' +
  'A client that resumes further back than the service keeps (EVENTS_STREAM_MAXLEN) gets one `reset` event (reload ' +
  'what it shows) and then live events.';

const LIMITS =
  'Over SSE_MAX_STREAMS open streams on this API process, or SSE_MAX_STREAMS_PER_CLIENT for this client ' +
  '(`too_many_streams`, Retry-After), or Redis not answering (`redis_unavailable`)';

function sinkFor(reply: FastifyReply): Sink {
  let started = false;
  return {
    write(text) {
      const raw = reply.raw;
      if (raw.destroyed || raw.writableEnded) return false;
      if (!started) {
        reply.sse.sendHeaders();
        started = true;
      } else if (raw.writableLength > MAX_BUFFERED_BYTES) {
        return false;
      }
      raw.write(text);
      return true;
    },
    end() {
      reply.sse.close();
    },
  };
}

/** Takes a place under the caps, given back when the response closes. */
function admit(request: FastifyRequest, reply: FastifyReply): () => void {
  const app = request.server;
  try {
    const release = app.eventStreams.admit(request.ip);
    reply.raw.once('close', release);
    return release;
  } catch (err) {
    reply.header('retry-after', String((err as { details?: { retry_after_s?: number } }).details?.retry_after_s ?? 5));
    throw err;
  }
}

function hubOf(request: FastifyRequest): EventHub {
  const hub = request.server.eventHub;
  if (!hub) throw new ApiError(503, 'redis_unavailable', 'the service runs without Redis');
  return hub;
}

const events: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/events',
    {
      sse: { kind: 'manual', heartbeat: false },
      schema: {
        tags: ['events'],
        summary: 'Live job and dataset events (Server-Sent Events)',
        description: `Every job's and the dataset's state changes, from any worker and any API process, as they happen. ${FORMAT}`,
        headers: Headers,
        querystring: Query,
        response: {
          200: streamResponse('The event stream; it stays open'),
          400: errorResponse('`Last-Event-ID` or `last_event_id` is not an event id (`validation_failed`)'),
          503: errorResponse(LIMITS),
        },
      },
    },
    async (request, reply) => {
      const hub = hubOf(request);
      if (request.method === 'HEAD') return reply.type('text/event-stream').send();
      const since = request.headers['last-event-id'] ?? request.query.last_event_id;
      const release = admit(request, reply);
      try {
        const { sub, backlog, behind } = await hub.subscribe(sinkFor(reply), { since });
        reply.raw.once('close', () => sub.close());
        reply.sse.keepAlive();
        sub.start(backlog, behind);
      } catch (err) {
        release();
        throw err;
      }
    },
  );

  app.get(
    '/jobs/:id/events',
    {
      sse: { kind: 'manual', heartbeat: false },
      schema: {
        tags: ['jobs', 'events'],
        summary: "One job's events (Server-Sent Events), until it ends",
        description:
          `The events of GET /events for this job only. The stream ends after the job's \`finished\`, \`failed\` or \`cancelled\` ` +
          'event; for a job that has already ended that event comes at once (built from the job, with the current stream ' +
          'position as its id), then the end. A client should close its EventSource on that event, or it reconnects and gets it again. ' +
          FORMAT,
        params: Type.Object({ id: JobId }),
        headers: Headers,
        querystring: Query,
        response: {
          200: streamResponse("The job's events, ending after its last"),
          400: errorResponse('Not a job id, or `Last-Event-ID` / `last_event_id` not an event id (`validation_failed`)'),
          404: Err,
          503: errorResponse(LIMITS),
        },
      },
    },
    async (request, reply) => {
      const hub = hubOf(request);
      const { id } = request.params;
      if (request.method === 'HEAD') {
        if (!(await app.jobs.get(id))) throw notFound('job', { id });
        return reply.type('text/event-stream').send();
      }
      const since = request.headers['last-event-id'] ?? request.query.last_event_id;
      const release = admit(request, reply);
      try {
        // Subscribed before the job is read: an end written after the read is then delivered.
        const { sub, backlog, behind } = await hub.subscribe(sinkFor(reply), { job: id, since });
        reply.raw.once('close', () => sub.close());
        const job = await app.jobs.get(id).catch((err: unknown) => {
          sub.close();
          throw err;
        });
        if (!job) {
          sub.close();
          throw notFound('job', { id });
        }
        if (isEnded(job.status)) {
          const { analysis, status, progress, attempts, finished_at: at } = job;
          const data = { id, analysis, status, progress, attempts, at };
          sub.finish(formatEvent({ id: sub.from, event: job.status, job: id, data }));
          return;
        }
        reply.sse.keepAlive();
        sub.start(backlog, behind);
      } catch (err) {
        release();
        throw err;
      }
    },
  );
};

export default events;
