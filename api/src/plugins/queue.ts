/**
 * The job queue as the API sees it: `app.jobs` (the queue protocol on the API's connection),
 * `app.jobEvents` (long-poll waiters, on a subscriber connection of its own) and `app.analyses`
 * (what POST /jobs accepts). Without Redis (`npm run openapi`) there are no job events.
 */
import fp from 'fastify-plugin';
import { closeRedis, catalog, type Catalog, JobEvents, JobQueue, queueOptions } from '@meteorites/shared';

declare module 'fastify' {
  interface FastifyInstance {
    jobs: JobQueue;
    jobEvents: JobEvents | undefined;
    analyses: Catalog;
  }
}

export default fp<{ connect?: boolean }>(
  async (app, opts) => {
    app.decorate('jobs', new JobQueue(app.redis, queueOptions(app.config)));
    app.decorate('analyses', catalog({ enableTestAnalyses: app.config.ENABLE_TEST_ANALYSES }));
    if (opts.connect === false) {
      app.decorate('jobEvents', undefined);
      return;
    }
    const subscriber = await app.openRedis('api:events', 'subscriber');
    app.decorate('jobEvents', await JobEvents.listen(subscriber));
    app.addHook('onClose', async () => {
      await closeRedis(subscriber, app.config.REDIS_COMMAND_TIMEOUT_MS);
    });
  },
  { name: 'queue', dependencies: ['config', 'redis'], fastify: '5.x' },
);
