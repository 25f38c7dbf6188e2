/**
 * `npm run restore -- <file.rdb> [--data-dir <dir>]`: makes a Redis data directory hold a backup.
 * Without --data-dir it restores `npm start`'s own Redis (DATA_DIR/redis), which must not be
 * running. A Redis you run elsewhere: stop it, restore into a directory, put that directory's
 * contents in place of its data directory, start it (docs/operations.md, "Backups and restore").
 */
import { ServiceError, loadConfig } from '@meteorites/shared';
import { existsSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { restoreRdb } from '@meteorites/tools';

const USAGE = 'usage: npm run restore -- <file.rdb> [--data-dir <redis data directory>]';
const say = (msg: string) => process.stdout.write(`[restore] ${msg}\n`);
/** A path as short as it can be said: relative to here when it is below here. */
const shown = (path: string) => (relative(process.cwd(), path).startsWith('..') ? path : relative(process.cwd(), path));

class RestoreRefusedError extends ServiceError {
  override name = 'RestoreRefusedError';
  override readonly code = 'restore_refused';
}

/** The redis-server `npm start` left a pid file for, if it is still running. */
function runningRedis(dataDir: string): number | undefined {
  const pidFile = join(dataDir, 'redis-server.pid');
  if (!existsSync(pidFile)) return undefined;
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('redis-server') ? pid : undefined;
  } catch {
    return undefined;
  }
}

try {
  const config = loadConfig();
  const { values, positionals } = parseArgs({ options: { 'data-dir': { type: 'string' } }, allowPositionals: true });
  if (positionals.length !== 1) throw new RestoreRefusedError(USAGE);
  if (!values['data-dir'] && config.REDIS_URL) {
    throw new RestoreRefusedError(
      `REDIS_URL is set, and a restore writes a data directory, not a server over the network: pass --data-dir\n${USAGE}`,
    );
  }
  const dataDir = resolve(values['data-dir'] ?? join(config.DATA_DIR, 'redis'));
  const pid = runningRedis(dataDir);
  if (pid)
    throw new RestoreRefusedError(`a redis-server (pid ${pid}) is running on ${shown(dataDir)}: stop it (Ctrl-C in npm start) first`);
  const { keys, previous } = await restoreRdb(positionals[0]!, dataDir);
  say(`restored ${keys} keys into ${shown(dataDir)} (as an AOF); start Redis on it (npm start) to serve them`);
  if (previous) say(`the data it replaced is in ${shown(previous)}: delete it once you are satisfied`);
} catch (err) {
  say(`failed: ${(err as Error).message}`);
  process.exitCode = 1;
}
