#!/usr/bin/env node
/**
 * The `meteorites` bin. After a build (`npm run build`, which `npm start` and the Docker image run)
 * it runs the compiled CLI, scripts/dist/cli.js, which starts in about half the time of tsx
 * compiling the sources at every call (docs/operations.md). Without a build, or when a file the
 * CLI is built from changed after the last one (make's rule, on modification times), it runs the
 * sources through tsx in this process, as `npm run cli` does: a bin never runs stale code.
 *
 * The compiled CLI runs in a second node process: it needs the `production` condition (every
 * @meteorites/* package then resolves to its dist/), which only node's command line sets; a
 * loader hook setting it in this process costs more than the process (every import crosses to
 * the hooks thread).
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { isatty } from 'node:tty';
import { dirname } from 'node:path';

const root = `${dirname(import.meta.dirname)}/`;
const COMPILED = `${root}scripts/dist/cli.js`;
/** Written by `npm run build` when it finishes (scripts/copy-runtime-files.mjs). */
const STAMP = `${root}scripts/dist/.built`;
/** What the compiled CLI is built from: its own files and the workspaces it imports. */
const SOURCES = ['scripts/cli.ts', 'scripts/cli', 'shared/src', 'dataset/src', 'client/src'];

const mtime = (path) => {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return undefined;
  }
};

/** Whether any file under `path` (tests aside) changed after `since`. */
function changedSince(path, since) {
  const time = mtime(path);
  if (time === undefined) return false;
  if (time > since && !path.endsWith('.spec.ts')) return true;
  try {
    return readdirSync(path).some((name) => name !== 'fixtures' && changedSince(`${path}/${name}`, since));
  } catch {
    return false; // a file, not a folder
  }
}

function buildIsCurrent() {
  const built = mtime(STAMP);
  return built !== undefined && mtime(COMPILED) !== undefined && !SOURCES.some((s) => changedSince(`${root}${s}`, built));
}

/**
 * Whether this process is in its terminal's foreground process group (Linux: /proc; elsewhere a
 * terminal on stdin). There a Ctrl-C reaches the whole group, the compiled CLI included.
 */
function inForeground() {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    // After the command name: state ppid pgrp session tty_nr tpgid ...
    const [, , pgrp, , , tpgid] = stat
      .slice(stat.lastIndexOf(')') + 2)
      .split(' ')
      .map(Number);
    return tpgid > 0 && tpgid === pgrp;
  } catch {
    return isatty(0);
  }
}

function runCompiled() {
  const child = spawn(process.execPath, ['--conditions=production', COMPILED, ...process.argv.slice(2)], { stdio: 'inherit' });
  // A signal sent to this process alone (kill, a process manager, a test) is passed on. A
  // terminal's Ctrl-C already reached the child: passing it on would deliver it twice, and a second
  // SIGINT ends `fetch` before it has removed its partial file.
  const relay = (signal) => {
    if (signal !== 'SIGINT' || !inForeground()) child.kill(signal);
  };
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const s of signals) process.on(s, relay);
  child.on('error', (err) => {
    process.stderr.write(`error: cannot start the compiled CLI: ${err.message}\n`);
    process.exit(1);
  });
  child.on('exit', (code, signal) => {
    if (signal === null) process.exit(code ?? 1);
    // Ended by a signal: end the same way, so the caller sees what the CLI's process would show.
    for (const s of signals) process.off(s, relay);
    process.kill(process.pid, signal);
  });
}

if (buildIsCurrent()) runCompiled();
else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('./cli.ts');
}
