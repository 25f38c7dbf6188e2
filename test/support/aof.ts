/**
 * A lost AOF tail, for real: what a Redis with `appendfsync everysec` (or `no`) loses when its
 * machine dies before the next fsync, or what a replica promoted by a failover never received.
 *
 * A SIGKILL of redis-server alone loses nothing (its writes are in the kernel's page cache), so
 * the loss is made on the file: mark() notes how long the AOF's incremental file is right after
 * a write was acknowledged (Redis writes the AOF before it replies), and loseWritesSince() kills
 * the server, cuts the file back to that length and starts it again. The server then comes back
 * exactly as it was at the mark: every write acknowledged after it is gone.
 */
import { readFileSync, statSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import type { TestRedis } from './redis.ts';

export interface AofMark {
  file: string;
  size: number;
  manifest: string;
}

function incrFile(dataDir: string): { file: string; manifest: string } {
  const dir = join(dataDir, 'appendonlydir');
  const manifest = readFileSync(join(dir, 'appendonly.aof.manifest'), 'utf8');
  // Redis 7's multi-part AOF: the manifest's last `type i` file takes the writes.
  const incr = [...manifest.matchAll(/^file (\S+) seq \d+ type i$/gm)].pop();
  if (!incr) throw new Error(`no incremental AOF file in ${dir}: ${manifest}`);
  return { file: join(dir, incr[1]!), manifest };
}

/** Whether this Redis can lose a tail (a local redis-server with its data directory here). */
export const canLoseTail = (redis: TestRedis): boolean => redis.controllable && redis.dataDir !== undefined;

/** The AOF as it is now: call it right after the last write that must survive was acknowledged. */
export function mark(redis: TestRedis): AofMark {
  if (!redis.dataDir) throw new Error('a lost AOF tail needs a local redis-server (its data directory)');
  const { file, manifest } = incrFile(redis.dataDir);
  return { file, manifest, size: statSync(file).size };
}

/**
 * SIGKILL, every write since `at` removed from the AOF, restart. Throws when the AOF was
 * rewritten meanwhile (the mark no longer names the file that took the writes).
 */
export async function loseWritesSince(redis: TestRedis, at: AofMark): Promise<{ lostBytes: number }> {
  await redis.kill();
  const now = incrFile(redis.dataDir!);
  if (now.file !== at.file || now.manifest !== at.manifest) throw new Error('the AOF was rewritten after the mark: cannot cut its tail');
  const lostBytes = statSync(at.file).size - at.size;
  truncateSync(at.file, at.size);
  await redis.start();
  return { lostBytes };
}
