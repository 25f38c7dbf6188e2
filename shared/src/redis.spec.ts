import { afterEach, describe, expect, it, vi } from 'vitest';
import { TimeoutError } from 'redis';
import { deadline } from './redis.ts';

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

  it("fails with node-redis' own TimeoutError when no reply comes in time", async () => {
    vi.useFakeTimers();
    const stalled = deadline(new Promise<never>(() => {}), 1000);
    const outcome = expect(stalled).rejects.toBeInstanceOf(TimeoutError);
    await vi.advanceTimersByTimeAsync(999);
    expect(vi.getTimerCount()).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    await outcome;
  });
});
