/**
 * Deadlines: how long a command may go unanswered (its block time for blocking commands), and
 * deadline(), which fails a caller with RedisTimeoutError instead of letting a stalled Redis hold it.
 */
import type { Redis } from '../redis.ts';
import { RedisTimeoutError } from './errors.ts';

// Every view of a client (withTypeMapping, multi()...) shares one core: the timeout is kept per core.
export const coreOf = (client: Redis): object => (client as unknown as { _self: object })._self;
export const commandTimeouts = new WeakMap<object, number>();

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
