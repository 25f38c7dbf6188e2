/**
 * The guard connectRedis() puts around every command: batches fail at once while disconnected,
 * every command and batch runs under a deadline, and a READONLY reply (a demoted primary), or a
 * MOVED or CLUSTERDOWN one (a cluster node not serving the slot now), makes the connection
 * reconnect so the retry reaches the new primary.
 */
import { ErrorReply } from 'redis';
import type { Redis } from '../redis.ts';
import { blockingMs, commandTimeouts, coreOf, deadline } from './deadline.ts';
import { RedisUnavailableError } from './errors.ts';

/**
 * node-redis 6 honours disableOfflineQueue for single commands only: a MULTI or a pipeline sent
 * while the connection is down waits for the next reconnect attempt (up to the maximum backoff)
 * before it fails. Batches fail at once too, so the promise at the top of redis.ts holds for them.
 * With `timeoutMs`, every command and batch is put under deadline(). The methods are replaced on
 * the client's shared core (`_self`), which every view of it (withTypeMapping, withCommandOptions,
 * multi()) calls through.
 */
export function guardCommands(client: Redis, timeoutMs: number | undefined): void {
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

/**
 * READONLY: this connection is on a replica, a demoted primary after a failover. MOVED: on a
 * cluster node that no longer serves the service's slot (a demoted master, or a stale answer
 * about who serves it). CLUSTERDOWN: the node's cluster cannot serve now (a master is gone and
 * its replica not yet promoted); the new connection asks the cluster again.
 */
const WRONG_SERVER = /^(READONLY|MOVED|CLUSTERDOWN)\b/;

export function isReadonlyReply(err: unknown): boolean {
  if (err instanceof ErrorReply && WRONG_SERVER.test(err.message)) return true;
  const replies = (err as { replies?: unknown[] } | undefined)?.replies;
  return Array.isArray(replies) && replies.some((r) => r instanceof ErrorReply && WRONG_SERVER.test(r.message));
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
