/**
 * `npm start`: the whole service on one machine. Without REDIS_URL it runs its own redis-server
 * (AOF on, data under DATA_DIR/redis), then the API and one worker as child processes, loads the
 * full dataset (SAMPLE_DATA) into a database that has never held one, and prints the URLs.
 *
 * Children live in their own process groups, so a terminal's Ctrl-C reaches only this process,
 * which stops them in order: API and worker first (they finish in-flight work), Redis last (it
 * flushes its AOF). Each child also exits when this process dies (its IPC channel closes).
 */
import { ServiceError, childEnv, loadConfig, type Config, logFormat, redactUrl } from '@meteorites/shared';
import { spawn, type ChildProcess } from 'node:child_process';
import { createReadStream, existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { once } from 'node:events';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { RedisServer, RedisServerNotFoundError } from '@meteorites/tools';

const say = (msg: string) => process.stdout.write(`[start] ${msg}\n`);

class StartError extends ServiceError {
  override name = 'StartError';
  override readonly code = 'start_failed';
}

interface Child {
  name: string;
  proc: ChildProcess;
}

/**
 * Compiled (scripts/dist/start.js, as `npm start` runs it after its build): the children run their
 * compiled JavaScript too, which starts faster than tsx (docs/operations.md). Otherwise (tsx, the
 * tests) they run their TypeScript sources. Paths from the repository root, whatever the cwd.
 */
const compiled = import.meta.url.endsWith('.js');
const root = fileURLToPath(new URL(compiled ? '../..' : '..', import.meta.url));

function spawnChild(name: string, workspace: string, entry: string, env: NodeJS.ProcessEnv): Child {
  const args = compiled
    ? ['--conditions=production', join(root, workspace, 'dist', `${entry}.js`)]
    : ['--import', 'tsx', join(root, workspace, 'src', `${entry}.ts`)];
  const proc = spawn(process.execPath, args, {
    env,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    detached: true,
  });
  return { name, proc };
}

/** A redis-server left running by a start that was killed would share our data directory: stop it first. */
async function stopStaleRedis(pidFile: string): Promise<void> {
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  if (!Number.isInteger(pid) || pid <= 0) return;
  let cmdline = '';
  try {
    cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return; // not running (or not Linux: nothing more we can check safely)
  }
  if (!cmdline.includes('redis-server')) return;
  say(`stopping a redis-server (pid ${pid}) left behind by an earlier start`);
  process.kill(pid, 'SIGTERM');
  for (let i = 0; i < 100 && existsSync(`/proc/${pid}`); i++) await sleep(100);
}

async function waitReady(base: string, children: Child[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    for (const c of children) {
      if (c.proc.exitCode !== null || c.proc.signalCode !== null) throw new StartError(`${c.name} exited during start`);
    }
    try {
      const res = await fetch(`${base}/ready`, { signal: AbortSignal.timeout(1000) });
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await sleep(200);
  }
  throw new StartError(`the API did not become ready within ${timeoutMs / 1000} s`);
}

interface Summary {
  version: number;
  records: number;
  state: 'empty' | 'loading' | 'ready';
}

/**
 * Loads SAMPLE_DATA through the API itself into a database that has never held a dataset, or
 * whose last load never finished (Ctrl-C during the first start): never over a dataset that is
 * there, nor after a deliberate delete. A load some other process is running is waited for.
 */
async function loadSampleIfEmpty(base: string, config: Config): Promise<void> {
  // With API_KEY set, the load needs a key (and the summary too with API_KEY_PROTECT_READS).
  const auth: Record<string, string> = config.API_KEY ? { authorization: `Bearer ${config.API_KEY.split(',')[0]}` } : {};
  const summaryNow = async () => (await (await fetch(`${base}/data/summary`, { headers: auth })).json()) as Summary;
  const summary = await summaryNow();
  if (summary.state !== 'loading' && (summary.version > 0 || summary.records > 0)) {
    say(`dataset: ${summary.records} records (version ${summary.version})`);
    return;
  }
  if (config.SAMPLE_DATA === '') {
    say('the database is empty (SAMPLE_DATA is empty, so nothing is loaded): load data with npm run load -- <file>');
    return;
  }
  const file = resolve(config.SAMPLE_DATA);
  if (!existsSync(file)) {
    say(`the database is empty and ${config.SAMPLE_DATA} is missing: load data with npm run load -- <file>`);
    return;
  }
  say(`the database is empty: loading ${config.SAMPLE_DATA}`);
  const started = performance.now();
  const res = await fetch(`${base}/data?source=${encodeURIComponent(config.SAMPLE_DATA)}`, {
    method: 'POST',
    headers: { ...auth, 'content-type': file.endsWith('.csv') ? 'text/csv' : 'application/json' },
    body: Readable.toWeb(createReadStream(file)) as ReadableStream,
    duplex: 'half',
  } as RequestInit);
  const body = (await res.json()) as { records?: number; version?: number; error?: { code: string; message: string } };
  if (res.status === 409 && body.error?.code === 'dataset_busy') {
    say('another process is loading the dataset: waiting for it');
    const deadline = Date.now() + 120_000;
    let now = await summaryNow();
    while (now.state === 'loading' && Date.now() < deadline) {
      await sleep(500);
      now = await summaryNow();
    }
    say(`dataset: ${now.records} records (version ${now.version}, ${now.state})`);
    return;
  }
  if (!res.ok) throw new StartError(`loading ${config.SAMPLE_DATA} failed: ${body.error?.message ?? res.status}`);
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  say(`loaded ${body.records} records from ${config.SAMPLE_DATA} in ${seconds} s (version ${body.version})`);
}

async function stopChild(c: Child, graceMs: number): Promise<void> {
  if (c.proc.exitCode !== null || c.proc.signalCode !== null) return;
  const exited = once(c.proc, 'exit');
  c.proc.kill('SIGTERM');
  const timer = setTimeout(() => {
    say(`${c.name} did not stop within ${graceMs / 1000} s: killing it`);
    c.proc.kill('SIGKILL');
  }, graceMs);
  await exited;
  clearTimeout(timer);
}

async function main(): Promise<void> {
  const config = loadConfig();
  let redis: RedisServer | undefined;
  let redisUrl = config.REDIS_URL;

  if (!redisUrl) {
    const dataDir = resolve(config.DATA_DIR, 'redis');
    const pidFile = join(dataDir, 'redis-server.pid');
    await stopStaleRedis(pidFile);
    redis = new RedisServer({
      dataDir,
      port: config.REDIS_PORT,
      detached: true,
      extraArgs: ['--logfile', 'redis-server.log', '--pidfile', pidFile],
    });
    await redis.start();
    redisUrl = redis.url;
    say(`redis-server running on ${redisUrl} (AOF on, data in ${join(config.DATA_DIR, 'redis')})`);
  } else {
    say(`using Redis at ${redactUrl(redisUrl)}`);
  }

  // The children write to this terminal (or pipe): they log the way it calls for, decided once here.
  const env = childEnv(config, { REDIS_URL: redisUrl, LOG_FORMAT: logFormat(config) });
  const children = [spawnChild('api', 'api', 'server', env), spawnChild('worker', 'worker', 'main', env)];

  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    say('stopping: api and worker first, then Redis');
    await Promise.all(children.map((c) => stopChild(c, config.WORKER_SHUTDOWN_GRACE_MS + 5000)));
    if (redis) await redis.stop();
    say('stopped');
    process.exit(code);
  };
  process.on('SIGINT', () => void stop(0));
  process.on('SIGTERM', () => void stop(0));
  for (const c of children) {
    c.proc.on('exit', (code, signal) => {
      if (stopping) return;
      say(`${c.name} exited unexpectedly (code ${code}, signal ${signal})`);
      void stop(1);
    });
  }

  const host = config.HOST === '0.0.0.0' || config.HOST === '::' ? '127.0.0.1' : config.HOST;
  const base = `http://${host.includes(':') ? `[${host}]` : host}:${config.PORT}`;
  try {
    await waitReady(base, children, 60_000);
    await loadSampleIfEmpty(base, config);
  } catch (err) {
    say((err as Error).message);
    await stop(1);
    return;
  }
  say('the service is up');
  say(`  API      ${base}  (open it in a browser)`);
  say(`  Help     ${base}/help`);
  say(`  Docs     ${base}/docs`);
  say(`  OpenAPI  ${base}/openapi.json`);
  say('press Ctrl-C to stop');
}

main().catch((err: unknown) => {
  if (err instanceof RedisServerNotFoundError) say(err.message);
  else say(`could not start: ${(err as Error).message}`);
  process.exit(1);
});
