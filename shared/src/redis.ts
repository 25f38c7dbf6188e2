/**
 * Redis connections. Every process connects through connectRedis(): it fails fast with a clear
 * error when Redis cannot be reached at start, and after that reconnects with capped
 * exponential backoff for as long as the process lives. Commands issued while the connection
 * is down fail at once (no offline queue), and with `commandTimeoutMs` a command Redis does not
 * answer in time fails too (a stalled server keeps the connection open), so callers can answer
 * 503 instead of hanging. isRedisUnavailable() tells all of those failures from the rest.
 */
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { checkServerIdentity, connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { setTimeout as sleep } from 'node:timers/promises';
import { askSentinels, relayFor, type SentinelTarget } from './sentinel.ts';
import { once } from 'node:events';
import {
  ClientClosedError,
  ClientOfflineError,
  ConnectionTimeoutError,
  createClient,
  DisconnectsClientError,
  ErrorReply,
  ReconnectStrategyError,
  SocketClosedUnexpectedlyError,
  SocketTimeoutError,
  TimeoutError,
  type RedisClientType,
} from 'redis';
import { ServiceError } from './errors.ts';

export type Redis = RedisClientType;

/**
 * Redis is not answering. The API answers it with a generic message (the original names hosts),
 * so its own message is for logs; code, status and Retry-After are the client's.
 */
export class RedisUnavailableError extends ServiceError {
  override name = 'RedisUnavailableError';
  override readonly code = 'redis_unavailable';
  override readonly statusCode = 503;
  override readonly retryAfter = 1;
}

/** The first connection failed in a way retrying cannot fix, so connectRedis() gave up at once. */
export class RedisRejectedError extends RedisUnavailableError {
  override name = 'RedisRejectedError';
}

/**
 * A command got no reply in time: Redis is stalled (stopped, forking, overloaded) or the
 * connection is half open. Whether the command ran is unknown, as with any lost reply.
 */
export class RedisTimeoutError extends RedisUnavailableError {
  override name = 'RedisTimeoutError';
  constructor(readonly timeoutMs: number) {
    super(`Redis did not answer within ${timeoutMs} ms`);
  }
}

/**
 * node-redis' errors for "no answer from Redis now". They set no `name` (every one is `Error`),
 * so they are told apart by class. TimeoutError is node-redis' per-command timeout.
 */
const UNAVAILABLE_CLASSES: ReadonlyArray<abstract new (...args: never[]) => Error> = [
  RedisUnavailableError,
  TimeoutError,
  ClientClosedError,
  ClientOfflineError,
  ConnectionTimeoutError,
  SocketClosedUnexpectedlyError,
  SocketTimeoutError,
  ReconnectStrategyError,
  DisconnectsClientError,
];

/**
 * Error replies of a server that is up but cannot serve yet: replaying its AOF, running a long
 * script, a replica without its primary, a failover under way, out of memory for now. READONLY (a
 * demoted primary) and UNBLOCKED (a blocking pop cut short by the demotion) also make the
 * connection reconnect (guardCommands), so the retry reaches the new primary.
 */
const UNAVAILABLE_REPLY = /^(LOADING|BUSY|MASTERDOWN|TRYAGAIN|READONLY|UNBLOCKED|OOM)\b/;

/** Socket errors of a connection that failed or could not be made. */
const UNAVAILABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']);

/**
 * Whether `err` means "Redis is not answering right now" (the API's 503, a worker's retry), as
 * opposed to a refused command or a bug: the one list of Redis outages. Follows `cause`, so a
 * wrapped socket error counts too.
 */
export function isRedisUnavailable(err: unknown): boolean {
  for (let e = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if (UNAVAILABLE_CLASSES.some((cls) => e instanceof cls)) return true;
    if (e instanceof ErrorReply) return UNAVAILABLE_REPLY.test(e.message);
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && UNAVAILABLE_CODES.has(code)) return true;
  }
  return false;
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

/** Where `url` and the Sentinels lead, as an error message names it (no password). */
function describeTarget(url: string, sentinel: SentinelTarget | undefined): string {
  if (!sentinel) return redactUrl(url);
  return `the primary '${sentinel.master}' of the Sentinels ${sentinel.sentinels.map((s) => `${s.host}:${s.port}`).join(',')}`;
}

/**
 * With Sentinels: waits until one names the primary (a clear error when none does in time), and
 * gives the url and socket options that lead through this process's relay to that primary.
 */
async function viaSentinels(url: string, sentinel: SentinelTarget, timeoutMs: number) {
  const relay = await relayFor(sentinel);
  for (const until = Date.now() + timeoutMs; ; await sleep(100)) {
    try {
      relay.primary = await askSentinels(sentinel);
      break;
    } catch (err) {
      if (Date.now() < until) continue;
      throw new RedisUnavailableError(`cannot find the Redis primary within ${timeoutMs} ms: ${(err as Error).message}`);
    }
  }
  const u = new URL(url);
  u.hostname = '127.0.0.1';
  u.port = String(relay.port);
  // TLS runs end to end through the relay: the certificate must name the primary, not the relay.
  const socket =
    u.protocol === 'rediss:'
      ? {
          checkServerIdentity: (_: string, cert: Parameters<typeof checkServerIdentity>[1]) =>
            checkServerIdentity(relay.primary!.host, cert),
        }
      : {};
  return { url: u.toString(), socket };
}

export async function connectRedis(url: string, opts: ConnectOptions = {}): Promise<Redis> {
  const timeout = opts.connectTimeoutMs ?? 5000;
  const startedAt = Date.now();
  const where = describeTarget(url, opts.sentinel);
  const relayed = opts.sentinel ? await viaSentinels(url, opts.sentinel, timeout) : undefined;
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
 * node-redis 6 honours disableOfflineQueue for single commands only: a MULTI or a pipeline sent
 * while the connection is down waits for the next reconnect attempt (up to MAX_BACKOFF_MS) before
 * it fails. Batches fail at once too, so the promise at the top of this file holds for them.
 * With `timeoutMs`, every command and batch is put under deadline(). The methods are replaced on
 * the client's shared core (`_self`), which every view of it (withTypeMapping, withCommandOptions,
 * multi()) calls through.
 */
function guardCommands(client: Redis, timeoutMs: number | undefined): void {
  const core = coreOf(client) as Record<string, (...args: unknown[]) => Promise<unknown>>;
  if (timeoutMs) commandTimeouts.set(core, timeoutMs);
  const onReadonly = leaveDemotedPrimary(client);
  for (const name of ['_executeMulti', '_executePipeline']) {
    const execute = core[name];
    if (typeof execute !== 'function') throw new Error(`node-redis has no ${name} any more: update guardCommands`);
    core[name] = function (this: unknown, ...args: unknown[]) {
      if (!client.isReady) return Promise.reject(new RedisUnavailableError('Redis is not connected'));
      const reply = execute.apply(this, args).catch(onReadonly);
      return timeoutMs ? deadline(reply, timeoutMs) : reply;
    };
  }
  const send = core.sendCommand;
  if (typeof send !== 'function') throw new Error('node-redis has no sendCommand any more: update guardCommands');
  core.sendCommand = timeoutMs
    ? function (this: unknown, args: unknown, options: unknown) {
        return deadline(send.call(this, args, options).catch(onReadonly), timeoutMs + blockingMs(args as readonly unknown[]));
      }
    : function (this: unknown, args: unknown, options: unknown) {
        return send.call(this, args, options).catch(onReadonly);
      };
}

/** READONLY: this connection is on a replica, a demoted primary after a failover. */
export function isReadonlyReply(err: unknown): boolean {
  if (err instanceof ErrorReply && /^READONLY\b/.test(err.message)) return true;
  const replies = (err as { replies?: unknown[] } | undefined)?.replies;
  return Array.isArray(replies) && replies.some((r) => r instanceof ErrorReply && /^READONLY\b/.test(r.message));
}

/**
 * A rejection handler that rethrows, and on READONLY first has the server close this connection
 * (QUIT): node-redis then reconnects as after any lost connection, and the new connection reaches
 * whatever is primary now (the Sentinels' answer, or a fixed address that moved to the new
 * primary). Retrying on the old connection would get READONLY for ever. Once per connection.
 */
function leaveDemotedPrimary(client: Redis): (err: unknown) => never {
  let leaving = false;
  client.on('ready', () => (leaving = false));
  return (err: unknown) => {
    if (!leaving && isReadonlyReply(err) && client.isReady) {
      leaving = true;
      client.sendCommand(['QUIT']).catch(() => {});
    }
    throw err;
  };
}

const coreOf = (client: Redis): object => (client as unknown as { _self: object })._self;
const commandTimeouts = new WeakMap<object, number>();

/** The command timeout `client` (or any view of it) was connected with; undefined: none. */
export function commandTimeoutOf(client: Redis): number | undefined {
  return commandTimeouts.get(coreOf(client));
}

/** Blocking commands whose last argument is the timeout in seconds (0: for ever). */
const BLOCK_LAST = new Set(['BLPOP', 'BRPOP', 'BLMOVE', 'BRPOPLPUSH', 'BZPOPMIN', 'BZPOPMAX']);
/** Blocking commands whose first argument is the timeout in seconds (0: for ever). */
const BLOCK_FIRST = new Set(['BLMPOP', 'BZMPOP']);

/** How long Redis may rightly hold a command before replying: its block time (Infinity: for ever). */
export function blockingMs(args: readonly unknown[]): number {
  const name = String(args[0]);
  // Nearly every command is answered at once: two character tests keep them off the slow path.
  const c = name.charCodeAt(0) | 0x20;
  if (c !== 0x62 && c !== 0x78 && c !== 0x77) return 0; // b, x, w
  const upper = name.toUpperCase();
  const seconds = (v: unknown) => (Number(v) > 0 ? Number(v) * 1000 : Number(v) === 0 ? Infinity : 0);
  if (BLOCK_LAST.has(upper)) return seconds(args[args.length - 1]);
  if (BLOCK_FIRST.has(upper)) return seconds(args[1]);
  if (upper === 'XREAD' || upper === 'XREADGROUP') {
    for (let i = 1; i + 1 < args.length; i++) {
      const option = String(args[i]).toUpperCase();
      if (option === 'STREAMS') break;
      if (option === 'BLOCK') return Number(args[i + 1]) === 0 ? Infinity : Math.max(0, Number(args[i + 1]) || 0);
    }
    return 0;
  }
  if (upper === 'WAIT') return Number(args[2]) === 0 ? Infinity : Number(args[2]) || 0;
  if (upper === 'WAITAOF') return Number(args[3]) === 0 ? Infinity : Number(args[3]) || 0;
  return 0;
}

/** node-redis' default per-command timeout, which every command sent without `UNTIMED` keeps. */
export const COMMAND_TIMEOUT_MS = 5000;

/**
 * Command options that turn node-redis' own per-command timeout off, for connections with a
 * `commandTimeoutMs` and hot paths that put `deadline()` around the reply instead: node-redis
 * arms an `AbortSignal.timeout` per command, which costs several times what a plain timer does
 * (about a sixth of `GET /meteorites/{id}`'s CPU), and stops it once the command is written.
 */
export const UNTIMED = { timeout: 0 } as const;

/**
 * `reply`, or RedisTimeoutError after `ms`: a stalled Redis fails the caller instead of holding
 * it. The reply itself stays expected (node-redis matches replies to commands in order), so the
 * connection stays usable. Like node-redis' timeout, the timer does not keep the process alive.
 */
export function deadline<T>(reply: Promise<T>, ms = COMMAND_TIMEOUT_MS): Promise<T> {
  if (!Number.isFinite(ms)) return reply;
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => afterPendingIo(() => reject(new RedisTimeoutError(ms))), ms).unref();
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

/**
 * Runs `fn` once the socket reads already due have been handled. After the event loop was held
 * up (a long synchronous stretch), the next turn runs its timers before it reads sockets: a reply
 * that came in meanwhile would lose to its own timeout. An immediate runs after that read.
 */
export function afterPendingIo(fn: () => void): void {
  setImmediate(fn);
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
    ? tlsConnect({
        ...target,
        servername,
        ca: s.ca,
        cert: s.cert,
        key: s.key,
        rejectUnauthorized: s.rejectUnauthorized,
        // Only when set: an explicit undefined would replace tls' own check (and Node asserts on it).
        ...(s.checkServerIdentity ? { checkServerIdentity: s.checkServerIdentity } : {}),
      })
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
