/**
 * One SnapshotCache per app instance: filtered listing reads the in-memory column snapshot of
 * the current dataset version instead of scanning Redis keys per request.
 */
import fp from 'fastify-plugin';
import { SnapshotCache } from '@meteorites/shared';

declare module 'fastify' {
  interface FastifyInstance {
    snapshots: SnapshotCache;
  }
}

export default fp(
  async (app) => {
    app.decorate('snapshots', new SnapshotCache(app.redis));
  },
  { name: 'snapshot', dependencies: ['redis'], fastify: '5.x' },
);
