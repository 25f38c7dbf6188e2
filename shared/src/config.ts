/**
 * The one configuration schema for every process (api, worker, start, CLI).
 * Nothing else in the project reads process.env: everything goes through loadConfig().
 */
import { ServiceError } from './errors.ts';
import Type, { type Static } from 'typebox';
import Value from 'typebox/value';

const Int = (min: number, max: number, dflt: number, description: string) =>
  Type.Integer({ minimum: min, maximum: max, default: dflt, description });

export const ConfigSchema = Type.Object({
  REDIS_URL: Type.Optional(
    Type.String({
      pattern: '^rediss?://',
      description:
        'Redis to use (redis:// or rediss:// for TLS, password as redis://:secret@host:6379). Unset: `npm start` runs its own redis-server.',
    }),
  ),
  REDIS_SENTINELS: Type.Optional(
    Type.String({
      pattern: '^[^,:\\s]+:\\d+(,[^,:\\s]+:\\d+)*$',
      description:
        'Sentinels to ask for the primary (`host:port,...`), with REDIS_SENTINEL_MASTER: every connection goes to the primary they name and follows a failover. REDIS_URL then gives only the user, password, TLS (rediss://) and database; its host and port are not used.',
    }),
  ),
  REDIS_SENTINEL_MASTER: Type.Optional(
    Type.String({ minLength: 1, description: 'The name the Sentinels (REDIS_SENTINELS) monitor the primary under.' }),
  ),
  REDIS_SENTINEL_PASSWORD: Type.Optional(
    Type.String({
      minLength: 1,
      description: "The Sentinels' own password (their `requirepass`), when they have one; TLS as for REDIS_URL.",
    }),
  ),
  REDIS_CLUSTER_NODES: Type.Optional(
    Type.String({
      pattern: '^[^,:\\s]+:\\d+(,[^,:\\s]+:\\d+)*$',
      description:
        'Redis Cluster nodes to start from (`host:port,...`, any of its nodes): every key then carries the hash tag `{meteorites}`, so the service lives in one slot, and every connection goes to the master serving it and follows a failover. REDIS_URL then gives only the user, password and TLS (rediss://); its host and port are not used. Not with REDIS_SENTINELS.',
    }),
  ),
  REDIS_MIN_REPLICAS_ACK: Int(
    0,
    16,
    0,
    'Replicas that must confirm (WAIT) an enqueue, a settle or a dataset load before it is answered, so that what was acknowledged survives a failover; fewer within REDIS_REPLICA_ACK_TIMEOUT_MS: 503 (0: do not wait).',
  ),
  REDIS_REPLICA_ACK_TIMEOUT_MS: Int(10, 600_000, 1000, 'How long a write waits for REDIS_MIN_REPLICAS_ACK replicas to confirm it.'),
  HOST: Type.String({ default: '127.0.0.1', description: 'Address the API listens on (0.0.0.0 in containers).' }),
  PORT: Int(0, 65535, 3000, 'Port the API listens on.'),
  LOG_LEVEL: Type.Enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], {
    default: 'info',
    description: 'Log level of every process.',
  }),
  LOG_FORMAT: Type.Optional(
    Type.Enum(['pretty', 'json'], {
      description:
        'How the API and workers write their logs: `pretty` (one short readable line per request or event) or `json` (one JSON object per line, for log collectors). Unset: pretty when stdout is a terminal, json otherwise (containers, CI, pipes).',
    }),
  ),
  BODY_LIMIT_MB: Int(1, 4096, 64, 'Largest request body the API accepts, in MiB (POST /data).'),
  REDIS_CONNECT_TIMEOUT_MS: Int(100, 600_000, 5000, 'How long a process waits for Redis at start before it gives up.'),
  REDIS_COMMAND_TIMEOUT_MS: Int(
    100,
    600_000,
    2000,
    'How long any Redis command may take before it fails as "Redis unavailable" (the API answers 503, a worker treats the reply as lost).',
  ),
  WORKER_CONCURRENCY: Int(1, 256, 2, 'Jobs one worker process runs at once.'),
  WORKER_PREFETCH_BELOW_MS: Int(
    0,
    60_000,
    10,
    'While its jobs run shorter than this on average, a worker holds up to three times WORKER_CONCURRENCY (at least 8) more jobs than it runs, so that its round trips to Redis overlap the work; a job held this long without a free slot goes back to the front of the queue (0: never claim ahead).',
  ),
  JOB_LEASE_MS: Int(1000, 3_600_000, 30_000, 'A running job whose lease is not renewed within this time is taken back.'),
  JOB_TIMEOUT_MS: Int(1000, 86_400_000, 300_000, 'A job running longer than this fails with a timeout.'),
  JOB_MAX_ATTEMPTS: Int(1, 100, 3, 'Times a job is started before it fails for good ("worker lost").'),
  JOB_RECOVERY_INTERVAL_MS: Int(100, 600_000, 5000, 'How often workers look for jobs whose lease expired.'),
  WORKER_SHUTDOWN_GRACE_MS: Int(0, 600_000, 10_000, 'On SIGTERM, how long running jobs may take to finish before they are put back.'),
  RESULT_TTL_SECONDS: Int(
    0,
    31_536_000,
    0,
    'Ended jobs, results and charts expire after this many seconds (0: no expiry of their own; JOB_RETENTION_SECONDS and JOB_RETENTION_COUNT still apply).',
  ),
  JOB_RETENTION_SECONDS: Int(
    0,
    315_360_000,
    604_800,
    'Ended jobs (finished, failed, cancelled) are removed with their results, charts, index and dedup entries this many seconds after they ended, by the next settle or recovery pass (0: no age limit; a shorter RESULT_TTL_SECONDS wins).',
  ),
  JOB_RETENTION_COUNT: Int(
    0,
    100_000_000,
    100_000,
    'At most this many ended jobs are kept, with their results and charts; the oldest go first (0: no limit).',
  ),
  JOB_RETRY_BACKOFF_MS: Int(10, 600_000, 1000, 'Delay before retrying a job after a transient (Redis) error; doubles with each attempt.'),
  ENABLE_TEST_ANALYSES: Type.Boolean({
    default: false,
    description: 'For tests only: offers `test-sleep`, a slow analysis that sleeps in checkpointed steps. API and worker must agree.',
  }),
  DATA_DIR: Type.String({ default: '.data', description: 'Where `npm start` keeps its own Redis data (AOF) when REDIS_URL is unset.' }),
  REDIS_PORT: Int(
    0,
    65535,
    0,
    'Port of the redis-server `npm start` runs when REDIS_URL is unset (0: a free port below the range the kernel gives outgoing connections).',
  ),
  SAMPLE_DATA: Type.String({
    default: 'data/Meteorite_Landings.csv',
    description:
      '`npm start` loads this file (CSV or JSON, by its name) into a database that has never held a dataset; `data/sample.json` gives 38 landings for a quick look; empty: load nothing.',
  }),
  API_KEY: Type.Optional(
    Type.String({
      pattern: '^[^,\\s]{16,}(,[^,\\s]{16,})*$',
      description:
        'Unset: no authentication. Set: POST and DELETE need `Authorization: Bearer <key>` (401 otherwise). Several keys separated by commas are all accepted (key rotation). At least 16 characters each, e.g. `openssl rand -hex 32`.',
    }),
  ),
  API_KEY_PROTECT_READS: Type.Boolean({
    default: false,
    description:
      'With API_KEY: GET routes need the key too, except /health, /ready, /docs, /openapi.json, /help and the dashboard (/ and /ui/), which then asks for the key.',
  }),
  RATE_LIMIT_JOBS_PER_MIN: Int(
    0,
    1_000_000,
    0,
    'POST /jobs requests one client (IP address) may make per minute, counted in Redis across every API process (0: no limit).',
  ),
  RATE_LIMIT_DATA_PER_MIN: Int(
    0,
    1_000_000,
    0,
    'POST /data requests one client (IP address) may make per minute, counted like RATE_LIMIT_JOBS_PER_MIN (0: no limit).',
  ),
  TRUST_PROXY: Type.Optional(
    Type.String({
      minLength: 1,
      description:
        'Behind a reverse proxy or load balancer: whose X-Forwarded-For to believe for the client address (rate limits, logs). `true` (any), a hop count, or comma-separated addresses/CIDRs of the proxies. Unset: the socket address.',
    }),
  ),
  EVENTS_STREAM_MAXLEN: Int(
    10,
    10_000_000,
    10_000,
    'Entries of the event stream kept in Redis (approximately, trimmed as they are written) for clients of GET /events that reconnect with Last-Event-ID; one further behind is told to reload. An entry is one event, or all the job events of one queue step (up to 200).',
  ),
  SSE_MAX_STREAMS: Int(
    0,
    1_000_000,
    1000,
    'Open event streams (GET /events, GET /jobs/{id}/events) one API process serves at once; more answer 503 (0: none at all).',
  ),
  SSE_MAX_STREAMS_PER_CLIENT: Int(
    0,
    1_000_000,
    50,
    'Open event streams one client (IP address, as for rate limits) may hold on one API process; more answer 503.',
  ),
  SSE_HEARTBEAT_MS: Int(
    100,
    3_600_000,
    15_000,
    'How often an open event stream gets a comment line (`: ping`), so proxies and clients see it alive.',
  ),
  BACKUP_DIR: Type.String({ default: 'backups', description: '`npm run backup` writes its snapshots here.' }),
  API_URL: Type.String({
    default: 'http://127.0.0.1:3000',
    pattern: '^https?://',
    description: 'The API the command line (`npm run cli`) talks to.',
  }),
});

export type Config = Static<typeof ConfigSchema>;

export class ConfigError extends ServiceError {
  override name = 'ConfigError';
  override readonly code = 'invalid_config';
}

/** A setting's value as an error message may show it: keys hidden, a URL's password masked. */
function shown(name: string, value: string): string {
  if (name === 'API_KEY' || name === 'REDIS_SENTINEL_PASSWORD') return '(hidden)';
  return JSON.stringify(value.replace(/^([a-z]+:\/\/[^:@/]*):[^@/]*@/i, '$1:***@'));
}

/** Settings whose empty value means "off" rather than "the default". */
const EMPTY_MEANS_OFF = new Set<string>(['SAMPLE_DATA']);

/** Parses settings from an environment; unknown variables are ignored, bad ones named. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const picked: Record<string, unknown> = {};
  for (const key of Object.keys(ConfigSchema.properties)) {
    const value = env[key];
    if (value !== undefined && (value !== '' || EMPTY_MEANS_OFF.has(key))) picked[key] = value;
  }
  const converted = Value.Default(ConfigSchema, Value.Convert(ConfigSchema, picked));
  const errors = [...Value.Errors(ConfigSchema, converted)];
  if (errors.length > 0) {
    const lines = errors.map((e) => {
      const name = e.instancePath.replace(/^\//, '') || String((e.params as { requiredProperties?: string[] }).requiredProperties ?? '');
      const allowed = (e.params as { allowedValues?: unknown[] }).allowedValues;
      return `${name}=${shown(name, env[name] ?? '')}: ${e.message}${Array.isArray(allowed) ? ` (${allowed.join(', ')})` : ''}`;
    });
    throw new ConfigError(`invalid configuration: ${[...new Set(lines)].join('; ')}`);
  }
  const config = converted as Config;
  if (Boolean(config.REDIS_SENTINELS) !== Boolean(config.REDIS_SENTINEL_MASTER)) {
    throw new ConfigError('invalid configuration: REDIS_SENTINELS and REDIS_SENTINEL_MASTER go together (set both or neither)');
  }
  if (config.REDIS_CLUSTER_NODES && config.REDIS_SENTINELS) {
    throw new ConfigError(
      'invalid configuration: REDIS_CLUSTER_NODES and REDIS_SENTINELS exclude each other (a Redis Cluster fails over by itself)',
    );
  }
  // A cluster has database 0 only (SELECT is refused): a URL naming another would fail every connection.
  if (config.REDIS_CLUSTER_NODES && config.REDIS_URL && !/^rediss?:\/\/[^/]*(\/0?)?$/.test(config.REDIS_URL)) {
    throw new ConfigError(
      `invalid configuration: REDIS_URL=${shown('REDIS_URL', config.REDIS_URL)} names a database, which a Redis Cluster does not have (REDIS_CLUSTER_NODES)`,
    );
  }
  // With Sentinels or a cluster REDIS_URL only carries credentials and TLS: none of them when it is unset.
  if (config.REDIS_SENTINEL_MASTER && !config.REDIS_URL) config.REDIS_URL = `redis://${encodeURIComponent(config.REDIS_SENTINEL_MASTER)}`;
  if (config.REDIS_CLUSTER_NODES && !config.REDIS_URL) config.REDIS_URL = 'redis://cluster';
  return config;
}

/**
 * The environment for a child process (api, worker) started by `npm start`: the parent's
 * environment with every setting made explicit, so parent and children agree.
 */
export function childEnv(config: Config, overrides: Partial<Record<keyof Config, string>> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const [key, value] of Object.entries(config)) if (value !== undefined) env[key] = String(value);
  return { ...env, ...overrides };
}
