/**
 * `@meteorites/shared`: the one public entry of the core that the API, the worker and the tools
 * all need. It names what other workspaces import, and nothing else: a module's helpers stay
 * internal until a caller outside shared needs one (then it is added here, under a name that says
 * what it is in this flat namespace). Modules inside shared import each other by relative paths,
 * never through this file, so loading it cannot close a cycle.
 */

// Settings, logging and the error model.
export { ConfigError, ConfigSchema, childEnv, loadConfig, type Config } from './config.ts';
export { logFormat, loggerSetup, type LogFormat, type LoggerSetup } from './logging.ts';
export { InvalidCursorError, ServiceError, type ServiceErrorOptions } from './errors.ts';

// Redis: connections, outages and deadlines, Sentinel, replicas, the Lua loader.
export {
  afterPendingIo,
  closeRedis,
  commandTimeoutOf,
  connectRedis,
  deadline,
  isRedisUnavailable,
  openRawConnection,
  redactUrl,
  routeOf,
  RedisRejectedError,
  RedisTimeoutError,
  RedisUnavailableError,
  UNTIMED,
  type ConnectOptions,
  type Redis,
} from './redis.ts';
export { freePort } from './free-port.ts';
export { askSentinels, type HostPort, type SentinelTarget } from './sentinel.ts';
export { CLUSTER_HASH_TAG, slotOf } from './cluster.ts';
export { confirmReplicas, ReplicasLaggingError } from './replicas.ts';
export { LuaScript } from './lua/loader.ts';

// Every Redis key, the ids and the wire schemas.
export {
  buildKeys,
  InvalidIdError,
  isMeteoriteId,
  JOB_ID_PATTERN,
  keyPatterns,
  keyPrefixes,
  keys,
  METEORITE_ID_PATTERN,
  SNAPSHOT_COLUMNS,
  type ChartFormat,
  type KeySet,
  useHashTag,
} from './keys.ts';
export {
  DatasetState,
  DatasetSummary,
  ErrorBody,
  Job,
  JobId,
  JobStatus,
  Meteorite,
  MeteoriteId,
  SAFE_TEXT_PATTERN,
  SAFE_TEXT_RULE,
  SafeText,
} from './schemas.ts';

// The dataset in memory (columns) and in Redis (the snapshot).
export {
  CodedTextsBuilder,
  codeOf,
  columnsFromRecords,
  idAt,
  idsOf,
  meteoriteAt,
  TextList,
  textAt,
  textsOf,
  type Columns,
} from './columns.ts';
export {
  DatasetNotReadyError,
  datasetStatus,
  encodeSnapshot,
  idOrder,
  readSnapshotIds,
  SnapshotCache,
  type DatasetStatus,
  type Snapshot,
} from './snapshot.ts';

// Events and metrics, as both processes write them and the API reads them.
export {
  addDatasetEvent,
  compareStreamIds,
  DATASET_EVENT_NAMES,
  eventsFromEntry,
  splitEventId,
  JOB_EVENT_NAMES,
  STREAM_ID_PATTERN,
  type ServiceEvent,
} from './events.ts';
export { DATASET_STATES, JOB_DURATION_BUCKETS, JOB_EVENTS, readMetrics, type JobEvent, type ServiceMetrics } from './metrics.ts';

// The job queue: the API's side, the worker's side, their errors and the Lua scripts.
export {
  DeferJobError,
  isEnded,
  JobCancelledError,
  JobEvents,
  JobQueue,
  JobTimeoutError,
  LeaseLostError,
  queueOptions,
  ShutdownError,
  WorkerQueue,
  type CancelOutcome,
  type ClaimedJob,
  type HeldJob,
  type JobPage,
  type LeaseState,
  type QueueOptions,
  type SettleOutcome,
  type Settlement,
} from './queue/index.ts';
// `scripts` alone would not say whose scripts they are in this namespace.
export { scripts as queueScripts } from './queue/lua/scripts.ts';

// The analyses: the catalogue, validation, and the pieces their callers reuse.
export {
  analyses,
  AnalysisResult,
  Cell,
  Group,
  InvalidParamsError,
  resultJson,
  validateJobRequest,
  type Analysis,
  type AnalysisContext,
} from './analyses/index.ts';
export { catalog, type Catalog } from './analyses/catalog.ts';
export {
  CLASS_TYPES,
  classificationRules,
  classify,
  classMask,
  ruleFor,
  type Classification,
  type ClassType,
} from './analyses/classification.ts';
export type { Filters } from './analyses/filters.ts';
export { resultHead } from './analyses/result.ts';
