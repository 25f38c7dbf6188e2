/**
 * The dataset as a whole: load it from a request body, stream it back, summarise it, delete it.
 * Bodies are never buffered: the raw request stream goes straight into the streaming parser, and
 * GET /data writes batch by batch as the client reads.
 */
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import { parseDataset, deleteDataset, getSummary, iterateMeteorites, storeDataset, type InputFormat } from '@meteorites/dataset';
import { RedisUnavailableError, confirmReplicas, ReplicasLaggingError, SafeText, type Meteorite } from '@meteorites/shared';
import { ApiError, errorResponse } from '../errors.ts';
import { negotiate } from '../negotiate.ts';
import { NASA_CSV_HEADER, nasaCsvRow } from '../nasa-csv.ts';

const FORMATS: Record<string, InputFormat> = { 'application/json': 'json', 'text/csv': 'csv' };
const RESPONSE_TYPES = ['application/json', 'text/csv'] as const;
/** The 201 answer lists this many skipped records; `skipped_total` counts them all. */
export const SKIPPED_LISTED = 1000;

const unavailable = errorResponse('Redis is not answering (`redis_unavailable`, Retry-After)');
const writeUnavailable = errorResponse(
  'Redis is not answering (`redis_unavailable`), or the load or delete stalled past its lock and stopped (`dataset_lock_lost`); both with Retry-After',
);

const LoadResult = Type.Object(
  {
    version: Type.Integer({ minimum: 1, description: 'The dataset version this load created.' }),
    records: Type.Integer({ minimum: 1, description: 'Records stored.' }),
    skipped: Type.Array(
      Type.Object({
        index: Type.Integer({ minimum: 0, description: '0-based position of the record in the input.' }),
        id: Type.Union([Type.String(), Type.Null()]),
        reason: Type.String(),
      }),
      { maxItems: SKIPPED_LISTED, description: `Records left out and why (the first ${SKIPPED_LISTED}).` },
    ),
    skipped_total: Type.Integer({ minimum: 0 }),
  },
  { description: 'Loaded: the new version, the records stored and those skipped' },
);

const RecordsJson = Type.Array(Type.Ref('Meteorite'));

/** OpenAPI text for the raw body: a schema.body would make Fastify validate the stream object itself. */
const documentedBody = {
  description:
    'The whole dataset. JSON: the course shape `{"meteorite_landings": [...]}`, a plain array of records, or the NASA ' +
    "portal's JSON export. CSV: NASA's export (header `name,id,nametype,recclass,mass (g),fall,year,reclat,reclong,GeoLocation`). " +
    'UTF-8; `Content-Encoding: gzip` is accepted.',
  content: {
    'application/json': {
      schema: {
        oneOf: [
          {
            type: 'object',
            required: ['meteorite_landings'],
            properties: { meteorite_landings: { type: 'array', items: { type: 'object' } } },
          },
          { type: 'array', items: { type: 'object' } },
        ],
      },
    },
    'text/csv': { schema: { type: 'string' } },
  },
};

/** The client closed its connection before its load was read: nobody is left to answer. */
class ClientGoneError extends ApiError {
  override name = 'ClientGoneError';
  constructor() {
    super(400, 'client_gone', 'the client closed the connection before its body was read');
  }
}

function tooLarge(limit: number): ApiError {
  return new ApiError(413, 'payload_too_large', `the request body exceeds ${limit / 1024 / 1024} MiB (BODY_LIMIT_MB)`);
}

/**
 * The body's bytes, decoded, counted against the limit as they arrive (a gzip bomb stops at the
 * limit too, one line or many). Stopping early leaves the request stream alone: destroying it
 * would close the socket before the 4xx could go out. When `gone` aborts, everything stops.
 */
async function* bodyChunks(body: Readable, encoding: string, limit: number, gone: AbortSignal): AsyncGenerator<Buffer> {
  const gunzip = encoding === 'gzip' ? createGunzip() : undefined;
  if (gunzip) {
    body.once('error', (err) => gunzip.destroy(err));
    body.pipe(gunzip);
  }
  const source: Readable = gunzip ?? body;
  const stop = () => {
    source.destroy(gone.reason as Error);
    body.destroy();
  };
  if (gone.aborted) stop();
  gone.addEventListener('abort', stop, { once: true });
  let total = 0;
  try {
    for await (const chunk of source.iterator({ destroyOnReturn: gunzip !== undefined }) as AsyncIterable<Buffer>) {
      total += chunk.length;
      if (total > limit) throw tooLarge(limit);
      yield chunk;
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code?.startsWith('Z_')) {
      throw new ApiError(400, 'invalid_encoding', 'the gzip-encoded body is corrupt');
    }
    throw err;
  } finally {
    gone.removeEventListener('abort', stop);
    if (gunzip) {
      body.unpipe(gunzip);
      gunzip.destroy();
    }
  }
  if (total === 0) throw new ApiError(400, 'empty_body', 'the request body is empty');
}

/** Pulls the first item now, so a Redis failure is still a proper 503 rather than a cut-off 200, and replays it. */
async function prefetched<T>(source: AsyncGenerator<T>): Promise<AsyncGenerator<T>> {
  const first = await source.next();
  return (async function* () {
    if (first.done) return;
    yield first.value;
    yield* source;
  })();
}

async function* jsonArray(batches: AsyncIterable<Meteorite[]>): AsyncGenerator<string> {
  yield '[';
  let sep = '';
  for await (const batch of batches) {
    if (batch.length === 0) continue;
    yield sep + batch.map((m) => JSON.stringify(m)).join(',');
    sep = ',';
  }
  yield ']\n';
}

async function* csvRows(batches: AsyncIterable<Meteorite[]>): AsyncGenerator<string> {
  yield NASA_CSV_HEADER;
  for await (const batch of batches) {
    if (batch.length > 0) yield batch.map(nasaCsvRow).join('');
  }
}

/** Its own encapsulated plugin: the raw-stream parsers apply to POST /data and nothing else. */
const load: FastifyPluginAsyncTypebox = async (app) => {
  const limit = app.config.BODY_LIMIT_MB * 1024 * 1024;

  app.removeAllContentTypeParsers();
  app.addContentTypeParser(Object.keys(FORMATS), (_request, payload, done) => done(null, payload));

  app.post(
    '/data',
    {
      schema: {
        tags: ['data'],
        summary: 'Load a dataset, replacing the current one',
        description:
          'Parses the whole body (streamed) and validates every record before anything is written; records that ' +
          'cannot be used are skipped and reported. A second load while one is running answers 409.',
        querystring: Type.Object(
          {
            source: Type.Optional(
              SafeText({ minLength: 1, maxLength: 200, description: 'What to record as the source (e.g. the file name).' }),
            ),
          },
          { additionalProperties: false },
        ),
        response: {
          201: LoadResult,
          400: errorResponse(
            'The body cannot be read as a dataset (`invalid_dataset`), holds no usable record (`empty_dataset`), ' +
              'is empty (`empty_body`) or is corrupt gzip (`invalid_encoding`); or a bad query parameter (`validation_failed`)',
          ),
          409: errorResponse('Another load or delete is running (`dataset_busy`)'),
          413: errorResponse('The body exceeds BODY_LIMIT_MB (`payload_too_large`)'),
          415: errorResponse('Not `application/json` or `text/csv`, not UTF-8, or a Content-Encoding other than gzip'),
          503: writeUnavailable,
        },
      },
      config: {
        swaggerTransform: ({ schema, url }: { schema: object; url: string }) => ({ schema: { ...schema, body: documentedBody }, url }),
      },
    },
    async (request, reply) => {
      const contentType = request.headers['content-type'] ?? '';
      const mediaType = contentType.split(';')[0]!.trim().toLowerCase();
      const format = FORMATS[mediaType];
      const body = request.body as Readable | undefined;
      if (!format || !body) {
        throw new ApiError(415, 'unsupported_media_type', `send the dataset as ${Object.keys(FORMATS).join(' or ')}`);
      }
      const charset = /;\s*charset="?([^";\s]+)/i.exec(contentType)?.[1]?.toLowerCase();
      if (charset && charset !== 'utf-8' && charset !== 'utf8' && charset !== 'us-ascii') {
        throw new ApiError(415, 'unsupported_media_type', `charset ${charset} is not supported: send UTF-8`);
      }
      const encoding = (request.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
      if (encoding !== 'identity' && encoding !== 'gzip') {
        throw new ApiError(415, 'unsupported_media_type', `Content-Encoding ${encoding} is not supported (gzip is)`);
      }
      if (Number(request.headers['content-length']) > limit) throw tooLarge(limit);
      // Fail before reading megabytes that could not be stored anyway.
      if (!app.redis.isReady) throw new RedisUnavailableError('Redis is not connected');

      // A client that goes away stops the parse at the next chunk; a load whose body was all read
      // is stored all the same (bounded work, and a half-written dataset would help nobody).
      const gone = new AbortController();
      const onClose = () => {
        if (!reply.raw.writableFinished) gone.abort(new ClientGoneError());
      };
      reply.raw.once('close', onClose);
      try {
        const parsed = await parseDataset(bodyChunks(body, encoding, limit, gone.signal), format, { signal: gone.signal });
        gone.signal.throwIfAborted();
        const source = request.query.source ?? `POST /data (${mediaType})`;
        const { version, records } = await storeDataset(app.redis, parsed, {
          source,
          onNotice: (message) => request.log.info(message),
          eventsMaxLen: app.config.EVENTS_STREAM_MAXLEN,
        });
        await confirmReplicas(app.redis, app.config).catch((err: unknown) => {
          if (!(err instanceof ReplicasLaggingError)) throw err;
          const message = `version ${version} is loaded on the primary, but ${err.message}, so a failover now could lose it: load it again`;
          throw new ApiError(503, 'replication_pending', message, { version });
        });
        reply.status(201);
        return { version, records, skipped: parsed.skipped.slice(0, SKIPPED_LISTED), skipped_total: parsed.skipped.length };
      } catch (err) {
        // Whatever broke first (the request stream's own "aborted"), the client has gone: not a 5xx.
        if (gone.signal.aborted) throw gone.signal.reason;
        // The client may still be sending: close the connection rather than read a body nobody wants.
        if (!request.raw.complete) reply.header('connection', 'close');
        throw err;
      } finally {
        reply.raw.off('close', onClose);
      }
    },
  );
};

const data: FastifyPluginAsyncTypebox = async (app) => {
  await app.register(load);

  app.get(
    '/data',
    {
      schema: {
        tags: ['data'],
        summary: 'Every loaded record',
        description:
          "A JSON array of every record in id order, streamed. With `Accept: text/csv`, NASA's CSV columns " +
          '(`name,id,nametype,recclass,mass (g),fall,year,reclat,reclong,GeoLocation`) instead. ' +
          '409 `dataset_loading` while a load is running.',
        response: {
          200: {
            description: 'Every record, in id order',
            content: {
              'application/json': { schema: RecordsJson },
              'text/csv': { schema: Type.String() },
            },
          },
          406: errorResponse('The Accept header allows neither JSON nor CSV (`not_acceptable`)'),
          409: errorResponse('A load is running (`dataset_loading`, Retry-After)'),
          503: unavailable,
        },
      },
    },
    async (request, reply) => {
      const type = negotiate(request.headers.accept, RESPONSE_TYPES);
      if (!type) throw new ApiError(406, 'not_acceptable', `GET /data answers ${RESPONSE_TYPES.join(' or ')}`);
      const batches = await prefetched(iterateMeteorites(app.redis));
      const chunks = type === 'text/csv' ? csvRows(batches) : jsonArray(batches);
      reply.type(`${type}; charset=utf-8`);
      return reply.send(Readable.from(chunks));
    },
  );

  app.delete(
    '/data',
    {
      schema: {
        tags: ['data'],
        summary: 'Remove the dataset',
        response: {
          200: Type.Object(
            {
              version: Type.Integer({ minimum: 0, description: 'The dataset version after the delete.' }),
              removed: Type.Integer({ minimum: 0, description: 'Records removed.' }),
            },
            { description: 'Removed; the dataset is now empty' },
          ),
          409: errorResponse('A load or delete is running (`dataset_busy`)'),
          503: writeUnavailable,
        },
      },
    },
    async () => deleteDataset(app.redis, { eventsMaxLen: app.config.EVENTS_STREAM_MAXLEN }),
  );

  app.get(
    '/data/summary',
    {
      schema: {
        tags: ['data'],
        summary: 'Version, state, size and source of the loaded dataset',
        response: { 200: Type.Ref('DatasetSummary', { description: 'The summary' }), 503: unavailable },
      },
    },
    async () => getSummary(app.redis),
  );
};

export default data;
