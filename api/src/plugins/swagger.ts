import fp from 'fastify-plugin';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { DatasetSummary, ErrorBody, Job, Meteorite } from '@meteorites/shared';
import { securitySchemes } from './auth.ts';

export const OPENAPI_INFO = {
  title: 'Meteorite analysis service',
  description:
    'Load the Meteorite Landings dataset into Redis, browse it, and run analyses as jobs on a Redis-native queue. ' +
    'Errors are `{"error": {"code", "message", ...}}`.',
  version: '0.1.0',
};

type Operation = { parameters?: { in: string; required?: boolean; schema?: { default?: unknown } }[] };

/**
 * A query parameter with a default may be left out: TypeBox lists it as required because the
 * validator fills the default in, but clients (the generated one included) must not have to send it.
 */
function optionalDefaults<D extends { paths?: object }>(doc: D): D {
  for (const item of Object.values(doc.paths ?? {}) as Record<string, Operation>[]) {
    for (const op of Object.values(item)) {
      for (const p of op.parameters ?? []) if (p.in === 'query' && p.schema?.default !== undefined) p.required = false;
    }
  }
  return doc;
}

export default fp(
  async (app) => {
    for (const schema of [ErrorBody, Meteorite, DatasetSummary, Job]) app.addSchema(schema);
    await app.register(swagger, {
      openapi: {
        openapi: '3.1.0',
        info: OPENAPI_INFO,
        tags: [
          { name: 'service', description: 'The dashboard, help, liveness, readiness and metrics' },
          { name: 'data', description: 'The loaded dataset' },
          { name: 'meteorites', description: 'Browse and filter landings' },
          { name: 'jobs', description: 'Analyses run as jobs' },
          { name: 'results', description: 'Results and charts of finished jobs' },
          { name: 'events', description: 'Live job and dataset events (Server-Sent Events)' },
        ],
        components: { securitySchemes },
      },
      transformObject: (doc) => ('openapiObject' in doc ? optionalDefaults(doc.openapiObject) : doc.swaggerObject),
      refResolver: {
        buildLocalReference: (json, _baseUri, _fragment, i) => (json.$id as string | undefined) ?? `def-${i}`,
      },
    });
    await app.register(swaggerUi, { routePrefix: '/docs' });
    app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  },
  { name: 'swagger', fastify: '5.x' },
);
