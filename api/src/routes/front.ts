/**
 * The front door: `/`, the dashboard for a browser (its shell; the script under `/ui/` draws
 * it), and `/help` for a terminal. All are open like /docs, even when API_KEY_PROTECT_READS
 * guards the reads: the page holds no data, and asks for the key before it reads any.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import { renderDashboardPage, type AuthMode } from '../dashboard-page.ts';
import { dashboardAssets } from '../dashboard-bundle.ts';
import { helpText, type OpenApiLike } from '../help-text.ts';
import { OPENAPI_INFO } from '../plugins/swagger.ts';

const text = (description: string, type: string) => ({ description, content: { [type]: { schema: Type.String() } } });

const front: FastifyPluginAsyncTypebox = async (app) => {
  const auth: AuthMode = app.config.API_KEY === undefined ? 'none' : app.config.API_KEY_PROTECT_READS ? 'reads' : 'writes';

  app.get(
    '/',
    {
      schema: {
        tags: ['service'],
        summary: 'The dashboard: the dataset, the queue, asking questions, jobs, results and data, live',
        description:
          'An HTML page for a browser; its script (`ui/app.js`) and stylesheet (`ui/app.css`) draw the dashboard from this ' +
          "API's own routes, with relative URLs, so it works behind a proxy under a path prefix.",
        response: { 200: text('The page', 'text/html') },
      },
    },
    async (_request, reply) => {
      // Asked at request time: every route is registered by then, whatever the plugin order.
      const live = app.hasRoute({ method: 'GET', url: '/events' }) ? 'sse' : 'poll';
      return reply
        .type('text/html; charset=utf-8')
        .header('cache-control', 'no-cache')
        .send(renderDashboardPage({ title: OPENAPI_INFO.title, auth, live }));
    },
  );

  const assets = [
    { url: '/ui/app.js', type: 'text/javascript', pick: 'script', summary: "The dashboard's script (one ES module)" },
    { url: '/ui/app.css', type: 'text/css', pick: 'style', summary: "The dashboard's stylesheet" },
  ] as const;
  for (const a of assets) {
    app.get(
      a.url,
      { schema: { tags: ['service'], summary: a.summary, response: { 200: text(a.summary, a.type) } } },
      async (_request, reply) => {
        const built = await dashboardAssets();
        // no-cache: the browser revalidates, so a restarted service's new bundle is seen at once.
        return reply.type(`${a.type}; charset=utf-8`).header('cache-control', 'no-cache').send(built[a.pick]);
      },
    );
  }

  let doc: OpenApiLike | undefined;
  app.get(
    '/help',
    {
      schema: {
        tags: ['service'],
        summary: 'Plain-text help: every route in one line, and a worked example with curl',
        description:
          'Lists each route of this document with its method, path and summary, then submits a job, waits for it, ' +
          'reads its result and downloads its chart with curl, against the address the request was made to.',
        response: { 200: text('The help', 'text/plain') },
      },
    },
    async (request, reply) => {
      // The document is complete once the app is ready, and does not change after.
      doc ??= app.swagger() as OpenApiLike;
      return reply.type('text/plain; charset=utf-8').send(helpText(doc, `${request.protocol}://${request.host}`));
    },
  );
};

export default front;
