import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  ClientClosedError,
  ClientOfflineError,
  ConnectionTimeoutError,
  ErrorReply,
  ReconnectStrategyError,
  SocketClosedUnexpectedlyError,
  TimeoutError,
  WatchError,
} from 'redis';
import {
  blockingMs,
  deadline,
  isReadonlyReply,
  isRedisUnavailable,
  RedisRejectedError,
  RedisTimeoutError,
  RedisUnavailableError,
} from './redis.ts';

describe('deadline', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('passes a reply or a failure through and leaves no timer behind', async () => {
    vi.useFakeTimers();
    await expect(deadline(Promise.resolve('OK'), 1000)).resolves.toBe('OK');
    await expect(deadline(Promise.reject(new Error('WRONGTYPE')), 1000)).rejects.toThrow('WRONGTYPE');
    expect(vi.getTimerCount()).toBe(0);
  });

  it('fails with RedisTimeoutError, which says how long it waited and counts as Redis unavailable, when no reply comes in time', async () => {
    // The timer is faked; the immediate that lets due socket reads go first (afterPendingIo) is real.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const stalled = deadline(new Promise<never>(() => {}), 1000);
    const outcome = expect(stalled).rejects.toSatisfy(
      (err: Error) =>
        err instanceof RedisTimeoutError &&
        err.message === 'Redis did not answer within 1000 ms' &&
        err.name === 'RedisTimeoutError' &&
        isRedisUnavailable(err),
    );
    await vi.advanceTimersByTimeAsync(999);
    expect(vi.getTimerCount()).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    await outcome;
  });
});

describe('isRedisUnavailable', () => {
  it("recognises node-redis' connection and timeout errors by class (they all carry the name Error) and the project's own", () => {
    for (const err of [
      new TimeoutError(),
      new ClientClosedError(),
      new ClientOfflineError(),
      new ConnectionTimeoutError(),
      new SocketClosedUnexpectedlyError(),
      new ReconnectStrategyError(new Error('gave up'), new Error('ECONNREFUSED')),
      new RedisUnavailableError('Redis is not connected'),
      new RedisRejectedError('refused to authenticate'),
      new RedisTimeoutError(2000),
    ]) {
      expect(err.name, err.constructor.name).toBe(err instanceof RedisUnavailableError ? err.constructor.name : 'Error');
      expect(isRedisUnavailable(err), err.constructor.name).toBe(true);
    }
  });

  it('recognises a server that cannot serve yet, a failed socket and a wrapped cause; nothing else', () => {
    expect(isRedisUnavailable(new ErrorReply('LOADING Redis is loading the dataset in memory'))).toBe(true);
    expect(isRedisUnavailable(new ErrorReply('BUSY Redis is busy running a script'))).toBe(true);
    expect(isRedisUnavailable(new ErrorReply('OOM command not allowed when used memory > maxmemory'))).toBe(true);
    expect(isRedisUnavailable(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6379'), { code: 'ECONNREFUSED' }))).toBe(true);
    expect(isRedisUnavailable(new Error('bulk write failed', { cause: new SocketClosedUnexpectedlyError() }))).toBe(true);
    expect(isRedisUnavailable(new ErrorReply('WRONGTYPE Operation against a key holding the wrong kind of value'))).toBe(false);
    expect(isRedisUnavailable(new WatchError())).toBe(false);
    expect(isRedisUnavailable(new Error('the dataset is loading; try again shortly'))).toBe(false);
    expect(isRedisUnavailable(new Error('Redis did not answer'))).toBe(false);
    expect(isRedisUnavailable('ECONNREFUSED')).toBe(false);
  });
});

describe('blockingMs', () => {
  it('is the block time of blocking commands (Infinity for 0: for ever), 0 for every other', () => {
    expect(blockingMs(['BLMOVE', 'a', 'b', 'RIGHT', 'LEFT', '2'])).toBe(2000);
    expect(blockingMs(['blpop', 'a', '0.5'])).toBe(500);
    expect(blockingMs(['BZMPOP', '3', '1', 'z', 'MIN'])).toBe(3000);
    expect(blockingMs(['BRPOP', 'a', '0'])).toBe(Infinity);
    expect(blockingMs(['XREAD', 'COUNT', '1', 'BLOCK', '1500', 'STREAMS', 's', '$'])).toBe(1500);
    expect(blockingMs(['XREAD', 'STREAMS', 'BLOCK', '$'])).toBe(0);
    expect(blockingMs(['HMGET', 'k', 'f'])).toBe(0);
    expect(blockingMs(['BITCOUNT', 'k'])).toBe(0);
    expect(blockingMs(['EVALSHA', 'abc', '0'])).toBe(0);
  });
});

describe('isRedisUnavailable, as the queue and the worker retry on it', () => {
  it("tells Redis outages, stalls and a full memory from deterministic errors, by node-redis' classes", () => {
    expect(isRedisUnavailable(new SocketClosedUnexpectedlyError())).toBe(true);
    expect(isRedisUnavailable(new RedisTimeoutError(2000))).toBe(true);
    expect(isRedisUnavailable(new ErrorReply('LOADING Redis is loading the dataset in memory'))).toBe(true);
    expect(isRedisUnavailable(new ErrorReply('OOM command not allowed when used memory > maxmemory'))).toBe(true);
    expect(isRedisUnavailable(new ErrorReply('WRONGTYPE Operation against a key holding the wrong kind of value'))).toBe(false);
    expect(isRedisUnavailable(new TypeError('cannot read properties of undefined'))).toBe(false);
    expect(isRedisUnavailable('LOADING')).toBe(false);
  });

  it('counts a cluster node that does not serve the slot now (MOVED, CLUSTERDOWN) as an outage, and reconnects on it; CROSSSLOT is a bug', () => {
    const moved = new ErrorReply('MOVED 9102 127.0.0.1:7001');
    const down = new ErrorReply('CLUSTERDOWN The cluster is down');
    const crossSlot = new ErrorReply("CROSSSLOT Keys in request don't hash to the same slot");
    expect([moved, down, crossSlot].map(isRedisUnavailable)).toEqual([true, true, false]);
    expect([moved, down, crossSlot].map(isReadonlyReply)).toEqual([true, true, false]);
    // A MULTI whose EXEC was aborted names the reply in `replies`.
    expect(isReadonlyReply(Object.assign(new Error('EXECABORT'), { replies: ['OK', moved] }))).toBe(true);
  });
});
