/**
 * Redis Sentinel: the primary's address comes from the Sentinels, asked again for every new
 * connection (through this process's relay, redis/relay.ts), so a connection opened after a
 * failover reaches the new primary. A demoted primary still up (a partition) answers READONLY, on
 * which redis/guard.ts closes the connection; Sentinel itself also closes every client of a
 * primary it demotes.
 */
import { ServiceError } from './errors.ts';
import type { Config } from './config.ts';
import { parseHostPorts, query, type Discovery, type HostPort } from './redis/relay.ts';

export { parseHostPorts, type HostPort } from './redis/relay.ts';

export interface SentinelTarget {
  sentinels: HostPort[];
  master: string;
  /** The Sentinels' own password (not the primary's: that one travels in REDIS_URL). */
  password?: string;
  /** Talk TLS to the Sentinels (REDIS_URL is rediss://). */
  tls?: boolean;
}

export class SentinelError extends ServiceError {
  override name = 'SentinelError';
  override readonly code = 'sentinel_unavailable';
}

/** The Sentinel settings of `config`, or undefined when it names a plain REDIS_URL. */
export function sentinelOf(
  config: Pick<Config, 'REDIS_SENTINELS' | 'REDIS_SENTINEL_MASTER' | 'REDIS_SENTINEL_PASSWORD' | 'REDIS_URL'>,
): SentinelTarget | undefined {
  if (!config.REDIS_SENTINELS || !config.REDIS_SENTINEL_MASTER) return undefined;
  return {
    sentinels: parseHostPorts(config.REDIS_SENTINELS),
    master: config.REDIS_SENTINEL_MASTER,
    password: config.REDIS_SENTINEL_PASSWORD,
    tls: config.REDIS_URL?.startsWith('rediss:') ?? false,
  };
}

/** The primary one Sentinel names for `target.master`; rejects when it cannot say. */
async function askOne(sentinel: HostPort, target: SentinelTarget): Promise<HostPort> {
  const commands = [...(target.password ? [['AUTH', target.password]] : []), ['SENTINEL', 'GET-MASTER-ADDR-BY-NAME', target.master]];
  const replies = await query(sentinel, commands, target.tls);
  const failed = replies.find((r) => r instanceof Error);
  if (failed) throw failed;
  const addr = replies.at(-1);
  if (!Array.isArray(addr) || addr.length !== 2) throw new SentinelError(`does not know a primary named '${target.master}'`);
  return { host: String(addr[0]), port: Number(addr[1]) };
}

/** Asks the Sentinels in turn; the first that names the primary answers, and is asked first next time. */
export async function askSentinels(target: SentinelTarget): Promise<HostPort> {
  const failures: string[] = [];
  for (const sentinel of [...target.sentinels]) {
    try {
      const primary = await askOne(sentinel, target);
      target.sentinels.splice(target.sentinels.indexOf(sentinel), 1);
      target.sentinels.unshift(sentinel);
      return primary;
    } catch (err) {
      failures.push(`${sentinel.host}:${sentinel.port}: ${(err as Error).message}`);
    }
  }
  throw new SentinelError(`no Sentinel named the primary '${target.master}' (${failures.join('; ')})`);
}

/** Where a relay sends connections in Sentinel mode: the primary the Sentinels name. */
export function sentinelDiscovery(target: SentinelTarget): Discovery {
  return {
    key: JSON.stringify(['sentinel', target.sentinels, target.master, target.password ?? '', target.tls ?? false]),
    locate: () => askSentinels(target),
    describe: () => `the primary '${target.master}' of the Sentinels ${target.sentinels.map((s) => `${s.host}:${s.port}`).join(',')}`,
  };
}
