/**
 * What the worker's parts share: its identity and connection, the jobs it holds, and each other.
 * Worker (worker.ts) builds one and wires the parts through it (as BullMQ hands its Worker to its
 * LockManager).
 */
import type { Logger } from 'pino';
import type { Config, Redis, WorkerQueue } from '@meteorites/shared';
import type { Claimer } from './claimer.ts';
import type { CommandConnection } from './connection.ts';
import type { Leases } from './leases.ts';
import type { JobHandler, RunningJob } from './running-job.ts';
import type { Settler } from './settler.ts';
import type { Slots } from './slots.ts';

export type LogContext = Record<string, unknown>;

export class WorkerContext {
  /** Shutdown began: claim nothing more, start nothing more. */
  stopping = false;
  /** close() was called: no sweep or reconnection starts. */
  closing = false;
  readonly jobs = new HeldJobs();
  slots!: Slots;
  claimer!: Claimer;
  settler!: Settler;
  leases!: Leases;

  constructor(
    readonly id: string,
    readonly log: Logger,
    readonly config: Config,
    readonly connection: CommandConnection,
  ) {}

  /** The queue on the current command connection (replaced when one goes silent). */
  get queue(): WorkerQueue {
    return this.connection.queue;
  }

  /** The command connection itself, timed by node-redis (for what is no hot path); unset before start(). */
  get redis(): Redis | undefined {
    return this.connection.redis;
  }

  /** The job handler on the current command connection. */
  get handler(): JobHandler {
    return this.connection.handler;
  }

  /** A new connection, or an error after REDIS_CONNECT_TIMEOUT_MS. */
  connect(name: string): Promise<Redis> {
    return this.connection.connectWithin(name);
  }
}

/** The jobs this worker holds. Every claimed id also lives in its processing list in Redis, never only here. */
export class HeldJobs {
  /** Every job this worker holds, from its claim until its settle (or hand-back) is written. */
  readonly active = new Map<string, RunningJob>();
  /** Claimed, waiting for a slot. */
  readonly ready: RunningJob[] = [];
  readonly running = new Set<RunningJob>();
  /** Mean run time of recent jobs (ms); unknown at first, so nothing is claimed ahead before a job has run. */
  meanRunMs = Infinity;
  /** Settle and hand-back calls on their way; shutdown waits for them. */
  readonly calls = new Set<Promise<void>>();

  track(call: Promise<void>): void {
    this.calls.add(call);
    void call.finally(() => this.calls.delete(call));
  }

  /**
   * Drops a run from `active`, but only that run: by the time a hand-back or settle completes, a
   * later claim (whose reply came in the same read) may hold the same id with a new token.
   */
  forget(a: RunningJob): void {
    if (this.active.get(a.job.id) === a) this.active.delete(a.job.id);
  }
}
