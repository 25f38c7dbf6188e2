/**
 * `npm run backup`: writes a consistent snapshot of the Redis at REDIS_URL (every key, as of one
 * instant) to BACKUP_DIR/meteorites-<UTC time>.rdb. Works against a remote Redis; see
 * tools/src/backup.ts for how, and docs/operations.md ("Backups and restore") for the schedule to run it on.
 */
import { join } from 'node:path';
import { loadConfig, closeRedis, connectRedis, type Redis, routeOf } from '@meteorites/shared';
import { backupFileName, backupRdb } from '@meteorites/tools';
import { getSummary } from '@meteorites/dataset';

const say = (msg: string) => process.stdout.write(`[backup] ${msg}\n`);

let redis: Redis | undefined;
try {
  const config = loadConfig();
  if (!config.REDIS_URL) throw new Error('REDIS_URL is not set: which Redis? (`npm start` prints the URL of the one it runs)');
  redis = await connectRedis(config.REDIS_URL, {
    connectTimeoutMs: config.REDIS_CONNECT_TIMEOUT_MS,
    name: 'backup',
    ...routeOf(config),
  });
  const file = join(config.BACKUP_DIR, backupFileName());
  const summary = await getSummary(redis);
  if (summary.state === 'loading')
    say('a load or delete is running: the snapshot will hold it half done (state "loading"; the next load repairs it)');
  const started = Date.now();
  const bytes = await backupRdb(redis, file);
  say(`wrote ${file} (${(bytes / 1024 / 1024).toFixed(1)} MiB in ${((Date.now() - started) / 1000).toFixed(1)} s)`);
  say(`dataset when the backup began: ${summary.records} records, version ${summary.version}`);
} catch (err) {
  say(`failed: ${(err as Error).message}`);
  process.exitCode = 1;
} finally {
  await closeRedis(redis);
}
