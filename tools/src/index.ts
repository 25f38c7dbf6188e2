/**
 * Tools around a Redis server of the project's own, for `npm start`, the backup and restore
 * scripts, the tests and the benchmarks (neither the API nor the worker needs them): running a
 * local redis-server, and copying a server's RDB out and back in.
 */
export { INTSET_MAX_ENTRIES, REDIS_SERVER_ARGS, RedisServer, RedisServerNotFoundError, type RedisServerOptions } from './redis-server.ts';
export { BackupError, backupFileName, backupRdb, checkRdb, restoreRdb, type RestoreResult } from './backup.ts';
