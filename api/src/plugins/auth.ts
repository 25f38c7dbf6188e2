/**
 * API keys (API_KEY, off when unset). Routes that change state (POST, DELETE) need
 * `Authorization: Bearer <key>`; with API_KEY_PROTECT_READS the reads need it too, except the
 * probes, the documentation and the dashboard, which orchestrators and browsers fetch without credentials.
 * GET /metrics counts as a read: Prometheus sends a bearer token with `authorization.credentials`.
 *
 * The OpenAPI document is the same whatever the configuration (it is generated without one), so
 * every route that can be protected declares `bearerAuth` and its 401.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import fp from 'fastify-plugin';
import type { FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import { ApiError, errorResponse } from '../errors.ts';

/**
 * Never behind a key: liveness and readiness probes, Swagger UI and the document it loads, and
 * the dashboard (its page, script and stylesheet) and help, which say how to use the API: the
 * dashboard holds no data of its own, and asks for the key before it reads any.
 */
const OPEN_ROUTES = /^\/(|help|health|ready|openapi\.json|docs(\/.*)?|ui\/app\.(js|css))$/;
const READ_METHODS = new Set(['GET', 'HEAD']);

/** The `components.securitySchemes` of the OpenAPI document. */
export const securitySchemes = {
  bearerAuth: {
    type: 'http',
    scheme: 'bearer',
    description:
      'The API key (`API_KEY`), when the deployment sets one: required on POST and DELETE, and on GET too with `API_KEY_PROTECT_READS`.',
  },
} as const;

const sha256 = (text: string) => createHash('sha256').update(text).digest();

/**
 * Whether `presented` is one of the keys (given as SHA-256 digests). Digests have equal lengths,
 * so timingSafeEqual applies whatever was sent, and every key is compared: the time taken says
 * nothing about how close a guess was, nor which key matched.
 */
export function keyMatches(presented: string, keyDigests: readonly Buffer[]): boolean {
  const digest = sha256(presented);
  let match = false;
  for (const key of keyDigests) match = timingSafeEqual(digest, key) || match;
  return match;
}

/** The token of an `Authorization: Bearer <token>` header, if that is what was sent. */
export function bearerToken(header: string | undefined): string | undefined {
  return header ? /^Bearer +(\S+) *$/i.exec(header)?.[1] : undefined;
}

type Access = 'open' | 'read' | 'write';

function access(route: RouteOptions): Access {
  if (OPEN_ROUTES.test(route.url)) return 'open';
  const methods = Array.isArray(route.method) ? route.method : [route.method];
  return methods.every((m) => READ_METHODS.has(m)) ? 'read' : 'write';
}

/** Declares the key on a documented route: required for writes, optional (see the 401) for reads. */
function documented(route: RouteOptions, level: Exclude<Access, 'open'>): void {
  const schema = route.schema as { hide?: boolean; response?: Record<string, unknown> } | undefined;
  if (!schema || schema.hide) return;
  route.schema = {
    ...schema,
    security: level === 'write' ? [{ bearerAuth: [] }] : [{}, { bearerAuth: [] }],
    response: {
      ...schema.response,
      401: errorResponse(
        level === 'write'
          ? 'API_KEY is set and the request has no or a wrong `Authorization: Bearer <key>` (`unauthorized`)'
          : 'API_KEY and API_KEY_PROTECT_READS are set and the request has no or a wrong `Authorization: Bearer <key>` (`unauthorized`)',
      ),
    },
  } as RouteOptions['schema'];
}

export default fp(
  async (app) => {
    const keyDigests = app.config.API_KEY?.split(',').map(sha256) ?? [];

    const check = async (request: FastifyRequest, reply: FastifyReply) => {
      const token = bearerToken(request.headers.authorization);
      if (token !== undefined && keyMatches(token, keyDigests)) return;
      // RFC 6750: the challenge, with `invalid_token` when a key was sent but is not one of ours.
      reply.header(
        'www-authenticate',
        token === undefined ? 'Bearer realm="meteorites"' : 'Bearer realm="meteorites", error="invalid_token"',
      );
      throw token === undefined
        ? new ApiError(401, 'unauthorized', 'this request needs an API key: send Authorization: Bearer <key>')
        : new ApiError(401, 'unauthorized', 'the API key is not valid');
    };

    app.addHook('onRoute', (route) => {
      const level = access(route);
      if (level === 'open') return;
      documented(route, level);
      if (keyDigests.length === 0 || (level === 'read' && !app.config.API_KEY_PROTECT_READS)) return;
      // First of the route's hooks: nothing (rate limits, body parsing) runs for a caller without a key.
      const own = route.onRequest === undefined ? [] : Array.isArray(route.onRequest) ? route.onRequest : [route.onRequest];
      route.onRequest = [check, ...own];
    });
  },
  { name: 'auth', dependencies: ['config', 'errors'], fastify: '5.x' },
);
