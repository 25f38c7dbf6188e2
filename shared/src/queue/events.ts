/**
 * Waiting for a job to end without polling: one subscriber connection per process listens on
 * the job events channel and wakes the waiters of the job named in each message.
 *
 * Register the waiter BEFORE reading the job's status: an end published after the read is then
 * always seen, and one published before it shows in the read.
 */
import { keys } from '../keys.ts';
import type { Redis } from '../redis.ts';

export interface JobWaiter {
  /** Resolves when the job's end is announced or after `ms`, whichever is first. */
  until(ms: number): Promise<void>;
  /** Forgets the waiter (always call it, e.g. in a finally). */
  dispose(): void;
}

export class JobEvents {
  readonly #waiters = new Map<string, Set<() => void>>();

  /** `subscriber` must be a connection of its own: a subscribed connection runs no other command. */
  static async listen(subscriber: Redis): Promise<JobEvents> {
    const events = new JobEvents();
    // A message is one line `<id> <status>` per job that ended in that step.
    await subscriber.subscribe(keys.jobEvents, (message) => {
      for (const line of message.split('\n')) events.#notify(line.slice(0, line.indexOf(' ')));
    });
    return events;
  }

  #notify(id: string): void {
    for (const wake of this.#waiters.get(id) ?? []) wake();
  }

  waiter(id: string): JobWaiter {
    let wake!: () => void;
    const announced = new Promise<void>((resolve) => {
      wake = resolve;
    });
    let set = this.#waiters.get(id);
    if (!set) this.#waiters.set(id, (set = new Set()));
    set.add(wake);
    let timer: NodeJS.Timeout | undefined;
    const dispose = () => {
      clearTimeout(timer);
      wake();
      const s = this.#waiters.get(id);
      s?.delete(wake);
      if (s?.size === 0) this.#waiters.delete(id);
    };
    return {
      until: (ms) => {
        timer = setTimeout(wake, ms);
        return announced;
      },
      dispose,
    };
  }

  /** How many requests are waiting, for tests and metrics. */
  get waiting(): number {
    let n = 0;
    for (const s of this.#waiters.values()) n += s.size;
    return n;
  }
}
