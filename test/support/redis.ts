/**
 * Gives a test suite a Redis of its own:
 *   1. TEST_REDIS_URL when set (an external Redis: never flushed, stopped or restarted);
 *   2. otherwise testcontainers `redis:7` when a container runtime answers (TESTCONTAINERS=0 skips it);
 *   3. otherwise a local redis-server child on a free port with its own temp dir.
 * Both 2 and 3 can be stopped, killed and restarted on the same data.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { connectRedis, type Redis } from '@meteorites/shared';
import { REDIS_SERVER_ARGS, RedisServer, type RedisServerOptions } from '@meteorites/tools';
import { testEnv } from './env.ts';

export interface TestRedis {
  url: string;
  /** Whether stop/kill/start act on the server (false for TEST_REDIS_URL). */
  controllable: boolean;
  /** Whether pause/resume act on the server (a local redis-server only). */
  pausable: boolean;
  /** The local redis-server's data directory (AOF, RDB); undefined for containers and TEST_REDIS_URL. */
  dataDir?: string;
  /** A fresh client; the suite closes it (or call close()). */
  client(): Promise<Redis>;
  /** Removes every key (only on a Redis this helper started). */
  flush(): Promise<void>;
  stop(): Promise<void>;
  kill(): Promise<void>;
  start(): Promise<void>;
  /** SIGSTOP: the server keeps its connections open but answers nothing (a partition, a long fork). */
  pause(): Promise<void>;
  /** SIGCONT after pause(). */
  resume(): Promise<void>;
  close(): Promise<void>;
}

let runtimeAnswers: Promise<boolean> | undefined;

async function containerRuntimeAnswers(setting: string | undefined): Promise<boolean> {
  if (setting === '0') return false;
  runtimeAnswers ??= (async () => {
    try {
      const { getContainerRuntimeClient } = await import('testcontainers');
      await Promise.race([
        getContainerRuntimeClient(),
        new Promise((_, reject) => setTimeout(() => reject(new Error('timeout')), 5000).unref()),
      ]);
      return true;
    } catch {
      return false;
    }
  })();
  return runtimeAnswers;
}

function hasRedisServerBinary(): boolean {
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export interface StartRedisOptions extends Partial<Omit<RedisServerOptions, 'dataDir'>> {
  /** Starts the server with `requirepass`; the url carries the password. */
  password?: string;
}

/** `redis://:<password>@host:port` from a url without credentials. */
function withPassword(url: string, password: string | undefined): string {
  if (password === undefined) return url;
  const u = new URL(url);
  u.password = password;
  return u.toString().replace(/\/$/, '');
}

export async function startRedis(opts: StartRedisOptions = {}): Promise<TestRedis> {
  const env = testEnv();
  const clients: Redis[] = [];
  const client = async () => {
    const c = await connectRedis(url, { connectTimeoutMs: 5000, name: 'test' });
    clients.push(c);
    return c;
  };
  const closeClients = async () => {
    await Promise.all(clients.splice(0).map((c) => (c.isOpen ? c.close().catch(() => c.destroy()) : undefined)));
  };
  let url: string;

  if (env.TEST_REDIS_URL) {
    url = env.TEST_REDIS_URL;
    const unsupported = async () => {
      throw new Error('TEST_REDIS_URL is an external Redis: the tests cannot stop or restart it');
    };
    return {
      url,
      controllable: false,
      pausable: false,
      client,
      flush: async () => {
        throw new Error('refusing to flush an external Redis (TEST_REDIS_URL)');
      },
      stop: unsupported,
      kill: unsupported,
      start: unsupported,
      pause: unsupported,
      resume: unsupported,
      close: closeClients,
    };
  }

  if (!(await containerRuntimeAnswers(env.TESTCONTAINERS))) {
    if (!hasRedisServerBinary()) {
      throw new Error('no Redis for the tests: set TEST_REDIS_URL, start Docker, or install redis-server');
    }
    const dir = mkdtempSync(join(tmpdir(), 'meteorites-redis-'));
    const { password, ...serverOpts } = opts;
    const server = new RedisServer({
      ...serverOpts,
      dataDir: dir,
      extraArgs: [...(serverOpts.extraArgs ?? []), ...(password === undefined ? [] : ['--requirepass', password])],
    });
    await server.start();
    url = withPassword(server.url, password);
    let paused = false;
    const signal = (sig: NodeJS.Signals) => {
      if (server.pid === undefined || !server.running) throw new Error('redis-server is not running');
      process.kill(server.pid, sig);
      paused = sig === 'SIGSTOP';
    };
    return {
      url,
      controllable: true,
      pausable: true,
      dataDir: dir,
      client,
      flush: async () => {
        const c = await client();
        await c.flushAll();
      },
      stop: () => server.stop(),
      kill: () => server.kill(),
      start: () => server.start(),
      pause: async () => signal('SIGSTOP'),
      resume: async () => signal('SIGCONT'),
      close: async () => {
        // A stopped server would hold SIGTERM (and the clients' goodbyes) until it is continued.
        if (paused) signal('SIGCONT');
        await closeClients();
        await server.stop();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }

  const { RedisContainer } = await import('@testcontainers/redis');
  const container = await new RedisContainer('redis:7')
    .withCommand([
      'redis-server',
      '--appendonly',
      'yes',
      '--appendfsync',
      opts.appendfsync ?? 'everysec',
      '--maxmemory-policy',
      'noeviction',
      ...REDIS_SERVER_ARGS,
      ...(opts.password === undefined ? [] : ['--requirepass', opts.password]),
    ])
    .start();
  url = withPassword(container.getConnectionUrl(), opts.password);
  // Container ports can change across a restart: keep the handle's url current.
  return {
    get url() {
      return url;
    },
    controllable: true,
    pausable: false,
    client,
    flush: async () => {
      const c = await client();
      await c.flushAll();
    },
    stop: async () => {
      await container.stop({ remove: false });
    },
    // A zero-second stop timeout makes Docker send SIGKILL at once: a crash, not a shutdown.
    kill: async () => {
      await container.stop({ remove: false, timeout: 0 });
    },
    pause: async () => {
      throw new Error('pausing a container is not supported: use the local redis-server (TESTCONTAINERS=0)');
    },
    resume: async () => {
      throw new Error('pausing a container is not supported: use the local redis-server (TESTCONTAINERS=0)');
    },
    start: async () => {
      await container.restart();
      url = withPassword(container.getConnectionUrl(), opts.password);
    },
    close: async () => {
      await closeClients();
      await container.stop();
    },
  };
}
