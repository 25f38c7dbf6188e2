/**
 * Security headers on every response, as helmet defines them: nosniff, frame-ancestors, referrer
 * and cross-origin policies, HSTS (honoured by browsers over HTTPS only) and a
 * Content-Security-Policy.
 *
 * The CSP is helmet's default, which Swagger UI at /docs works under as @fastify/swagger-ui serves
 * it: scripts are files from this origin (no inline script), styles may be inline, images may be
 * data: URIs. One change: no `upgrade-insecure-requests`, which would make a browser fetch /docs'
 * assets over HTTPS from a service reached over plain HTTP (`npm start` on a LAN address).
 *
 * The headers are the same for every response, so helmet runs once at start and each request only
 * copies the result: running helmet per request (as @fastify/helmet does) rebuilt the CSP every
 * time and cost a third of `GET /meteorites/{id}`'s CPU.
 */
import fp from 'fastify-plugin';
import helmet from 'helmet';
import type { IncomingMessage, ServerResponse } from 'node:http';

export function securityHeaders(): Record<string, string> {
  const headers: Record<string, string> = {};
  const res = {
    setHeader: (name: string, value: string | number | readonly string[]) => {
      headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : String(value);
    },
    removeHeader: (name: string) => {
      delete headers[name.toLowerCase()];
    },
  };
  let failure: unknown;
  helmet({ contentSecurityPolicy: { directives: { 'upgrade-insecure-requests': null } } })(
    {} as IncomingMessage,
    res as unknown as ServerResponse,
    (err?: unknown) => {
      failure = err;
    },
  );
  if (failure) throw failure;
  return headers;
}

export default fp(
  async (app) => {
    const headers = securityHeaders();
    app.addHook('onRequest', (_request, reply, done) => {
      reply.headers(headers);
      done();
    });
  },
  { name: 'security-headers', fastify: '5.x' },
);
