/**
 * The Redis key table in docs/architecture.md, generated from shared/src/keys.ts so the two never
 * disagree: each entry of `keys` with its doc comment (`<redis type>: <what it holds>`), the key
 * spelt by calling the real builder and naming its arguments. `npm run docs:keys` rewrites it;
 * `keyTable()` is what the docs test compares.
 */
import { ServiceError, keyPatterns, keys, CLUSTER_HASH_TAG } from '@meteorites/shared';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { replaceMarked, rewriteMarked } from './doc-markers.ts';

const MARKER = 'key-table';
export const architecturePath = fileURLToPath(new URL('../docs/architecture.md', import.meta.url));
const keysPath = fileURLToPath(new URL('../shared/src/keys.ts', import.meta.url));

/** A doc comment that describes a key starts with its Redis type; others (a SCAN pattern) are no key. */
const TYPED_DOC = /^((?:hash|set|zset|list|string|stream|pub\/sub channel)(?: \([^)]*\))?): (.+)$/s;

/**
 * Valid values to call a key builder with, by parameter name; the first that the builder accepts
 * is used, and replaced by `<name>` in the key it returns.
 */
const SAMPLES: Record<string, readonly (string | number)[]> = {
  id: ['70011', '0f0e0d0c-0b0a-4908-8706-050403020100'],
  workerId: ['worker-17'],
  version: [31337],
  column: ['lat'],
  status: ['finished'],
  format: ['svg'],
  limit: ['jobs'],
  client: ['192.0.2.1'],
};
const PLACEHOLDER: Record<string, string> = { workerId: 'worker' };

export class KeyDocError extends ServiceError {
  override name = 'KeyDocError';
  override readonly code = 'key_doc';
}

export interface KeyRow {
  /** The property of `keys`. */
  entry: string;
  key: string;
  type: string;
  part: string;
  holds: string;
}

interface Entry {
  entry: string;
  doc: string;
  part: string;
  params: string[];
}

/** The entries of `export const keys = {...}` in source order, with their doc comments and section. */
function entries(source: string): Entry[] {
  const file = ts.createSourceFile(keysPath, source, ts.ScriptTarget.Latest, true);
  let literal: ts.ObjectLiteralExpression | undefined;
  file.forEachChild(function find(node) {
    // `keys = {...}`, or the object `buildKeys()` returns (keys = buildKeys()).
    let init: ts.Expression | undefined;
    if (ts.isVariableDeclaration(node) && node.name.getText() === 'keys') init = node.initializer;
    if (ts.isReturnStatement(node) && node.expression) {
      const fn = node.parent?.parent;
      if (fn && ts.isFunctionDeclaration(fn) && fn.name?.getText() === 'buildKeys') init = node.expression;
    }
    while (init && (ts.isAsExpression(init) || ts.isParenthesizedExpression(init))) init = init.expression;
    if (init && ts.isObjectLiteralExpression(init)) literal = init;
    node.forEachChild(find);
  });
  if (!literal) throw new KeyDocError('shared/src/keys.ts has no `export const keys = {...}` object nor a buildKeys() returning one');
  let part = '';
  return literal.properties.map((prop) => {
    const entry = prop.name?.getText() ?? '?';
    for (const c of ts.getLeadingCommentRanges(source, prop.getFullStart()) ?? []) {
      const m = /^\/\/ -+ (.+?)(?: \(.*\))? -+$/.exec(source.slice(c.pos, c.end));
      if (m) part = m[1]!;
    }
    const jsDoc = ts.getJSDocCommentsAndTags(prop).filter(ts.isJSDoc).at(-1);
    const doc = ts.getTextOfJSDocComment(jsDoc?.comment)?.replace(/\s+/g, ' ').trim();
    if (!doc) throw new KeyDocError(`keys.${entry} in shared/src/keys.ts has no doc comment`);
    const init = ts.isPropertyAssignment(prop) ? prop.initializer : undefined;
    const params = init && ts.isArrowFunction(init) ? init.parameters.map((p) => p.name.getText()) : [];
    return { entry, doc, part, params };
  });
}

function* combinations(params: string[]): Generator<(string | number)[]> {
  if (params.length === 0) {
    yield [];
    return;
  }
  const [first, ...rest] = params;
  const values = SAMPLES[first!];
  if (!values) throw new KeyDocError(`scripts/key-table.ts has no sample value for a key parameter named "${first}"`);
  for (const v of values) for (const tail of combinations(rest)) yield [v, ...tail];
}

/** The key an entry builds, its arguments shown as `<name>`. */
function spell(e: Entry): string {
  const value = (keys as Record<string, unknown>)[e.entry];
  if (typeof value === 'string') return value;
  if (typeof value !== 'function') throw new KeyDocError(`keys.${e.entry} is neither a key nor a key builder`);
  for (const args of combinations(e.params)) {
    let key: string;
    try {
      key = (value as (...a: unknown[]) => string)(...args);
    } catch {
      continue; // not a valid argument for this builder: try the next sample
    }
    // Right to left, so an earlier argument's sample is found in front of the later placeholders.
    for (let i = args.length - 1; i >= 0; i--) {
      const sample = String(args[i]);
      const at = key.lastIndexOf(sample);
      if (at < 0) throw new KeyDocError(`keys.${e.entry}(...) does not contain its argument ${sample}`);
      key = `${key.slice(0, at)}<${PLACEHOLDER[e.params[i]!] ?? e.params[i]}>${key.slice(at + sample.length)}`;
    }
    return key;
  }
  throw new KeyDocError(`keys.${e.entry} accepts none of the sample values in scripts/key-table.ts`);
}

/** Every key of keys.ts, in its order. */
export function keyRows(source = readFileSync(keysPath, 'utf8')): KeyRow[] {
  const rows: KeyRow[] = [];
  for (const e of entries(source)) {
    const m = TYPED_DOC.exec(e.doc);
    if (!m) continue; // a pattern or a helper, not a key
    rows.push({ entry: e.entry, key: spell(e), type: m[1]!, part: e.part, holds: m[2]! });
  }
  return rows;
}

const cell = (s: string) => s.replace(/\|/g, '\\|');

export function keyTable(source?: string): string {
  const tag = `{${CLUSTER_HASH_TAG}}`;
  const rows = keyRows(source).map((r) => `| \`${r.key}\` | ${cell(r.type)} | ${cell(r.part)} | ${cell(r.holds)} |`);
  return [
    '| key | type | part | holds |',
    '|---|---|---|---|',
    ...rows,
    '',
    `Every key matches one of ${keyPatterns.map((p) => `\`${p}\``).join(', ')} (\`keyPatterns\`).`,
    '',
    `In cluster mode (\`REDIS_CLUSTER_NODES\`) every key has the hash tag \`${tag}\` in front (\`${tag}jobs:queue\`, ` +
      `\`${tag}meteorite:<id>\`, patterns \`${tag}job:*\`...): the whole keyspace is one slot, served by one master ` +
      '(docs/operations.md, "Redis Cluster").',
  ].join('\n');
}

/** docs/architecture.md with its key table replaced by a fresh one. */
export function withFreshKeyTable(doc: string): string {
  return replaceMarked(doc, MARKER, keyTable(), 'docs/architecture.md');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  rewriteMarked(architecturePath, MARKER, keyTable());
  console.log('docs/architecture.md key table updated');
}
