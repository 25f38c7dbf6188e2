/**
 * The control-character rule is one pattern (SAFE_TEXT_PATTERN), and it only protects the
 * strings that carry it: every string a client can send, in every operation of openapi.json and
 * in every analysis' params, must carry it or a stricter pattern of its own, or be an enum.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { JOB_ID_PATTERN, METEORITE_ID_PATTERN, SAFE_TEXT_PATTERN, STREAM_ID_PATTERN, catalog } from '@meteorites/shared';

type Schema = Record<string, unknown>;
type Operation = {
  parameters?: { name: string; in: string; schema: Schema }[];
  requestBody?: { content: Record<string, { schema: Schema }> };
};

const document = JSON.parse(readFileSync(new URL('../../openapi.json', import.meta.url), 'utf8')) as {
  paths: Record<string, Record<string, Operation>>;
};
/** Patterns that already allow only ASCII letters, digits and dashes. */
const STRICTER = new Set([JOB_ID_PATTERN, METEORITE_ID_PATTERN, STREAM_ID_PATTERN]);

/** Every string schema under `schema` that does not carry the rule: its path. */
function unguarded(schema: unknown, path: string): string[] {
  if (Array.isArray(schema)) return schema.flatMap((s, i) => unguarded(s, `${path}[${i}]`));
  if (typeof schema !== 'object' || schema === null) return [];
  const s = schema as Schema;
  const types = Array.isArray(s.type) ? s.type : [s.type];
  const own =
    types.includes('string') && !('enum' in s) && !('const' in s) && !(s.pattern === SAFE_TEXT_PATTERN || STRICTER.has(s.pattern as string))
      ? [path]
      : [];
  const skip = new Set(['examples', 'example', 'default', 'description']);
  return [...own, ...Object.entries(s).flatMap(([k, v]) => (skip.has(k) ? [] : unguarded(v, `${path}.${k}`)))];
}

describe('SAFE_TEXT_PATTERN on every string a client sends', () => {
  it('every parameter and JSON body field of every operation', () => {
    const found: string[] = [];
    for (const [path, methods] of Object.entries(document.paths)) {
      for (const [method, op] of Object.entries(methods)) {
        const name = `${method.toUpperCase()} ${path}`;
        for (const p of op.parameters ?? []) found.push(...unguarded(p.schema, `${name} ${p.in}.${p.name}`));
        // POST /data's body is the dataset itself: data, kept as given (charts make any text safe).
        if (name === 'POST /data') continue;
        for (const [type, content] of Object.entries(op.requestBody?.content ?? {}))
          found.push(...unguarded(content.schema, `${name} body (${type})`));
      }
    }
    expect(found).toEqual([]);
    expect(JSON.stringify(document.paths)).toContain(JSON.stringify(SAFE_TEXT_PATTERN));
  });

  it("every analysis' params, test analyses included", () => {
    const found = [...catalog({ enableTestAnalyses: true }).analyses.values()].flatMap((a) => unguarded(a.params, a.name));
    expect(found).toEqual([]);
  });
});
