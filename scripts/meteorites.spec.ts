/**
 * The `meteorites` bin's choice, on a copy of it in a scratch tree whose "CLI" only says how it
 * ran: the compiled one under the production condition when the build is newer than every source
 * it is built from, the sources through tsx otherwise; and, compiled, the exit code and a signal
 * sent to the bin reach the caller and the CLI as if there were one process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { projectRoot } from '@meteorites/test-utils/process';

/** The workspaces the real CLI imports: a change in any of them must make the bin run the sources. */
const cliWorkspaces = (() => {
  const files = ['scripts/cli.ts', ...readdirSync(join(projectRoot, 'scripts/cli')).map((f) => `scripts/cli/${f}`)];
  const names = files
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.spec.ts'))
    .flatMap((f) => [...readFileSync(join(projectRoot, f), 'utf8').matchAll(/from '@meteorites\/([a-z-]+)'/g)].map((m) => m[1]!));
  return [...new Set(names)].sort();
})();

const COMPILED_CLI = `
const args = process.argv.slice(2);
console.log(['compiled', ...process.execArgv, ...args].join(' '));
if (args[0] === 'exit') process.exitCode = Number(args[1]);
if (args[0] === 'hang') {
  const timer = setInterval(() => {}, 1000);
  process.on('SIGINT', () => {
    console.log('SIGINT');
    clearInterval(timer);
    process.exitCode = 130;
  });
  console.log('waiting');
}
`;

let dir: string;
const BUILT = Date.now() / 1000 - 500;
const EDITED_BEFORE = BUILT - 500;

function write(path: string, text: string) {
  mkdirSync(dirname(join(dir, path)), { recursive: true });
  writeFileSync(join(dir, path), text);
}

/** Sets the modification time of everything under `path`, folders included. */
function setTime(path: string, seconds: number) {
  const full = join(dir, path);
  if (statSync(full).isDirectory()) for (const name of readdirSync(full)) setTime(join(path, name), seconds);
  utimesSync(full, seconds, seconds);
}

/** Every source older than the build, the build as it was. */
function resetTimes() {
  for (const top of ['scripts', ...cliWorkspaces]) setTime(top, EDITED_BEFORE);
  setTime('scripts/dist', BUILT);
}

function bin(args: string[]): { child: ChildProcess; done: Promise<{ code: number | null; signal: string | null; stdout: string }> } {
  const child = spawn(process.execPath, [join(dir, 'scripts/meteorites.js'), ...args], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = once(child, 'close').then(([code, signal]) => {
    if (code !== 0 && code !== 3 && code !== 130 && signal === null) throw new Error(`bin exited ${code}: ${stderr}`);
    return { code: code as number | null, signal: signal as string | null, stdout };
  });
  return { child, done };
}
const run = async (...args: string[]) => (await bin(args).done).stdout;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'meteorites-bin-'));
  symlinkSync(join(projectRoot, 'node_modules'), join(dir, 'node_modules'));
  mkdirSync(join(dir, 'scripts'));
  write('package.json', JSON.stringify({ type: 'module' }));
  copyFileSync(join(projectRoot, 'scripts/meteorites.js'), join(dir, 'scripts/meteorites.js'));
  write('scripts/cli.ts', `const args: string[] = process.argv.slice(2);\nconsole.log(['sources', ...args].join(' '));\n`);
  write('scripts/cli/args.ts', 'export {};\n');
  write('scripts/dist/cli.js', COMPILED_CLI);
  write('scripts/dist/.built', 'a build\n');
  for (const w of cliWorkspaces) {
    write(`${w}/src/index.ts`, 'export {};\n');
    write(`${w}/src/index.spec.ts`, 'export {};\n');
  }
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

beforeEach(resetTimes);

describe('the meteorites bin', () => {
  it('finds the workspaces the CLI imports (the checks below cover each)', () => {
    expect(cliWorkspaces).toContain('shared');
    expect(cliWorkspaces).toContain('client');
  });

  it('runs the compiled CLI, under the production condition, when the build is newer than every source', async () => {
    expect(await run('summary', '--json')).toBe('compiled --conditions=production summary --json\n');
    // A test beside the code is not part of the build.
    setTime(`${cliWorkspaces[0]}/src/index.spec.ts`, BUILT + 10);
    expect(await run('x')).toBe('compiled --conditions=production x\n');
  });

  it('passes the compiled CLI exit code on', async () => {
    const { code, stdout } = await bin(['exit', '3']).done;
    expect({ code, stdout }).toEqual({ code: 3, stdout: 'compiled --conditions=production exit 3\n' });
  });

  it('runs the sources through tsx without a build', async () => {
    rmSync(join(dir, 'scripts/dist/.built'));
    try {
      expect(await run('summary')).toBe('sources summary\n');
    } finally {
      write('scripts/dist/.built', 'a build\n');
      resetTimes();
    }
  });

  it.each([
    ['the CLI', 'scripts/cli.ts'],
    ['one of its modules', 'scripts/cli/args.ts'],
    ...cliWorkspaces.map((w) => [`the ${w} workspace`, `${w}/src/index.ts`]),
  ])('runs the sources when %s changed after the build (%s)', async (_what, path) => {
    setTime(path, BUILT + 10);
    expect(await run('summary')).toBe('sources summary\n');
  });

  it('runs the sources when a file was added or removed after the build (its folder changed)', async () => {
    setTime(`${cliWorkspaces[0]}/src`, BUILT + 10);
    expect(await run('summary')).toBe('sources summary\n');
  });

  /** Runs the hanging CLI through the bin and sends the bin `signal` once the CLI says it waits. */
  function signalWhenWaiting(signal: NodeJS.Signals) {
    const { child, done } = bin(['hang']);
    let seen = '';
    // Once: a second signal, sent when the CLI's own output arrives, would reach the bin as it exits.
    child.stdout!.on('data', (d: Buffer) => {
      const first = !seen.includes('waiting');
      seen += d.toString();
      if (first && seen.includes('waiting')) child.kill(signal);
    });
    return done;
  }

  it('passes SIGINT sent to the bin (no terminal) on to the compiled CLI once, and ends as it ends', async () => {
    const { code, stdout } = await signalWhenWaiting('SIGINT');
    expect({ code, stdout }).toEqual({ code: 130, stdout: 'compiled --conditions=production hang\nwaiting\nSIGINT\n' });
  });

  it('passes SIGTERM on, and ends by the signal that ended the CLI', async () => {
    const { code, signal } = await signalWhenWaiting('SIGTERM');
    expect({ code, signal }).toEqual({ code: null, signal: 'SIGTERM' });
  });
});
