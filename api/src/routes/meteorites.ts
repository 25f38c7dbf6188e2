/**
 * Browsing landings: a filtered, cursor-paginated list answered from the in-memory column
 * snapshot (never a scan of Redis keys per request), and single records by id.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import { getMeteorite } from '@meteorites/shared/store';
import { queryMeteorites } from '@meteorites/shared/meteorites';
import { MeteoriteId, SafeText } from '@meteorites/shared/schemas';
import { ApiError, errorResponse, notFound } from '../errors.ts';

const unavailable = errorResponse('Redis is not answering (`redis_unavailable`, Retry-After)');
export const MAX_LIMIT = 1000;

const Query = Type.Object(
  {
    recclass: Type.Optional(SafeText({ minLength: 1, maxLength: 100, description: 'Exact class, e.g. `L6`.' })),
    fall: Type.Optional(SafeText({ minLength: 1, maxLength: 20, description: '`Fell` or `Found`.' })),
    year_from: Type.Optional(Type.Integer({ minimum: -100_000, maximum: 100_000, description: 'Inclusive; records without a year are left out.' })),
    year_to: Type.Optional(Type.Integer({ minimum: -100_000, maximum: 100_000, description: 'Inclusive.' })),
    mass_min: Type.Optional(Type.Number({ minimum: 0, description: 'Grams, inclusive; records without a mass are left out.' })),
    mass_max: Type.Optional(Type.Number({ minimum: 0, description: 'Grams, inclusive.' })),
    limit: Type.Integer({ minimum: 1, maximum: MAX_LIMIT, default: 100, description: `Page size, at most ${MAX_LIMIT}.` }),
    cursor: Type.Optional(
      SafeText({ minLength: 1, maxLength: 512, description: '`next_cursor` of the previous page, with the same filters.' }),
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
          'reused with other filters. 409 `dataset_loading` while a load is running.',
        querystring: Query,
        response: {
          200: Page,
          400: errorResponse('A filter out of range or unknown (`validation_failed`, naming it), or a bad cursor (`invalid_cursor`)'),
          409: errorResponse('A load is running (`dataset_loading`, Retry-After)'),
          503: unavailable,
        },
      },
    },
    async (request) => {
      const q = request.query;
      if (q.year_from !== undefined && q.year_to !== undefined && q.year_from > q.year_to) {
        throw invalid('querystring.year_from', `year_from (${q.year_from}) is after year_to (${q.year_to})`);
      }
      if (q.mass_min !== undefined && q.mass_max !== undefined && q.mass_min > q.mass_max) {
        throw invalid('querystring.mass_min', `mass_min (${q.mass_min}) is over mass_max (${q.mass_max})`);
      }
      return queryMeteorites(app.redis, app.snapshots, q);
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
