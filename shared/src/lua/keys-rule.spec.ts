import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { expandLua, keyNamesOf } from './loader.ts';
import { checkKeysRule } from './keys-rule.ts';
import { GENERATED_INCLUDES } from '../queue/lua/layout.ts';

const root = fileURLToPath(new URL('../../../', import.meta.url));

/** Every script in the tree: .lua files outside includes/ and fixtures/ folders. */
function scriptsIn(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return e.name === 'includes' || e.name === 'fixtures' || e.name === 'node_modules' ? [] : scriptsIn(path);
    return e.name.endsWith('.lua') ? [path] : [];
  });
}

const scripts = ['shared/src', 'dataset/src', 'charts/src', 'api/src', 'worker/src'].flatMap((d) => scriptsIn(join(root, d)));

describe('the KEYS rule', () => {
  it('finds the scripts: the queue, the dataset lock, the chart store and the rate limit', () => {
    const names = scripts.map((s) => relative(root, s));
    expect(names).toEqual(
      expect.arrayContaining([
        'shared/src/queue/lua/settle.lua',
        'shared/src/queue/lua/progress.lua',
        'dataset/src/store/dataset-lock-renew.lua',
        'api/src/routes/chart-store.lua',
        'api/src/plugins/rate-limit.lua',
      ]),
    );
    expect(names.length).toBeGreaterThanOrEqual(16);
  });

  it.each(scripts.map((s) => [relative(root, s), s]))('%s touches only keys from KEYS', (_name, file) => {
    const source = expandLua(file, GENERATED_INCLUDES);
    expect(checkKeysRule(source)).toEqual([]);
    expect(keyNamesOf(source).length).toBeGreaterThan(0);
  });

  it('fails a script that names keys itself or takes them from ARGV', () => {
    const bad = expandLua(fileURLToPath(new URL('./fixtures/bad-keys.lua', import.meta.url)));
    const found = checkKeysRule(bad).map((v) => [v.line, v.command]);
    expect(found).toEqual([
      [11, 'HSET'],
      [12, 'DEL'],
      [14, 'GET'],
      [15, 'EXISTS'],
      [17, 'LMOVE'],
      [21, 'UNLINK'],
    ]);
  });

  it('accepts names built on a declared key, and keys passed through parameters and tables', () => {
    const ok = [
      'local JOB, A, B = KEYS[1], KEYS[2], KEYS[3]',
      'local S = { x = A, y = B }',
      'local batch = {}',
      'local function add(key, id) batch[key] = id end',
      'add(S[ARGV[1]], ARGV[2])',
      'for key, id in pairs(batch) do redis.call("SADD", key, id) end',
      'local proc = ARGV[3] and (JOB .. ARGV[3]) or nil',
      'if proc then redis.call("LREM", proc, 1, ARGV[2]) end',
      'for _, k in ipairs({ A, B }) do redis.call("ZREM", k, ARGV[2]) end',
    ].join('\n');
    expect(checkKeysRule(ok)).toEqual([]);
    // The same with one literal name among the values passed through the parameter.
    expect(checkKeysRule(`${ok}\nadd('jobs:x', 'y')`).map((v) => v.command)).toEqual(['SADD']);
  });
});
