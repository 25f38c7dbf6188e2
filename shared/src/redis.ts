/**
 * Redis connections. Every process connects through connectRedis(): it fails fast with a clear
 * error when Redis cannot be reached at start, and after that reconnects with capped
 * exponential backoff for as long as the process lives. Commands issued while the connection
 * is down fail at once (no offline queue), so callers can answer 503 instead of hanging.
 */
import { createClient, type RedisClientType } from 'redis';

export type Redis = RedisClientType;

export class RedisUnavailableError extends Error {
  override name = 'RedisUnavailableError';
}

export interface ConnectOptions {
  /** How long the first connection may take before connectRedis() rejects. */
  connectTimeoutMs?: number;
  /** Shown in CLIENT LIST, handy when reading a busy server. */
  name?: string;
  /** Called for connection errors after start (they are retried, not thrown). */
  onError?: (err: Error) => void;
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

export async function connectRedis(url: string, opts: ConnectOptions = {}): Promise<Redis> {
  const timeout = opts.connectTimeoutMs ?? 5000;
  const startedAt = Date.now();
  let everReady = false;
  const client = createClient({
    url,
    name: opts.name,
    disableOfflineQueue: true,
    socket: {
      connectTimeout: Math.min(timeout, 5000),
      reconnectStrategy: (retries: number, cause: Error) => {
        if (!everReady && Date.now() - startedAt >= timeout) {
          return new RedisUnavailableError(
            `cannot reach Redis at ${redactUrl(url)} within ${timeout} ms: ${cause.message}`,
          );
        }
        const backoff = Math.min(MAX_BACKOFF_MS, 50 * 2 ** Math.min(retries, 10));
        return backoff / 2 + Math.random() * (backoff / 2);
      },
    },
  }) as unknown as Redis;
  client.on('error', (err: Error) => {
    if (everReady) opts.onError?.(err);
  });
  client.on('ready', () => {
    everReady = true;
  });
  try {
    await client.connect();
  } catch (err) {
    client.destroy();
    const message = (err as Error).message;
    throw new RedisUnavailableError(
      message.startsWith('cannot reach') ? message : `cannot connect to Redis at ${redactUrl(url)}: ${message}`,
    );
  }
  return client;
}

/** Closes a client whatever state it is in; safe to call twice. */
export async function closeRedis(client: Redis | undefined): Promise<void> {
  if (!client) return;
  try {
    if (client.isOpen) await client.close();
  } catch {
    if (client.isOpen) client.destroy();
  }
}
