/**
 * The one error handler: every error leaves as `{"error": {"code", "message", ...}}`.
 * A ServiceError carries its own code, status, Retry-After and details; a Redis outage is a quick
 * 503; Fastify's own errors (validation, body parsing) keep their 4xx; a 5xx never leaks internals.
 */
import fp from 'fastify-plugin';
import type { FastifyError, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import { ServiceError, isRedisUnavailable, SAFE_TEXT_PATTERN, SAFE_TEXT_RULE } from '@meteorites/shared';
import { ApiError, errorResponse } from '../errors.ts';

const STATUS_CODES: Record<number, string> = {
  400: 'bad_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  406: 'not_acceptable',
  409: 'conflict',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  422: 'unprocessable_entity',
  429: 'too_many_requests',
  503: 'unavailable',
};

/** `querystring.limit must be <= 1000`: the first failure, named by where it is in the request. */
export function validationMessage(err: Pick<FastifyError, 'message' | 'validation' | 'validationContext'>): {
  message: string;
  field?: string;
} {
  const first = err.validation?.[0];
  if (!first) return { message: err.message };
  const where = err.validationContext ?? 'request';
  const params = first.params as Record<string, unknown>;
  const missing = params.missingProperty as string | undefined;
  const extra = params.additionalProperty as string | undefined;
  const name = [first.instancePath.replace(/^\//, '').replaceAll('/', '.'), missing ?? extra].filter(Boolean).join('.');
  const field = name ? `${where}.${name}` : undefined;
  // A union of literals fails once per branch: list what would have been accepted.
  const allowed = err
    .validation!.filter((e) => e.keyword === 'const' && e.instancePath === first.instancePath)
    .map((e) => e.params.allowedValue);
  let detail = first.message ?? 'is invalid';
  if (missing) detail = 'is required';
  else if (extra) detail = 'is not a known field';
  else if (allowed.length > 1) detail = `must be one of: ${allowed.join(', ')}`;
  else if (first.keyword === 'pattern' && params.pattern === SAFE_TEXT_PATTERN) detail = SAFE_TEXT_RULE;
  else if (Array.isArray(params.allowedValues)) detail += `: ${params.allowedValues.join(', ')}`;
  return { message: `${field ?? where} ${detail}`, field };
}

/**
 * The name of a number in a request's querystring or params that is not finite. Ajv coerces
 * `1e400` and `Infinity` to Infinity and then skips its range checks for it, so `limit=1e400`
 * would pass `maximum: 1000`.
 */
export function nonFiniteField(part: unknown): string | undefined {
  if (part === null || typeof part !== 'object') return undefined;
  for (const [name, value] of Object.entries(part)) {
    const values: unknown[] = Array.isArray(value) ? value : [value];
    if (values.some((v) => typeof v === 'number' && !Number.isFinite(v))) return name;
  }
  return undefined;
}

/**
 * Whether a request part validated by `schema` can hold a number: a `number` or `integer` type
 * anywhere in it, or a `$ref` (not followed, so counted as a yes). Routes whose querystring and
 * params cannot hold one skip the finite-number check altogether.
 */
export function mayHoldNumbers(schema: unknown): boolean {
  if (Array.isArray(schema)) return schema.some(mayHoldNumbers);
  if (typeof schema !== 'object' || schema === null) return false;
  const s = schema as Record<string, unknown>;
  if (typeof s.$ref === 'string') return true;
  const types: unknown[] = Array.isArray(s.type) ? s.type : [s.type];
  return types.some((t) => t === 'number' || t === 'integer') || Object.values(s).some(mayHoldNumbers);
}

/**
 * Errors the router raises before any route or hook runs (a broken percent-escape, a path
 * parameter over maxParamLength): Fastify's `frameworkErrors` option, so they leave in the same
 * shape as every other error. The path is not echoed back: it may be kilobytes long. A parameter
 * too long is a malformed id like any other (400 `validation_failed`, as every operation with an
 * id documents), not a 414 no operation documents.
 */
export function frameworkError(err: FastifyError, _request: FastifyRequest, reply: FastifyReply): void {
  if (err.code === 'FST_ERR_MAX_PARAM_LENGTH') {
    void reply.status(400).send({ error: { code: 'validation_failed', message: 'a path parameter is too long' } });
    return;
  }
  const status = err.statusCode === 400 ? 400 : 500;
  const message = err.code === 'FST_ERR_BAD_URL' ? 'the URL holds a malformed percent-escape' : 'internal server error';
  void reply.status(status).send({ error: { code: status === 500 ? 'internal' : STATUS_CODES[status]!, message } });
}

/** What Fastify's body parsing answers on any route that takes a body, before the route runs. */
const BODY_ERRORS: Record<number, string> = {
  400: 'The body is not valid JSON (`bad_request`)',
  413: 'The body is over 1 MiB (`payload_too_large`)',
  415: 'The body is neither absent nor `application/json` (`unsupported_media_type`)',
};

/**
 * The statuses every operation can answer whatever its own schema says, documented on each: a
 * 500 when something fails that nobody planned for (the envelope, code `internal`, nothing of
 * the cause in it), and on a method that takes a body, what the body parser refuses. So a client
 * and the document agree on every status the server can send.
 */
function documentFrameworkErrors(route: RouteOptions): void {
  const schema = route.schema as { hide?: boolean; response?: Record<string, unknown> } | undefined;
  // Only routes that document their responses: the others are not in the document.
  if (!schema?.response || schema.hide) return;
  const methods = Array.isArray(route.method) ? route.method : [route.method];
  const takesBody = methods.some((m) => m === 'POST' || m === 'PUT' || m === 'PATCH' || m === 'DELETE');
  const added: Record<number, unknown> = {
    500: errorResponse('An unexpected failure (`internal`); the message says nothing of the cause, the log does'),
  };
  if (takesBody) for (const [status, description] of Object.entries(BODY_ERRORS)) added[Number(status)] = errorResponse(description);
  const missing = Object.entries(added).filter(([status]) => !schema.response?.[status]);
  if (missing.length === 0) return;
  route.schema = { ...schema, response: { ...schema.response, ...Object.fromEntries(missing) } } as RouteOptions['schema'];
}

export default fp(
  async (app) => {
    const finiteNumbers = async (request: FastifyRequest) => {
      for (const [where, part] of [
        ['querystring', request.query],
        ['params', request.params],
      ] as const) {
        const name = nonFiniteField(part);
        if (name) throw new ApiError(400, 'validation_failed', `${where}.${name} must be a finite number`, { field: `${where}.${name}` });
      }
    };
    app.addHook('onRoute', (route) => {
      documentFrameworkErrors(route);
      const schema = route.schema as { querystring?: unknown; query?: unknown; params?: unknown } | undefined;
      if (!mayHoldNumbers([schema?.querystring, schema?.query, schema?.params])) return;
      // First of the route's own preHandlers: none of them sees a number that is not finite.
      const own = route.preHandler === undefined ? [] : Array.isArray(route.preHandler) ? route.preHandler : [route.preHandler];
      route.preHandler = [finiteNumbers, ...own];
    });

    app.setErrorHandler((err: FastifyError, request, reply) => {
      // First: a Redis outage may arrive as a ServiceError (RedisTimeoutError) whose message names hosts.
      if (isRedisUnavailable(err)) {
        request.log.warn({ err: err.message }, 'redis unavailable');
        reply.header('retry-after', '1');
        return reply
          .status(503)
          .send({ error: { code: 'redis_unavailable', message: 'the database is not answering; try again shortly' } });
      }
      if (err instanceof ServiceError && err.statusCode !== 500) {
        if (err.retryAfter !== undefined) reply.header('retry-after', String(err.retryAfter));
        return reply.status(err.statusCode).send({ error: { code: err.code, message: err.message, ...err.details } });
      }
      if (err.validation) {
        const { message, field } = validationMessage(err);
        return reply.status(400).send({ error: { code: 'validation_failed', message, ...(field ? { field } : {}) } });
      }
      const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
      if (status >= 500) {
        request.log.error({ err }, 'unhandled error');
        return reply.status(500).send({ error: { code: 'internal', message: 'internal server error' } });
      }
      const message =
        err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE'
          ? `unsupported Content-Type: ${request.headers['content-type']?.slice(0, 100) ?? '(none)'}`
          : err.message;
      return reply.status(status).send({
        error: { code: STATUS_CODES[status] ?? (err.code ? err.code.toLowerCase() : 'error'), message },
      });
    });

    app.setNotFoundHandler((request, reply) => {
      reply.status(404).send({ error: { code: 'not_found', message: `no route ${request.method} ${request.url.split('?')[0]}` } });
    });
  },
  { name: 'errors', fastify: '5.x' },
);
