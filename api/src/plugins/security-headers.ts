/**
 * Security headers on every response (@fastify/helmet): nosniff, frame-ancestors, referrer and
 * cross-origin policies, HSTS (honoured by browsers over HTTPS only) and a Content-Security-Policy.
 *
 * The CSP is helmet's default, which Swagger UI at /docs works under as @fastify/swagger-ui serves
 * it: scripts are files from this origin (no inline script), styles may be inline, images may be
 * data: URIs. One change: no `upgrade-insecure-requests`, which would make a browser fetch /docs'
 * assets over HTTPS from a service reached over plain HTTP (`npm start` on a LAN address).
 */
import fp from 'fastify-plugin';
import helmet from '@fastify/helmet';

export default fp(
  async (app) => {
    await app.register(helmet, {
      contentSecurityPolicy: { directives: { 'upgrade-insecure-requests': null } },
    });
  },
  { name: 'security-headers', fastify: '5.x' },
);
