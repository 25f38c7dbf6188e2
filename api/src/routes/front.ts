/**
 * The front door: `/` for a browser (what this is, the dataset, where to go next) and `/help` for
 * a terminal. Both are open like /docs, even when API_KEY_PROTECT_READS guards the reads; the page
 * then leaves out the dataset summary, which is a read.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import { getSummary } from '@meteorites/dataset';
import { renderFrontPage, type DatasetView } from '../front-page.ts';
import { helpText, type OpenApiLike } from '../help-text.ts';
import { OPENAPI_INFO } from '../plugins/swagger.ts';
import { deadline } from '@meteorites/shared/redis';

const text = (description: string, type: string) => ({ description, content: { [type]: { schema: Type.String() } } });

const front: FastifyPluginAsyncTypebox = async (app) => {
  const analyses = [...app.analyses.analyses.keys()];
  const readsNeedKey = app.config.API_KEY !== undefined && app.config.API_KEY_PROTECT_READS;

  app.get(
    '/',
    {
      schema: {
        tags: ['service'],
        summary: 'Front page for a browser: what the service is, the dataset, links to the documentation',
        description:
          'An HTML page for a browser, without scripts. The dataset summary is left out when API_KEY_PROTECT_READS ' +
          'guards reads (the page itself stays open), and replaced by a note while Redis does not answer.',
        response: { 200: text('The page', 'text/html') },
      },
    },
    async (_request, reply) => {
      let dataset: DatasetView;
      if (readsNeedKey) dataset = { withheld: 'needs_key' };
      else {
        try {
          dataset = { summary: await deadline(getSummary(app.redis), 1000) };
        } catch {
          dataset = { withheld: 'unavailable' };
        }
      }
      return reply
        .type('text/html; charset=utf-8')
        .header('cache-control', 'no-cache')
        .send(renderFrontPage({ title: OPENAPI_INFO.title, dataset, analyses }));
    },
  );

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
