/**
 * Runs the real CLI (the `meteorites` bin, scripts/meteorites.js) as a child process, with only
 * PATH, HOME and the given settings, and collects its exit code and both output streams.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { projectRoot } from './process.ts';

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

export async function runCli(
  args: string[],
  env: Record<string, string> = {},
  opts: { cwd?: string; timeoutMs?: number; onStart?: (child: ChildProcess) => void } = {},
): Promise<CliRun> {
  const child = spawn(process.execPath, [join(projectRoot, 'scripts/meteorites.js'), ...args], {
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
