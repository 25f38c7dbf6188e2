/**
 * What both sides of the queue share: the connection, the retention settings every script gets
 * as ARGV[1], and the KEYS each script is called with (lua/scripts.ts).
 */
import { DEFAULT_EVENTS_MAXLEN } from '../events.ts';
import type { Config } from '../config.ts';
import type { Redis } from '../redis.ts';
import { type LuaScript } from '../lua/loader.ts';
import { queueKeyNames, ScriptKeys } from './lua/scripts.ts';
import { keys } from '../keys.ts';

export interface QueueOptions {
  /** RESULT_TTL_SECONDS: ended jobs and results expire after this many seconds; 0: no TTL of their own. */
  resultTtlSeconds?: number;
  /** JOB_RETENTION_SECONDS: ended jobs are pruned (with everything naming them) past this age; 0: no age limit. */
  retentionSeconds?: number;
  /** JOB_RETENTION_COUNT: at most this many ended jobs are kept, the newest; 0: no limit. */
  retentionCount?: number;
  /** EVENTS_STREAM_MAXLEN: about how many events the event stream keeps. */
  eventsMaxLen?: number;
}

/** The queue's settings from the configuration, the same in the API and the workers. */
export function queueOptions(
  config: Pick<Config, 'RESULT_TTL_SECONDS' | 'JOB_RETENTION_SECONDS' | 'JOB_RETENTION_COUNT' | 'EVENTS_STREAM_MAXLEN'>,
): QueueOptions {
  return {
    resultTtlSeconds: config.RESULT_TTL_SECONDS,
    retentionSeconds: config.JOB_RETENTION_SECONDS,
    retentionCount: config.JOB_RETENTION_COUNT,
    eventsMaxLen: config.EVENTS_STREAM_MAXLEN,
  };
}

let scriptKeys: { queue: string; keys: ScriptKeys } | undefined;

/** The scripts' KEYS for the key names in use (cluster mode tags them after the imports: keys.ts useHashTag). */
function currentScriptKeys(): ScriptKeys {
  if (scriptKeys?.queue !== keys.jobsQueue) scriptKeys = { queue: keys.jobsQueue, keys: new ScriptKeys(queueKeyNames()) };
  return scriptKeys.keys;
}

export abstract class QueueBase {
  /** ARGV[1] of every script: `<ttl> <age> <keep> <maxlen>` (lua/includes/settings.lua). */
  readonly #retention: string;

  constructor(
    readonly redis: Redis,
    opts: QueueOptions = {},
  ) {
    const ttl = opts.resultTtlSeconds ?? 0;
    // Pruned at the first limit reached: keys with a TTL take their index entries with them.
    const age = Math.min(...[ttl, opts.retentionSeconds ?? 0].filter((s) => s > 0), Infinity);
    this.#retention = `${ttl} ${Number.isFinite(age) ? age : 0} ${opts.retentionCount ?? 0} ${opts.eventsMaxLen ?? DEFAULT_EVENTS_MAXLEN}`;
  }

  /** Runs a queue script; `processing`: the calling worker's list, for the scripts that act on it. Buffers go as they are. */
  protected run(script: LuaScript, args: (string | number | Buffer)[], processing?: string, now = new Date()): Promise<unknown> {
    const argv: (string | Buffer)[] = [this.#retention, now.toISOString()];
    for (const a of args) argv.push(typeof a === 'number' ? String(a) : a);
    return script.run(this.redis, currentScriptKeys().for(script, processing), argv);
  }
}
