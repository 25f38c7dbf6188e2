/**
 * The one way the project runs Lua on Redis. A script is a `.lua` file; `--- @include "name"`
 * lines pull in `includes/<name>.lua` beside it (or a generated include the caller supplies),
 * each at most once, recursively. The text is built once, at startup, and its SHA-1 computed;
 * calls are EVALSHA, and on NOSCRIPT (first use on a server, or Redis restarted and forgot its
 * scripts) the same call is sent once as EVAL, which also caches the script for the next EVALSHA.
 *
 * Not node-redis' defineScript: that binds scripts to the client's type (every client factory
 * and type in the tree would change), builds each call through its command parser, and fixes the
 * number of KEYS per script; here a call is one sendCommand of a prebuilt array, which is what a
 * no-op job's cost is sensitive to (bench/queue.ts).
 *
 * Every key a script touches comes in KEYS (see keys-rule.ts, checked by a unit test). A script
 * names its KEYS once, in a `local A, B = KEYS[1], KEYS[2]` line; callers pass names by those
 * Lua names (keyList), so the order is defined in the script alone.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RedisArgument } from 'redis';
import type { Redis } from '../redis.ts';

const INCLUDE_RE = /^--- @include "([a-z0-9-]+)"\s*$/;
const KEYS_LINE_RE = /^local ([A-Za-z_][\w]*(?:, [A-Za-z_][\w]*)*) = (KEYS\[\d+\](?:, KEYS\[\d+\])*)\s*$/;

export class LuaIncludeError extends Error {
  override name = 'LuaIncludeError';
}

/** Generated includes by name: Lua text made from TypeScript constants, so both sides share one definition. */
export type GeneratedIncludes = Readonly<Record<string, string>>;

/** A script's text with its includes expanded (each once, where first named). */
export function expandLua(file: string, generated: GeneratedIncludes = {}): string {
  const includeDir = join(dirname(file), 'includes');
  const seen = new Set<string>();
  const expand = (text: string, from: string, chain: string[]): string =>
    text
      .split('\n')
      .map((line) => {
        const m = INCLUDE_RE.exec(line);
        if (!m) return line;
        const name = m[1]!;
        if (chain.includes(name)) throw new LuaIncludeError(`${from}: include cycle ${[...chain, name].join(' -> ')}`);
        if (seen.has(name)) return `-- (${name}: included above)`;
        seen.add(name);
        const body = generated[name] ?? readInclude(join(includeDir, `${name}.lua`), from);
        return `-- >>> ${name}\n${expand(body, name, [...chain, name])}\n-- <<< ${name}`;
      })
      .join('\n');
  return expand(readFileSync(file, 'utf8'), basename(file), []);
}

function readInclude(path: string, from: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    throw new LuaIncludeError(`${from}: no include ${path}`);
  }
}

/** The Lua names of KEYS[1..n], from the script's `local ... = KEYS[...]` lines. */
export function keyNamesOf(source: string): string[] {
  const names: string[] = [];
  for (const line of source.split('\n')) {
    const m = KEYS_LINE_RE.exec(line);
    if (!m) continue;
    const vars = m[1]!.split(', ');
    const slots = m[2]!.split(', ').map((k) => Number(/\d+/.exec(k)![0]));
    if (vars.length !== slots.length) throw new LuaIncludeError(`unbalanced KEYS line: ${line}`);
    vars.forEach((v, i) => (names[slots[i]! - 1] = v));
  }
  for (let i = 0; i < names.length; i++) if (!names[i]) throw new LuaIncludeError(`KEYS[${i + 1}] has no name`);
  return names;
}

export class LuaScript {
  readonly source: string;
  readonly sha: string;
  /** The Lua names of KEYS, in order. */
  readonly keyNames: readonly string[];

  constructor(
    readonly name: string,
    source: string,
  ) {
    this.source = source;
    this.sha = createHash('sha1').update(source).digest('hex');
    this.keyNames = keyNamesOf(source);
  }

  /** Reads `<name>.lua` in the folder of `dir` (a module's import.meta.url or a folder path). */
  static fromFile(dir: string | URL, name: string, generated: GeneratedIncludes = {}): LuaScript {
    // A module's URL names its folder's file; new URL('.', ...) is the folder either way.
    const folder = dir instanceof URL || dir.startsWith('file:') ? fileURLToPath(new URL('.', dir)) : dir;
    return new LuaScript(name, expandLua(join(folder, `${name}.lua`), generated));
  }

  /** KEYS in the script's order from names given by their Lua names; throws on a missing one. */
  keyList(names: Readonly<Record<string, string>>): string[] {
    return this.keyNames.map((n) => {
      const key = names[n];
      if (key === undefined) throw new LuaIncludeError(`${this.name}: no key given for ${n}`);
      return key;
    });
  }

  /** EVALSHA; on NOSCRIPT the same call once as EVAL (nothing ran: NOSCRIPT is answered before the script starts). */
  async run(redis: Redis, keys: readonly RedisArgument[], args: readonly RedisArgument[]): Promise<unknown> {
    const rest = [String(keys.length), ...keys, ...args];
    try {
      // sendCommand, not evalSha: the command builder's per-call work shows in a no-op job's cost.
      return await redis.sendCommand(['EVALSHA', this.sha, ...rest]);
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      return redis.sendCommand(['EVAL', this.source, ...rest]);
    }
  }
}
