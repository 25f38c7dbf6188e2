/**
 * Redis connections. Every process connects through connectRedis(): it fails fast with a clear
 * error when Redis cannot be reached at start, and after that reconnects with capped
 * exponential backoff for as long as the process lives. Commands issued while the connection
 * is down fail at once (no offline queue), so callers can answer 503 instead of hanging.
 */
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { once } from 'node:events';
import { createClient, TimeoutError, type RedisClientType } from 'redis';

export type Redis = RedisClientType;

export class RedisUnavailableError extends Error {
  override name = 'RedisUnavailableError';
}

/** The first connection failed in a way retrying cannot fix, so connectRedis() gave up at once. */
export class RedisRejectedError extends RedisUnavailableError {
  override name = 'RedisRejectedError';
}

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
  // No `name` here: node-redis builds a new client class (every command attached, about 60 ms of
  // CPU) for each distinct set of options, and calls through many such classes stay slow
  // (megamorphic). The name is set once connected instead, and again after each reconnect.
  const client = createClient({
    url,
    disableOfflineQueue: true,
    socket: {
      connectTimeout: Math.min(timeout, 5000),
      reconnectStrategy: (retries: number, cause: Error) => {
        const permanent = everReady ? undefined : permanentFailure(cause);
        if (permanent) return new RedisRejectedError(`Redis at ${redactUrl(url)} ${permanent}: ${cause.message}`);
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
  const setName = () => client.sendCommand(['CLIENT', 'SETNAME', opts.name!]);
  client.on('ready', () => {
    if (everReady && opts.name) setName().catch(() => {});
    everReady = true;
  });
  failBatchesWhileOffline(client);
  try {
    await client.connect();
  } catch (err) {
    client.destroy();
    // node-redis wraps what reconnectStrategy returned in a ReconnectStrategyError.
    const given = (err as { originalError?: unknown }).originalError;
    if (given instanceof RedisUnavailableError) throw given;
    throw new RedisUnavailableError(`cannot connect to Redis at ${redactUrl(url)}: ${(err as Error).message}`);
  }
  // A user whose ACL forbids CLIENT SETNAME still gets a working, unnamed connection.
  if (opts.name) await setName().catch(() => {});
  return client;
}

/**
 * node-redis 6 honours disableOfflineQueue for single commands only: a MULTI or a pipeline sent
 * while the connection is down waits for the next reconnect attempt (up to MAX_BACKOFF_MS) before
 * it fails. Batches fail at once too, so the promise at the top of this file holds for them.
 */
function failBatchesWhileOffline(client: Redis): void {
  const c = client as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
  for (const name of ['_executeMulti', '_executePipeline']) {
    const execute = c[name];
    if (typeof execute !== 'function') throw new Error(`node-redis has no ${name} any more: update failBatchesWhileOffline`);
    c[name] = function (this: unknown, ...args: unknown[]) {
      return client.isReady ? execute.apply(this, args) : Promise.reject(new RedisUnavailableError('Redis is not connected'));
    };
  }
}

/** node-redis' default per-command timeout, which every command sent without `UNTIMED` keeps. */
export const COMMAND_TIMEOUT_MS = 5000;

/**
 * Command options that turn node-redis' own per-command timeout off, for hot paths that put
 * `deadline()` around the reply instead: node-redis arms an `AbortSignal.timeout` per command,
 * which costs several times what a plain timer does (about a sixth of `GET /meteorites/{id}`'s CPU).
 */
export const UNTIMED = { timeout: 0 } as const;

/**
 * `reply`, or node-redis' own TimeoutError after `ms`, as its command timeout would give: a
 * stalled Redis still fails the request instead of holding it. Like that timeout, the timer does
 * not keep the process alive.
 */
export function deadline<T>(reply: Promise<T>, ms = COMMAND_TIMEOUT_MS): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new TimeoutError()), ms).unref();
    reply.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
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

interface SocketOptions extends ConnectionOptions {
  host?: string;
  port?: number;
  path?: string;
  tls?: boolean;
  connectTimeout?: number;
}

export interface RawConnection {
  socket: Socket;
  /** The commands to send first: AUTH and SELECT, as the client's URL asks. */
  handshake: string[][];
}

/**
 * A plain socket to the Redis `client` talks to (same host, TLS settings, user, password and
 * database), for protocols the client does not speak: bulk pipelines, replication (backups).
 */
export async function openRawConnection(client: Redis): Promise<RawConnection> {
  const o = client.options as { socket?: SocketOptions; username?: string; password?: string; database?: number } | undefined;
  const s: SocketOptions = o?.socket ?? {};
  const target = s.path ? { path: s.path } : { host: s.host ?? '127.0.0.1', port: s.port ?? 6379 };
  // An IP address is not a valid TLS server name (SNI); the certificate is still checked against it.
  const servername = s.servername ?? (s.host && !isIP(s.host) ? s.host : undefined);
  const socket = s.tls
    ? tlsConnect({ ...target, servername, ca: s.ca, cert: s.cert, key: s.key, rejectUnauthorized: s.rejectUnauthorized })
    : netConnect(target);
  const timeoutMs = s.connectTimeout ?? 5000;
  const timeout = setTimeout(() => socket.destroy(new Error(`no connection within ${timeoutMs} ms`)), timeoutMs);
  try {
    await once(socket, s.tls ? 'secureConnect' : 'connect');
  } catch (err) {
    socket.destroy();
    throw err;
  } finally {
    clearTimeout(timeout);
  }
  const handshake: string[][] = [];
  if (o?.password) handshake.push(o.username ? ['AUTH', o.username, o.password] : ['AUTH', o.password]);
  if (o?.database) handshake.push(['SELECT', String(o.database)]);
  return { socket, handshake };
}
