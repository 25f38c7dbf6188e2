/**
 * The whole service as `npm start` runs it (scripts/start.ts: its own redis-server, then the API
 * and one worker as child processes), on a temporary DATA_DIR and a free port, for the end-to-end
 * suites: from the TypeScript sources through tsx (the default, so a suite tests the code as it is
 * without a build), or `compiled`, exactly as `npm start` runs it after its build
 * (`node --conditions=production scripts/dist/start.js`; the caller runs `npm run build` first). Or, when E2E_API_URL is set, the service already running
 * there (a compose stack, a deployment), which the suites must not start or stop.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '@meteorites/shared';
import { ENDED, ok, type ApiClient, type Job } from '@meteorites/client';
import { testEnv } from './env.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface StartedService {
  url: string;
  /** The pid of start.ts itself. */
  pid: number;
  dataDir: string;
  /** Everything start.ts and its children printed so far. */
  output(): string;
  /** The pid in redis-server's pid file under DATA_DIR/redis (redis removes the file when it stops). */
  redisPid(): number;
  /** Every process below start.ts (redis-server, api, worker), from /proc. */
  descendants(): number[];
  /** SIGINT, as a terminal's Ctrl-C sends it; resolves with the exit. */
  interrupt(): Promise<Exit>;
  /** SIGTERM, as a process manager stops it; resolves with the exit. */
  terminate(): Promise<Exit>;
  /** For afterAll: SIGKILL whatever is left of the tree and remove DATA_DIR. */
  kill(): Promise<void>;
}

/** Parent pid of every process, read from /proc/<pid>/stat (the comm field may hold spaces and parentheses). */
function parentPids(): Map<number, number> {
  const parents = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parents.set(Number(entry), ppid);
    } catch {
      // exited while we looked
    }
  }
  return parents;
}

export function descendantsOf(pid: number): number[] {
  const parents = parentPids();
  const found: number[] = [];
  const walk = (p: number) => {
    for (const [child, parent] of parents) {
      if (parent === p) {
        found.push(child);
        walk(child);
      }
    }
  };
  walk(pid);
  return found;
}

/** True while the process exists and is not a zombie waiting to be reaped. */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/**
 * Whether the process is still one of this service's: start.ts passes DATA_DIR on to the api and
 * worker, and redis-server (which overwrites its own environment with its title) names itself in
 * the pid file under DATA_DIR.
 */
function ownedBy(pid: number, dataDir: string): boolean {
  try {
    if (readFileSync(join(dataDir, 'redis', 'redis-server.pid'), 'utf8').trim() === String(pid)) return alive(pid);
  } catch {
    // no pid file: redis-server is not running
  }
  try {
    return readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes(`DATA_DIR=${dataDir}`);
  } catch {
    return false;
  }
}

export interface StartOptions {
  timeoutMs?: number;
  /** Run scripts/dist/start.js (built by `npm run build`) as `npm start` does, instead of the sources. */
  compiled?: boolean;
}

export async function startService(env: Record<string, string> = {}, options: StartOptions = {}): Promise<StartedService> {
  const { timeoutMs = 180_000, compiled = false } = options;
  // A DATA_DIR the caller gives is where the service's Redis runs: its processes are found there.
  const ownDir = env.DATA_DIR === undefined;
  const dataDir = env.DATA_DIR ?? mkdtempSync(join(tmpdir(), 'meteorites-e2e-'));
  const port = await freePort();
  const args = compiled ? ['--conditions=production', 'scripts/dist/start.js'] : ['--import', 'tsx', 'scripts/start.ts'];
  const child = spawn(process.execPath, args, {
    cwd: root,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, DATA_DIR: dataDir, PORT: String(port), LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const exited = once(child, 'exit').then(([code, signal]) => ({ code, signal }) as Exit);

  const seen = new Set<number>();
  const service: StartedService = {
    url: `http://127.0.0.1:${port}`,
    pid: child.pid!,
    dataDir,
    output: () => output,
    redisPid: () => Number(readFileSync(join(dataDir, 'redis', 'redis-server.pid'), 'utf8').trim()),
    descendants: () => {
      const pids = descendantsOf(child.pid!);
      for (const p of pids) seen.add(p);
      return pids;
    },
    interrupt: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT');
      return exited;
    },
    terminate: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
    kill: async () => {
      for (const pid of new Set([...service.descendants(), ...seen])) {
        if (!ownedBy(pid, dataDir)) continue; // gone, and the pid maybe reused by a process not ours
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // exited meanwhile
        }
      }
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
      if (ownDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };

  const deadline = Date.now() + timeoutMs;
  while (!output.includes('the service is up')) {
    if (child.exitCode !== null || child.signalCode !== null) {
      await service.kill();
      throw new Error(`npm start exited before the service was up:\n${output}`);
    }
    if (Date.now() > deadline) {
      await service.kill();
      throw new Error(`the service was not up within ${timeoutMs / 1000} s:\n${output}`);
    }
    await sleep(100);
  }
  service.descendants(); // remembered, so kill() finds them even after start.ts is gone
  return service;
}

/** The service the end-to-end suites talk to: E2E_API_URL's, or one started here (`own`). */
export async function serviceUnderTest(env: Record<string, string> = {}): Promise<{ url: string; own?: StartedService }> {
  const external = testEnv().E2E_API_URL;
  if (external) return { url: external.replace(/\/+$/, '') };
  const own = await startService(env);
  return { url: own.url, own };
}

/** Long-polls GET /jobs/{id} (30 s rounds) until the job ends; the job as it is when the time runs out. */
export async function waitForJob(api: ApiClient, id: string, timeoutMs = 120_000): Promise<Job> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const wait = Math.max(0, Math.min(30, Math.floor((deadline - Date.now()) / 1000)));
    const job = await ok(api.GET('/jobs/{id}', { params: { path: { id }, query: { wait } } }));
    if (ENDED.includes(job.status) || Date.now() >= deadline) return job;
  }
}
