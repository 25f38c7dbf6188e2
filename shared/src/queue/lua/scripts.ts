/**
 * The queue's state transitions, each one Lua script in this folder (`<name>.lua`, with its KEYS,
 * ARGV and reply in its header; shared pieces in includes/). Redis runs a script atomically, so a
 * job is never half-moved between the queue, a processing list, the lease set and the indexes.
 *
 * Every key arrives in KEYS, named by keys.ts (queueKeyNames below); keys built per job inside a
 * script are a KEYS prefix (`job:`) joined to an id, so with a hash tag they share its slot.
 * ARGV[1] is the retention, ARGV[2] the caller's clock (includes/settings.lua), then the
 * script's own arguments. Deadlines (leases, heartbeats, backoff) use the Redis server's clock.
 *
 * A running job carries a fencing `token`, new on every claim, and the claiming `worker`; each
 * owner-only script checks the token (settle and renew the worker too), so a worker whose lease
 * was taken can no longer write anything. Tokens are made by the claiming process (a random
 * nonce, a call counter, the job's place in the call), never by a counter in Redis: Redis can
 * lose its last writes (a lost AOF tail, a failover) and would then hand the same number out
 * again, to two workers at once. Results are tied to the dataset load they were computed on
 * (`dataset.generation`, a random id per load, for the same reason).
 *
 * The scripts also count what they do for GET /metrics (`metrics:jobs`, `metrics:job_duration`;
 * see ../../metrics.ts). Every redis.call costs a few microseconds, and a no-op job's cost is
 * nearly all here: a transition reads the job once (HMGET of the fields it needs) and writes as
 * little as it can.
 */
import { type KeySet, keys as defaultKeys } from '../../keys.ts';
import { LuaScript } from '../../lua/loader.ts';
import { GENERATED_INCLUDES } from './layout.ts';

const load = (name: string) => LuaScript.fromFile(import.meta.url, name, GENERATED_INCLUDES);

export const scripts = {
  enqueue: load('enqueue'),
  claim: load('claim'),
  settle: load('settle'),
  release: load('release'),
  progress: load('progress'),
  renew: load('renew'),
  cancel: load('cancel'),
  recover: load('recover'),
  held: load('held'),
  sweep: load('sweep'),
  prune: load('prune'),
  recoverList: load('recover-list'),
} as const;

export type QueueScript = keyof typeof scripts;

/**
 * The fixed names of the queue's keys by their Lua names. PROC, the calling worker's processing
 * list, varies per call and is filled in by the caller.
 */
export function queueKeyNames(k: KeySet = defaultKeys): Record<string, string> {
  return {
    QUEUE: k.jobsQueue,
    LEASES: k.jobsLeases,
    DELAYED: k.jobsDelayed,
    ALL: k.jobsAll,
    DEDUP: k.jobsDedup,
    ENDED: k.jobsEnded,
    ENDED_LEGACY: k.jobsEndedLegacy,
    WORKERS: k.jobsWorkers,
    SEQ: k.jobsSeq,
    DATASET: k.dataset,
    ST_QUEUED: k.jobsByStatus('queued'),
    ST_FINISHED: k.jobsByStatus('finished'),
    ST_FAILED: k.jobsByStatus('failed'),
    ST_CANCELLED: k.jobsByStatus('cancelled'),
    METRICS: k.jobsMetrics,
    DURATIONS: k.jobDurations,
    EVENTS: k.jobEvents,
    STREAM: k.events,
    JOB: k.prefixes.job,
    RESULT: k.prefixes.result,
    CHART: k.prefixes.chart,
    PROCP: k.prefixes.processing,
  };
}

/**
 * KEYS for one call of a script: the fixed names resolved once per script, PROC (when the
 * script has one) put in per call.
 */
export class ScriptKeys {
  readonly #fixed = new Map<LuaScript, { keys: string[]; proc: number }>();

  constructor(private readonly names: Readonly<Record<string, string>>) {}

  for(script: LuaScript, proc?: string): string[] {
    let t = this.#fixed.get(script);
    if (!t) {
      const proc = script.keyNames.indexOf('PROC');
      t = { keys: script.keyList({ ...this.names, PROC: '' }), proc };
      this.#fixed.set(script, t);
    }
    if (t.proc < 0) return t.keys;
    if (proc === undefined) throw new Error(`${script.name} needs the caller's processing list`);
    const keys = t.keys.slice();
    keys[t.proc] = proc;
    return keys;
  }
}
