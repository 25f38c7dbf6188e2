/**
 * Runs the API against REDIS_URL: listens, and on SIGINT/SIGTERM stops accepting, lets in-flight
 * requests finish, closes Redis, then exits.
 */
import closeWithGrace from 'close-with-grace';
import { loadConfig } from '@meteorites/shared';
import { buildApp, type App } from './app.ts';

let app: App;
try {
  const config = loadConfig();
  app = await buildApp({ config });
  await app.listen({ host: config.HOST, port: config.PORT });
} catch (err) {
  // A bad setting or an unreachable Redis: one clear line, not a stack trace.
  process.stderr.write(`api could not start: ${(err as Error).message}\n`);
  process.exit(1);
}

const grace = closeWithGrace({ delay: 10_000, logger: false }, async ({ signal, err }) => {
  if (err) app.log.error({ err }, 'closing after an error');
  else app.log.info({ signal: signal ?? 'parent exited' }, 'closing');
  await app.close();
});
// Started by `npm start` with an IPC channel: when that parent dies, close too.
process.once('disconnect', () => grace.close());
