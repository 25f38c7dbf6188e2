/**
 * Runs a local redis-server as a child process with its own data directory. Used by `npm start`
 * (the embedded Redis) and by the test support, which also needs to kill and restart it on the
 * same data to prove what survives.
 */
import { freePort, ServiceError } from '@meteorites/shared';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';

export class RedisServerNotFoundError extends ServiceError {
  override name = 'RedisServerNotFoundError';
  override readonly code = 'redis_server_not_found';
  constructor() {
    super(
      'redis-server was not found on PATH. Install it (Debian/Ubuntu: `sudo apt-get install -y redis-server`, ' +
        'macOS: `brew install redis`), or set REDIS_URL to a running Redis, or run the stack with `docker compose up --build`.',
    );
  }
}

/**
 * `set-max-intset-entries` of every Redis this project starts (RedisServer, the tests' container,
 * compose.yaml). A set of integers up to this many members is kept as one sorted array of
 * 4-byte integers (8 past 2^31) instead of a hashtable of about 55 B a member: that is what
 * `meteorites:ids` costs, 4 B a record instead of 55, when the loader adds the ids in ascending
 * order into a fresh set (each SADD an append). Redis' default is 512. The bound keeps the
 * cost of the rare insert in the middle (a memmove of the whole array, 40 MB at this size) small;
 * no set the project writes takes such inserts.
 */
export const INTSET_MAX_ENTRIES = 10_000_000;

/**
 * `zset-max-listpack-entries` of every Redis this project starts. A sorted set of up to this many
 * members is one flat list that every ZADD and ZREM walks end to end (to find the member, then its
 * place); above it, a skiplist and a hashtable. The queue's lease set (`jobs:leases`: every job
 * the workers run or hold ahead) changes with every job: as a flat list of 20 to 40 members (a
 * worker at concurrency 20 then; up to 80 since it holds three ahead per slot) it cost a no-op job
 * about 6 % of Redis' instructions (callgrind, bench/queue.ts at concurrency 20).
 * Redis' default is 128; a skiplist's extra memory on sets this small is a few KB.
 */
export const ZSET_MAX_LISTPACK_ENTRIES = 16;

/** Server settings the project relies on, besides persistence (see RedisServer.start). */
export const REDIS_SERVER_ARGS: readonly string[] = [
  '--set-max-intset-entries',
  String(INTSET_MAX_ENTRIES),
  '--zset-max-listpack-entries',
  String(ZSET_MAX_LISTPACK_ENTRIES),
];

export interface RedisServerOptions {
  dataDir: string;
  /** 0 picks a free port. */
  port?: number;
  /** appendfsync policy; `everysec` is Redis' default and what the project documents. */
  appendfsync?: 'always' | 'everysec' | 'no';
  /** Extra `--name value` arguments (e.g. requirepass). */
  extraArgs?: string[];
  /** Where redis-server's own output goes; default: discarded. */
  stdio?: 'inherit' | 'ignore';
  /** Own process group, so a terminal's Ctrl-C reaches only the parent, which stops children in order. */
  detached?: boolean;
}

export class RedisServer {
  #child: ChildProcess | undefined;
  readonly dataDir: string;
  port: number;

  constructor(private readonly opts: RedisServerOptions) {
    this.dataDir = resolve(opts.dataDir);
    this.port = opts.port ?? 0;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  get running(): boolean {
    return this.#child !== undefined && this.#child.exitCode === null && this.#child.signalCode === null;
  }

  /** Starts redis-server (on the same port and data directory when restarted) and waits until it answers. */
  async start(): Promise<void> {
    if (this.running) return;
    mkdirSync(this.dataDir, { recursive: true });
    if (this.port === 0) this.port = await freePort();
    const args = [
      '--port',
      String(this.port),
      '--bind',
      '127.0.0.1',
      '--dir',
      this.dataDir,
      '--appendonly',
      'yes',
      '--appendfsync',
      this.opts.appendfsync ?? 'everysec',
      '--save',
      '',
      '--maxmemory-policy',
      'noeviction',
      '--daemonize',
      'no',
      ...REDIS_SERVER_ARGS,
      ...(this.opts.extraArgs ?? []),
    ];
    const child = spawn('redis-server', args, {
      stdio: ['ignore', this.opts.stdio ?? 'ignore', this.opts.stdio ?? 'ignore'],
      detached: this.opts.detached ?? false,
    });
    this.#child = child;
    const failed = new Promise<never>((_, reject) => {
      child.once('error', (err: NodeJS.ErrnoException) => reject(err.code === 'ENOENT' ? new RedisServerNotFoundError() : err));
      child.once('exit', (code, signal) => reject(new Error(`redis-server exited at start (code ${code}, signal ${signal})`)));
    });
    failed.catch(() => {});
    await Promise.race([this.#waitReady(), failed]);
  }

  async #waitReady(): Promise<void> {
    // Replaying a large AOF on a busy machine takes a while: -LOADING counts as not ready yet.
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      if (await this.#ping()) return;
      await sleep(25);
    }
    throw new Error(`redis-server on port ${this.port} did not answer within 60 s`);
  }

  /** A raw PING over a socket: no client library, so it also works while loading the AOF. */
  async #ping(): Promise<boolean> {
    const { connect } = await import('node:net');
    return new Promise((resolveP) => {
      const sock = connect(this.port, '127.0.0.1');
      let buf = '';
      const done = (ok: boolean) => {
        sock.destroy();
        resolveP(ok);
      };
      sock.setTimeout(500, () => done(false));
      sock.on('error', () => done(false));
      sock.on('connect', () => sock.write('PING\r\n'));
      sock.on('data', (d) => {
        buf += d.toString();
        // -LOADING while the AOF is replayed: not ready yet. -NOAUTH: up, but password-protected.
        if (buf.includes('\r\n')) done(buf.startsWith('+PONG') || buf.startsWith('-NOAUTH'));
      });
    });
  }

  /** Graceful stop: SIGTERM makes Redis fsync the AOF before it exits. */
  async stop(): Promise<void> {
    await this.#signal('SIGTERM');
  }

  /** A crash: nothing is flushed beyond what the fsync policy already wrote. */
  async kill(): Promise<void> {
    await this.#signal('SIGKILL');
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  async #signal(signal: NodeJS.Signals): Promise<void> {
    const child = this.#child;
    if (!child || !this.running) return;
    const exited = once(child, 'exit');
    child.kill(signal);
    await exited;
    this.#child = undefined;
  }
}
