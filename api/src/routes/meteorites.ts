/**
 * Browsing landings: a filtered, cursor-paginated list answered from the in-memory column
 * snapshot (never a scan of Redis keys per request), and single records by id.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import { getMeteorite, filteredMeteorites, queryMeteorites } from '@meteorites/dataset';
import { Readable } from 'node:stream';
import { MeteoriteId, SafeText, CLASS_TYPES } from '@meteorites/shared';
import { ApiError, errorResponse, notFound } from '../errors.ts';
import { negotiate } from '../negotiate.ts';
import { CLASSIFIED_CSV_HEADER, classifiedCsvRow } from '../nasa-csv.ts';

const RESPONSE_TYPES = ['application/json', 'text/csv'] as const;

const unavailable = errorResponse('Redis is not answering (`redis_unavailable`, Retry-After)');
export const MAX_LIMIT = 1000;

const Query = Type.Object(
  {
    recclass: Type.Optional(SafeText({ minLength: 1, maxLength: 100, description: 'Exact class, e.g. `L6`.' })),
    class_type: Type.Optional(
      Type.Enum([...CLASS_TYPES], { description: 'Only this class type (derived from `recclass`, docs/classification.md).' }),
    ),
    class_group: Type.Optional(
      SafeText({ minLength: 1, maxLength: 100, description: 'Only this class group, exact, e.g. `IIIAB`, `CM`, `H/L`.' }),
    ),
    fall: Type.Optional(SafeText({ minLength: 1, maxLength: 20, description: '`Fell` or `Found`.' })),
    year_from: Type.Optional(
      Type.Integer({ minimum: -100_000, maximum: 100_000, description: 'Inclusive; records without a year are left out.' }),
    ),
    year_to: Type.Optional(Type.Integer({ minimum: -100_000, maximum: 100_000, description: 'Inclusive.' })),
    mass_min: Type.Optional(Type.Number({ minimum: 0, description: 'Grams, inclusive; records without a mass are left out.' })),
    mass_max: Type.Optional(Type.Number({ minimum: 0, description: 'Grams, inclusive.' })),
    limit: Type.Integer({ minimum: 1, maximum: MAX_LIMIT, default: 100, description: `Page size, at most ${MAX_LIMIT}.` }),
    cursor: Type.Optional(
      SafeText({ minLength: 1, maxLength: 512, description: '`next_cursor` of the previous page, with the same filters.' }),
    ),
    format: Type.Optional(
      Type.Enum(['json', 'csv'], { description: 'Overrides the Accept header; `csv` streams every matching landing.' }),
    ),
  },
  { additionalProperties: false },
);

const Page = Type.Object(
  {
    items: Type.Array(Type.Ref('Meteorite')),
    next_cursor: Type.Union([Type.String(), Type.Null()], { description: 'null on the last page.' }),
  },
  { description: 'One page of matching records' },
);

/** The same code and shape as a schema validation failure: the client cannot tell which layer refused. */
const invalid = (field: string, message: string) => new ApiError(400, 'validation_failed', message, { field });

const meteorites: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/meteorites',
    {
      schema: {
        tags: ['meteorites'],
        summary: 'Filtered, paginated landings in id order',
        description:
          'Every filter is optional and they combine. Out-of-range input is refused, never clamped: `limit` over ' +
          `${MAX_LIMIT}, \`year_from\` after \`year_to\` and \`mass_min\` over \`mass_max\` are 400s, as is a cursor ` +
          'reused with other filters. 409 `dataset_loading` while a load is running. With `Accept: text/csv` or `?format=csv`, ' +
          "every landing the filters select (all pages: `limit` and `cursor` do not apply) as CSV in NASA's column order plus " +
          '`class_type` and `class_group`, streamed.',
        querystring: Query,
        response: {
          200: {
            description: 'One page of matching records, or all of them as CSV',
            content: { 'application/json': { schema: Page }, 'text/csv': { schema: Type.String() } },
          },
          406: errorResponse('The Accept header allows neither JSON nor CSV (`not_acceptable`)'),
          400: errorResponse('A filter out of range or unknown (`validation_failed`, naming it), or a bad cursor (`invalid_cursor`)'),
          409: errorResponse('A load is running (`dataset_loading`, Retry-After)'),
          503: unavailable,
        },
      },
    },
    async (request, reply) => {
      const q = request.query;
      if (q.year_from !== undefined && q.year_to !== undefined && q.year_from > q.year_to) {
        throw invalid('querystring.year_from', `year_from (${q.year_from}) is after year_to (${q.year_to})`);
      }
      if (q.mass_min !== undefined && q.mass_max !== undefined && q.mass_min > q.mass_max) {
        throw invalid('querystring.mass_min', `mass_min (${q.mass_min}) is over mass_max (${q.mass_max})`);
      }
      const type =
        q.format === 'csv' ? 'text/csv' : q.format === 'json' ? 'application/json' : negotiate(request.headers.accept, RESPONSE_TYPES);
      if (!type) throw new ApiError(406, 'not_acceptable', `GET /meteorites answers ${RESPONSE_TYPES.join(' or ')}`);
      if (type === 'application/json') return queryMeteorites(app.redis, app.snapshots, q);
      const batches = filteredMeteorites(app.snapshots, q);
      // The first batch is read before answering, so a dataset still loading is a 409, not a broken stream.
      const first = await batches.next();
      async function* rows() {
        yield CLASSIFIED_CSV_HEADER;
        if (!first.done) yield first.value.map(classifiedCsvRow).join('');
        for await (const batch of batches) yield batch.map(classifiedCsvRow).join('');
      }
      return reply.type('text/csv; charset=utf-8').send(Readable.from(rows()));
    },
  );

  app.get(
    '/meteorites/:id',
    {
      schema: {
        tags: ['meteorites'],
        summary: 'One landing',
        params: Type.Object({ id: MeteoriteId }),
        response: {
          200: Type.Ref('Meteorite', { description: 'The landing' }),
          400: errorResponse('Not a landing id, whatever its length (`validation_failed`)'),
          404: errorResponse('No landing with this id is loaded'),
          503: unavailable,
        },
      },
    },
    async (request) => {
      const found = await getMeteorite(app.redis, request.params.id);
      if (!found) throw notFound(`meteorite ${request.params.id}`);
      return found;
    },
  );
};

export default meteorites;
