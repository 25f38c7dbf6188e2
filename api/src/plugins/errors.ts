/**
 * The one error handler: every error leaves as `{"error": {"code", "message", ...}}`.
 * Validation errors name the field; a Redis outage is a quick 503; a 5xx never leaks internals.
 */
import fp from 'fastify-plugin';
import type { FastifyError } from 'fastify';
import { InvalidIdError } from '@meteorites/shared/keys';
import { ApiError } from '../errors.ts';

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

/** Errors that mean "Redis is not answering right now". */
export function isRedisUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const name = err.name ?? '';
  const msg = err.message ?? '';
  return (
    name === 'RedisUnavailableError' ||
    name === 'ClientClosedError' ||
    name === 'ClientOfflineError' ||
    name === 'SocketClosedUnexpectedlyError' ||
    name === 'ConnectionTimeoutError' ||
    name === 'ReconnectStrategyError' ||
    /The client is closed|client is offline|ECONNREFUSED|ECONNRESET|Socket closed unexpectedly|LOADING/i.test(msg)
  );
}

function validationMessage(err: FastifyError): { message: string; field?: string } {
  const first = err.validation?.[0];
  if (!first) return { message: err.message };
  const where = err.validationContext ?? 'request';
  const params = first.params as Record<string, unknown>;
  const path = first.instancePath.replace(/^\//, '').replace(/\//g, '.');
  const field = path || (params.missingProperty as string | undefined) || (params.additionalProperty as string | undefined);
  const label = field ? `${where}.${field}` : where;
  let detail = first.message ?? 'is invalid';
  if (params.additionalProperty) detail = `unknown field ${JSON.stringify(params.additionalProperty)}`;
  if (Array.isArray(params.allowedValues)) detail += `: ${params.allowedValues.join(', ')}`;
  return { message: `${label} ${detail}`, field: field ? `${where}.${field}` : undefined };
}

export default fp(
  async (app) => {
    app.setErrorHandler((err: FastifyError, request, reply) => {
      if (err instanceof ApiError) {
        return reply.status(err.statusCode).send({ error: { code: err.code, message: err.message, ...err.details } });
      }
      if (err.validation) {
        const { message, field } = validationMessage(err);
        return reply.status(400).send({ error: { code: 'validation_failed', message, ...(field ? { field } : {}) } });
      }
      if (err instanceof InvalidIdError) {
        return reply.status(400).send({ error: { code: 'invalid_id', message: err.message } });
      }
      if (isRedisUnavailable(err)) {
        request.log.warn({ err: err.message }, 'redis unavailable');
        reply.header('retry-after', '1');
        return reply.status(503).send({ error: { code: 'redis_unavailable', message: 'the database is not answering; try again shortly' } });
      }
      const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
      if (status >= 500) {
        request.log.error({ err }, 'unhandled error');
        return reply.status(500).send({ error: { code: 'internal', message: 'internal server error' } });
      }
      return reply.status(status).send({
        error: { code: STATUS_CODES[status] ?? (err.code ? err.code.toLowerCase() : 'error'), message: err.message },
      });
    });

    app.setNotFoundHandler((request, reply) => {
      reply.status(404).send({ error: { code: 'not_found', message: `no route ${request.method} ${request.url.split('?')[0]}` } });
    });
  },
  { name: 'errors', fastify: '5.x' },
);
