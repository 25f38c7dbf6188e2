/**
 * The worker's hot path has no node-redis command timeout (its AbortSignal per command costs a
 * large share of a no-op job), yet a call must never hang: on a half-open connection a reply may
 * never come. Each call here gets a plain timer instead; a call that outlives it fails as "Redis
 * unavailable", and the worker treats its reply as lost (what the call did in Redis is found by
 * the worker's sweep).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { closeRedis, RedisUnavailableError, type Redis } from '@meteorites/shared';

/**
 * A view of `client` (the same connection) whose sendCommand fails after `ms` without a reply.
 * `onSilent` is called when a call times out and the connection answered nothing at all for as
 * long: it may be half-open, and only a new connection can tell.
 */
export function withReplyTimeout(client: Redis, ms: number, onSilent?: () => void): Redis {
  const view = Object.create(client) as Redis;
  let lastAnswer = performance.now();
  view.sendCommand = ((args: Parameters<Redis['sendCommand']>[0], options?: Parameters<Redis['sendCommand']>[1]) =>
    new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new RedisUnavailableError(`no reply from Redis within ${ms} ms`));
        if (performance.now() - lastAnswer >= ms) onSilent?.();
      }, ms);
      client.sendCommand(args, options).then(
        (reply) => {
          lastAnswer = performance.now();
          clearTimeout(timer);
          resolve(reply);
        },
        (err: unknown) => {
          lastAnswer = performance.now();
          clearTimeout(timer);
          reject(err);
        },
      );
    })) as unknown as Redis['sendCommand'];
  return view;
}

/** Closes a connection, or drops it when replies it waits for do not come within `ms`. */
export async function closeWithin(client: Redis | undefined, ms: number): Promise<void> {
  if (!client) return;
  const closed = await Promise.race([closeRedis(client).then(() => true), sleep(ms, false)]);
  if (!closed && client.isOpen) client.destroy();
}
