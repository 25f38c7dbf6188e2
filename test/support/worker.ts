/**
 * Real worker processes for the integration tests: `node --import tsx worker/src/main.ts`, so a
 * SIGKILL hits the worker itself (not an npx wrapper). Each worker's JSON log lines are kept for
 * assertions. Lease and recovery settings default to short ones so crash tests run fast.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createInterface } from 'node:readline';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** Settings every test worker gets unless the test overrides them. */
export const TEST_WORKER_ENV: Record<string, string> = {
  LOG_LEVEL: 'info',
  // Read as JSON lines below (a pipe gets JSON anyway; said here so it does not depend on that).
  LOG_FORMAT: 'json',
  ENABLE_TEST_ANALYSES: 'true',
  WORKER_CONCURRENCY: '2',
  JOB_LEASE_MS: '1000',
  JOB_RECOVERY_INTERVAL_MS: '200',
  WORKER_SHUTDOWN_GRACE_MS: '5000',
};

export interface LogLine {
  level: number;
  msg: string;
  worker?: string;
  [field: string]: unknown;
}

export interface WorkerProcess {
  pid: number;
  /** The worker id, which names its processing list (known once it started). */
  id: string;
  logs: LogLine[];
  /** Resolves with the exit code and signal once the process ended. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves with the first log line the predicate accepts (already seen ones count). */
  waitForLog(predicate: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  /** SIGTERM and wait for the exit. */
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGKILL and wait for the exit: a crash. */
  kill(): Promise<void>;
}

const running = new Set<ChildProcess>();

export interface SpawnOptions {
  /**
   * Runs an esbuild bundle of worker/src/main.ts (built once per test process) instead of the
   * sources through tsx: the same code, transformed by the same esbuild, but one file, so a
   * worker starts on about a tenth of the CPU (tsx resolves and loads each of the ~1,200 modules
   * of redis and typebox through its loader). For suites that start dozens of workers.
   */
  bundled?: boolean;
  /** Options for node itself, before the script (e.g. --cpu-prof, which NODE_OPTIONS refuses). */
  nodeArgs?: string[];
}

let bundle: Promise<string> | undefined;

/**
 * The project's modules keep their own import.meta.url in the bundle: Lua scripts are files read
 * beside the module that loads them (shared/src/lua/loader.ts), not from the bundle's folder.
 */
const sourceUrls = {
  name: 'source-urls',
  setup(b: { onLoad(o: { filter: RegExp }, cb: (a: { path: string }) => { contents: string; loader: 'ts' } | undefined): void }) {
    b.onLoad({ filter: /\/(shared|worker)\/src\/.*\.ts$/ }, ({ path }) => {
      const text = readFileSync(path, 'utf8');
      if (!text.includes('import.meta.url')) return undefined;
      return { contents: text.replaceAll('import.meta.url', JSON.stringify(pathToFileURL(path).href)), loader: 'ts' };
    });
  },
};

function workerBundle(): Promise<string> {
  bundle ??= (async () => {
    const { build } = await import('esbuild');
    const dir = mkdtempSync(join(tmpdir(), 'meteorites-worker-'));
    const outfile = join(dir, 'worker.mjs');
    await build({
      entryPoints: [join(root, 'worker/src/main.ts')],
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      outfile,
      // CommonJS dependencies (the redis client) require Node's built-ins at run time.
      banner: { js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);" },
      plugins: [sourceUrls],
      logLevel: 'warning',
    });
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    return outfile;
  })();
  return bundle;
}

export async function spawnWorker(redisUrl: string, env: Record<string, string> = {}, opts: SpawnOptions = {}): Promise<WorkerProcess> {
  const args = [...(opts.nodeArgs ?? []), ...(opts.bundled ? [await workerBundle()] : ['--import', 'tsx', 'worker/src/main.ts'])];
  const child = spawn(process.execPath, args, {
    cwd: root,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...TEST_WORKER_ENV, REDIS_URL: redisUrl, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  const exited = once(child, 'exit').then(([code, signal]) => {
    running.delete(child);
    return { code: code as number | null, signal: signal as NodeJS.Signals | null };
  });
  const logs: LogLine[] = [];
  const listeners = new Set<(line: LogLine) => void>();
  createInterface({ input: child.stdout! }).on('line', (text) => {
    let line: LogLine;
    try {
      line = JSON.parse(text) as LogLine;
    } catch {
      line = { level: 30, msg: text };
    }
    logs.push(line);
    for (const l of listeners) l(line);
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
  });

  const waitForLog = (predicate: (line: LogLine) => boolean, timeoutMs = 15_000) =>
    new Promise<LogLine>((resolve, reject) => {
      const seen = logs.find(predicate);
      if (seen) return resolve(seen);
      const timer = setTimeout(() => {
        listeners.delete(check);
        reject(new Error(`worker ${child.pid}: no matching log line within ${timeoutMs} ms; stderr: ${stderr.slice(-2000)}`));
      }, timeoutMs);
      const check = (line: LogLine) => {
        if (!predicate(line)) return;
        clearTimeout(timer);
        listeners.delete(check);
        resolve(line);
      };
      listeners.add(check);
      void exited.then(() => {
        if (!listeners.has(check)) return;
        clearTimeout(timer);
        listeners.delete(check);
        reject(new Error(`worker ${child.pid} exited before the expected log line; stderr: ${stderr.slice(-2000)}`));
      });
    });

  // Generous: many workers starting at once on a busy machine each take seconds to compile and connect.
  const started = await waitForLog((l) => l.msg === 'worker started', 90_000);
  return {
    pid: child.pid!,
    id: String(started.worker),
    logs,
    exited,
    waitForLog,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
    kill: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

/** Kills every worker a suite left running (afterAll). */
export async function killAllWorkers(): Promise<void> {
  await Promise.all(
    [...running].map(async (child) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGKILL');
      await exited;
    }),
  );
}
