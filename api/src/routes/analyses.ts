import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';

const AnalysisInfo = Type.Object({
  name: Type.String({ examples: ['mass-by-year'] }),
  description: Type.String(),
  params: Type.Object({}, { additionalProperties: true, description: "JSON Schema of the analysis' params, with defaults." }),
});

const analyses: FastifyPluginAsyncTypebox = async (app) => {
  const list = [...app.analyses.analyses.values()].map((a) => ({ name: a.name, description: a.description, params: a.params }));
  app.get(
    '/analyses',
    {
      schema: {
        tags: ['jobs'],
        summary: 'The analyses POST /jobs accepts, with their parameters',
        response: { 200: Type.Array(AnalysisInfo) },
      },
    },
    async () => list,
  );
};

export default analyses;
