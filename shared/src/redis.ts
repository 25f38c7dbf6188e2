/**
 * Redis connections. Every process connects through connectRedis(): it fails fast with a clear
 * error when Redis cannot be reached at start, and after that reconnects with capped
 * exponential backoff for as long as the process lives. Commands issued while the connection
 * is down fail at once (no offline queue), and with `commandTimeoutMs` a command Redis does not
 * answer in time fails too (a stalled server keeps the connection open), so callers can answer
 * 503 instead of hanging. isRedisUnavailable() tells all of those failures from the rest.
 */
import { checkServerIdentity } from 'node:tls';
import { setTimeout as sleep } from 'node:timers/promises';
import { createClient, type RedisClientType } from 'redis';
import { sentinelDiscovery, sentinelOf, type SentinelTarget } from './sentinel.ts';
import { CLUSTER_HASH_TAG, clusterDiscovery, clusterOf, type ClusterTarget } from './cluster.ts';
import { useHashTag } from './keys.ts';
import type { Config } from './config.ts';
import { relayFor, type Discovery } from './redis/relay.ts';
import { COMMAND_TIMEOUT_MS, UNTIMED } from './redis/deadline.ts';
import { RedisRejectedError, RedisTimeoutError, RedisUnavailableError } from './redis/errors.ts';
import { guardCommands } from './redis/guard.ts';

// The public module: what the parts in redis/ export, importers take from here.
export { isRedisUnavailable, RedisRejectedError, RedisTimeoutError, RedisUnavailableError } from './redis/errors.ts';
export { afterPendingIo, blockingMs, COMMAND_TIMEOUT_MS, commandTimeoutOf, deadline, UNTIMED } from './redis/deadline.ts';
export { isReadonlyReply } from './redis/guard.ts';
export { openRawConnection, type RawConnection } from './redis/raw.ts';

export type Redis = RedisClientType;

/** What went wrong when it cannot fix itself: refused credentials, or a certificate that does not verify. */
function permanentFailure(err: Error & { code?: string }): string | undefined {
  if (/^(WRONGPASS|NOAUTH)\b|^ERR AUTH\b|^ERR invalid password/.test(err.message)) {
    return 'refused to authenticate (check the user and password in the URL)';
  }
  if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS/.test(err.code ?? '')) {
    return 'sent a TLS certificate this process does not trust (NODE_EXTRA_CA_CERTS adds a CA)';
  }
  return undefined;
}

export interface ConnectOptions {
  /** How long the first connection may take before connectRedis() rejects. */
  connectTimeoutMs?: number;
  /** Shown in CLIENT LIST, handy when reading a busy server. */
  name?: string;
  /** Called for connection errors after start (they are retried, not thrown). */
  onError?: (err: Error) => void;
  /**
   * A command (or MULTI, or pipeline) with no reply after this many ms fails with
   * RedisTimeoutError; a blocking command (BLMOVE, XREAD BLOCK...) gets its own block time on
   * top. Unset: node-redis' default, which stops counting once the command is written to the
   * socket, so a stalled Redis holds the caller for as long as it is stalled.
   */
  commandTimeoutMs?: number;
  /**
   * Connect to the primary these Sentinels name (sentinel.ts), and to the new one after a
   * failover; `url` then gives only the credentials, TLS and database.
   */
  sentinel?: SentinelTarget;
  /**
   * Connect to the master of the service's slot in this Redis Cluster (cluster.ts), and to the
   * promoted replica after a failover; `url` then gives only the credentials and TLS. Puts the
   * cluster's hash tag on every key name of the process (keys.ts useHashTag).
   */
  cluster?: ClusterTarget;
}

/** Where the settings say Redis is: the Sentinels', the cluster's, or (neither) REDIS_URL's own. */
export function routeOf(
  config: Pick<Config, 'REDIS_SENTINELS' | 'REDIS_SENTINEL_MASTER' | 'REDIS_SENTINEL_PASSWORD' | 'REDIS_CLUSTER_NODES' | 'REDIS_URL'>,
): Pick<ConnectOptions, 'sentinel' | 'cluster'> {
  return { sentinel: sentinelOf(config), cluster: clusterOf(config) };
}

const MAX_BACKOFF_MS = 2000;

/** A URL safe to print: the password, if any, is masked. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '<invalid url>';
  }
}

/**
 * With a Discovery (Sentinels, cluster): waits until it names a server (a clear error when it
 * cannot in time), and gives the url and socket options that lead through this process's relay to it.
 */
async function viaRelay(url: string, discovery: Discovery, timeoutMs: number) {
  const relay = await relayFor(discovery);
  for (const until = Date.now() + timeoutMs; ; await sleep(100)) {
    try {
      relay.current = await discovery.locate();
      break;
    } catch (err) {
      if (Date.now() < until) continue;
      throw new RedisUnavailableError(`cannot find ${discovery.describe()} within ${timeoutMs} ms: ${(err as Error).message}`);
    }
  }
  const u = new URL(url);
  u.hostname = '127.0.0.1';
  u.port = String(relay.port);
  // TLS runs end to end through the relay: the certificate must name the server, not the relay.
  const socket =
    u.protocol === 'rediss:'
      ? {
          checkServerIdentity: (_: string, cert: Parameters<typeof checkServerIdentity>[1]) =>
            checkServerIdentity(relay.current!.host, cert),
        }
      : {};
  return { url: u.toString(), socket };
}

export async function connectRedis(url: string, opts: ConnectOptions = {}): Promise<Redis> {
  const timeout = opts.connectTimeoutMs ?? 5000;
  const startedAt = Date.now();
  if (opts.cluster) useHashTag(CLUSTER_HASH_TAG);
  const discovery = opts.sentinel ? sentinelDiscovery(opts.sentinel) : opts.cluster ? clusterDiscovery(opts.cluster) : undefined;
  const where = discovery ? discovery.describe() : redactUrl(url);
  const relayed = discovery ? await viaRelay(url, discovery, timeout) : undefined;
  let everReady = false;
  // No `name` here: node-redis builds a new client class (every command attached, about 60 ms of
  // CPU) for each distinct set of options, and calls through many such classes stay slow
  // (megamorphic). The name is set once connected instead, and again after each reconnect.
  const commandTimeout = opts.commandTimeoutMs;
  const client = createClient({
    url: relayed?.url ?? url,
    disableOfflineQueue: true,
    // node-redis' own timer (an AbortSignal per command) is redundant under ours: off.
    ...(commandTimeout ? { commandOptions: UNTIMED } : {}),
    socket: {
      ...relayed?.socket,
      connectTimeout: Math.min(timeout, 5000),
      reconnectStrategy: (retries: number, cause: Error) => {
        const permanent = everReady ? undefined : permanentFailure(cause);
        if (permanent) return new RedisRejectedError(`Redis at ${where} ${permanent}: ${cause.message}`);
        if (!everReady && Date.now() - startedAt >= timeout) {
          return new RedisUnavailableError(`cannot reach Redis at ${where} within ${timeout} ms: ${cause.message}`);
        }
        const backoff = Math.min(MAX_BACKOFF_MS, 50 * 2 ** Math.min(retries, 10));
        return backoff / 2 + Math.random() * (backoff / 2);
      },
    },
  }) as unknown as Redis;
  client.on('error', (err: Error) => {
    if (everReady) opts.onError?.(err);
  });
  const setName = () => client.sendCommand(['CLIENT', 'SETNAME', opts.name!]);
  client.on('ready', () => {
    if (everReady && opts.name) setName().catch(() => {});
    everReady = true;
  });
  guardCommands(client, commandTimeout);
  try {
    await client.connect();
  } catch (err) {
    client.destroy();
    // node-redis wraps what reconnectStrategy returned in a ReconnectStrategyError.
    const given = (err as { originalError?: unknown }).originalError;
    if (given instanceof RedisUnavailableError) throw given;
    throw new RedisUnavailableError(`cannot connect to Redis at ${where}: ${(err as Error).message}`);
  }
  // A user whose ACL forbids CLIENT SETNAME still gets a working, unnamed connection.
  if (opts.name) await setName().catch(() => {});
  return client;
}

/**
 * Closes a client whatever state it is in; safe to call twice. A close waits for the replies
 * still due, which a stalled Redis never sends: after `graceMs` the connection is dropped.
 */
export async function closeRedis(client: Redis | undefined, graceMs = COMMAND_TIMEOUT_MS): Promise<void> {
  if (!client) return;
  let timer: NodeJS.Timeout | undefined;
  try {
    if (client.isOpen) {
      await Promise.race([
        client.close(),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new RedisTimeoutError(graceMs)), graceMs);
        }),
      ]);
    }
  } catch {
    if (client.isOpen) client.destroy();
  } finally {
    clearTimeout(timer);
  }
}
