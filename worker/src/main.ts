/**
 * `npm run worker`: runs one worker process against REDIS_URL. SIGTERM or SIGINT stops it
 * gracefully (exit 0); a second signal exits at once (exit 1), leaving recovery to the leases.
 */
import { pino } from 'pino';
import { loadConfig, loggerSetup, catalog } from '@meteorites/shared';
import { analysisHandler } from './analysis-handler.ts';
import { Worker } from './worker.ts';

const config = loadConfig();
const log = loggerSetup(config, 'worker');
const logger = pino(log.options, log.stream);
const analyses = catalog({ enableTestAnalyses: config.ENABLE_TEST_ANALYSES });
const worker = new Worker({ config, logger, handler: (redis) => analysisHandler(redis, analyses) });

let signals = 0;
const stop = (signal: NodeJS.Signals) => {
  if (++signals > 1) {
    logger.warn({ signal }, 'second signal: exiting without waiting');
    process.exit(1);
  }
  logger.info({ signal }, 'closing');
  worker.close().then(
    () => process.exit(0),
    (err: unknown) => {
      logger.error({ err }, 'close failed');
      process.exit(1);
    },
  );
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
// Started by `npm start` with an IPC channel: when that parent dies, drain and exit too.
process.once('disconnect', () => stop('SIGTERM'));

try {
  await worker.start();
} catch (err) {
  logger.fatal({ err }, 'worker could not start');
  process.exit(1);
}
