/**
 * Runs the real CLI as a child process, with only PATH, HOME and the given settings, and collects
 * its exit code and both output streams. From its sources through tsx, as `npm run cli` does: the
 * `meteorites` bin would run a build when one is current, and the suites test the code as it is
 * (test/e2e/compiled-start.test.ts runs the bin on the compiled CLI).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { projectRoot } from './process.ts';

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** tsx's loader by its path: `--import tsx` would look for it from the working directory. */
const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

export async function runCli(
  args: string[],
  env: Record<string, string> = {},
  opts: {
    cwd?: string;
    timeoutMs?: number;
    onStart?: (child: ChildProcess) => void;
    /** The `meteorites` bin instead, as a user runs it: the compiled CLI when a build is current. */
    bin?: boolean;
  } = {},
): Promise<CliRun> {
  const entry = opts.bin ? [] : ['--import', TSX];
  const main = join(projectRoot, opts.bin ? 'scripts/meteorites.js' : 'scripts/cli.ts');
  const child = spawn(process.execPath, [...entry, main, ...args], {
    cwd: opts.cwd ?? projectRoot,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  opts.onStart?.(child);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
  // 'close', not 'exit': the output pipes may still hold data when the process has exited.
  const [code] = (await once(child, 'close')) as [number | null];
  clearTimeout(timer);
  return { code, stdout, stderr };
}
