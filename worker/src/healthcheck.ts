/**
 * Container health check for a worker (compose.yaml): healthy when Redis answers and a worker
 * process on this host has a live heartbeat in `jobs:workers`. Exit 0 healthy, 1 not.
 */
import { hostname } from 'node:os';
import { loadConfig, keys, closeRedis, connectRedis, type Redis, routeOf } from '@meteorites/shared';

const config = loadConfig();
let redis: Redis | undefined;
let healthy = false;
try {
  if (!config.REDIS_URL) throw new Error('REDIS_URL is not set');
  redis = await connectRedis(config.REDIS_URL, { connectTimeoutMs: 3000, name: 'worker-healthcheck', ...routeOf(config) });
  const [seconds, micros] = await redis.time();
  const nowMs = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
  const live = await redis.zRangeByScore(keys.jobsWorkers, nowMs, '+inf');
  const prefix = `${hostname()}-`.replace(/[^A-Za-z0-9._-]/g, '_');
  healthy = live.some((id) => id.startsWith(prefix));
  if (!healthy) console.error(`no live worker heartbeat from ${hostname()}`);
} catch (err) {
  console.error(`unhealthy: ${(err as Error).message}`);
} finally {
  await closeRedis(redis);
}
process.exit(healthy ? 0 : 1);
