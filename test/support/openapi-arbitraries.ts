/**
 * fast-check arbitraries from the JSON Schemas of openapi.json (and of GET /analyses' params):
 * values a schema accepts, and values it must refuse (wrong types, bounds ± 1, lengths ± 1,
 * 10 kB strings, control characters), each refusal labelled with why it must be refused.
 * Only what the service's schemas use is covered: string (lengths, pattern), integer and number
 * (bounds), enum, a union of literals, boolean, flat objects, arrays of those (group-by's `by`).
 */
import fc from 'fast-check';
import { SAFE_TEXT_PATTERN } from '@meteorites/shared';

export type Schema = Record<string, unknown>;

/** A value that must be refused, and why (for the report of a failing run). */
export interface Invalid<T = unknown> {
  value: T;
  why: string;
}

const SAFE = new RegExp(SAFE_TEXT_PATTERN, 'u');
/** Characters SAFE_TEXT_PATTERN refuses (surrogates only in JSON: a URL carries UTF-8, where one reads back as U+FFFD). */
export const CONTROL_CHARS = [
  '\u0000',
  '\u0001',
  '\u0007',
  '\t',
  '\n',
  '\r',
  '\u001b',
  '\u001f',
  '\u007f',
  '\u0085',
  '\u009f',
  '\ufdd0',
  '\ufffe',
  '\uffff',
];
export const LONE_SURROGATES = ['\ud800', '\udbff', '\udc00', '\udfff'];

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

/** The literals of an `enum` or of an `anyOf` of `const`s, or undefined. */
export function literalsOf(schema: Schema): unknown[] | undefined {
  if (Array.isArray(schema.enum)) return schema.enum as unknown[];
  const branches = (schema.anyOf ?? schema.oneOf) as Schema[] | undefined;
  if (Array.isArray(branches) && branches.every((b) => 'const' in b)) return branches.map((b) => b.const);
  return undefined;
}

const typeOf = (schema: Schema): string | undefined => {
  if (literalsOf(schema)) return 'literal';
  const t = schema.type;
  return Array.isArray(t) ? (t.find((x) => x !== 'null') as string | undefined) : (t as string | undefined);
};

/**
 * Values `schema` accepts. `examples` (e.g. real class names, real ids) are drawn often, so valid
 * requests also find data; strings under SAFE_TEXT_PATTERN come from all of Unicode, filtered.
 */
export function validArb(schema: Schema, examples: unknown[] = []): fc.Arbitrary<unknown> {
  const literals = literalsOf(schema);
  const own = [...examples, ...((schema.examples as unknown[] | undefined) ?? [])];
  const base = ((): fc.Arbitrary<unknown> => {
    if (literals) return fc.constantFrom(...literals);
    switch (typeOf(schema)) {
      case 'integer': {
        const min = num(schema.minimum) ?? -1_000_000;
        const max = num(schema.maximum) ?? 1_000_000;
        return fc.oneof(fc.integer({ min, max }), fc.constantFrom(min, max));
      }
      case 'number': {
        const min = num(schema.minimum) ?? -1e9;
        const max = num(schema.maximum) ?? 1e9;
        return fc.oneof(
          fc.double({ min, max, noNaN: true, noDefaultInfinity: true }),
          fc.integer({ min: Math.ceil(min), max: Math.floor(max) }),
          fc.constantFrom(min, max),
        );
      }
      case 'boolean':
        return fc.boolean();
      case 'array': {
        const items = (schema.items ?? {}) as Schema;
        const minLength = num(schema.minItems) ?? 0;
        const maxLength = Math.min(num(schema.maxItems) ?? 5, 5);
        const element = validArb(items);
        return schema.uniqueItems
          ? fc.uniqueArray(element, { minLength, maxLength, selector: (v) => JSON.stringify(v) })
          : fc.array(element, { minLength, maxLength });
      }
      case 'string': {
        const minLength = num(schema.minLength) ?? 0;
        const maxLength = Math.min(num(schema.maxLength) ?? 64, 64);
        if (schema.pattern !== undefined && schema.pattern !== SAFE_TEXT_PATTERN)
          return fc.stringMatching(new RegExp(schema.pattern as string));
        return fc
          .string({ unit: 'binary', minLength, maxLength })
          .filter((s) => SAFE.test(s) && s.length >= minLength && s.length <= (num(schema.maxLength) ?? Infinity));
      }
      default:
        return fc.constant(null);
    }
  })();
  return own.length > 0 ? fc.oneof({ arbitrary: fc.constantFrom(...own), weight: 2 }, { arbitrary: base, weight: 1 }) : base;
}

/**
 * Values `schema` must refuse, as they would be written in a query string (`asText`) or in JSON.
 * In a query string every value is text: a wrong type there is text that is not a number.
 */
export function invalidArb(schema: Schema, where: 'query' | 'json'): fc.Arbitrary<Invalid> {
  const out: Invalid[] = [];
  const literals = literalsOf(schema);
  const add = (value: unknown, why: string) => out.push({ value, why });
  if (literals) {
    add('not-one-of-them', 'not one of the allowed values');
    add(
      String(literals[0]).toUpperCase() === String(literals[0]) ? `${String(literals[0])}x` : String(literals[0]).toUpperCase(),
      'a near miss of an allowed value',
    );
  }
  switch (typeOf(schema)) {
    case 'integer':
    case 'number': {
      const min = num(schema.minimum);
      const max = num(schema.maximum);
      if (min !== undefined) add(min - 1, 'minimum - 1');
      if (max !== undefined) add(max + 1, 'maximum + 1');
      if (typeOf(schema) === 'integer') add(1.5, 'a fraction for an integer');
      add(where === 'query' ? 'abc' : 'abc', 'text for a number');
      add(where === 'query' ? '1e400' : '1e400', 'a number too large to be finite');
      add(where === 'query' ? 'NaN' : null, where === 'query' ? 'NaN' : 'null for a number');
      // Not '' in a query string: Ajv's type coercion reads it as 0, which may well be in range.
      if (where === 'json') add([1], 'an array for a number');
      break;
    }
    case 'string': {
      const minLength = num(schema.minLength);
      const maxLength = num(schema.maxLength);
      if (minLength !== undefined && minLength > 0) add('', 'shorter than minLength');
      if (maxLength !== undefined) add('x'.repeat(maxLength + 1), 'maxLength + 1');
      add('x'.repeat(10_240), 'a 10 kB string');
      if (schema.pattern !== undefined) {
        const chars = where === 'json' ? [...CONTROL_CHARS, ...LONE_SURROGATES] : CONTROL_CHARS;
        for (const c of chars) add(`a${c}b`, `U+${c.charCodeAt(0).toString(16).padStart(4, '0')} (the pattern refuses it)`);
      }
      if (where === 'json') {
        add(42, 'a number for a string');
        add({ s: 'x' }, 'an object for a string');
        add(null, 'null for a string');
      }
      break;
    }
    case 'boolean':
      add(where === 'query' ? 'maybe' : 'true', 'text for a boolean');
      break;
    case 'array': {
      const items = (schema.items ?? {}) as Schema;
      const good = (literalsOf(items) ?? [])[0] ?? 'x';
      const minItems = num(schema.minItems);
      const maxItems = num(schema.maxItems);
      if (minItems !== undefined && minItems > 0) add([], 'fewer items than minItems');
      if (maxItems !== undefined)
        add(
          Array.from({ length: maxItems + 1 }, (_, k) => (literalsOf(items) ?? [good])[k % (literalsOf(items)?.length ?? 1)]),
          'maxItems + 1',
        );
      if (schema.uniqueItems) add([good, good], 'the same item twice');
      if (literalsOf(items)) add(['not-one-of-them'], 'an item not one of the allowed values');
      if (where === 'json') add({ a: 1 }, 'an object for an array');
      break;
    }
    case 'object':
      add('x', 'a string for an object');
      add([1], 'an array for an object');
      add(null, 'null for an object');
      break;
    default:
      break;
  }
  if (out.length === 0) throw new Error(`no invalid value known for the schema ${JSON.stringify(schema).slice(0, 200)}`);
  return fc.constantFrom(...out);
}

/** A JSON object `schema` (flat: properties of the kinds above) accepts: each optional property present or not. */
export function validObjectArb(schema: Schema, examples: Record<string, unknown[]> = {}): fc.Arbitrary<Record<string, unknown>> {
  const properties = (schema.properties ?? {}) as Record<string, Schema>;
  const required = new Set((schema.required as string[] | undefined) ?? []);
  const entries = Object.entries(properties);
  return fc.record(Object.fromEntries(entries.map(([k, s]) => [k, validArb(s, examples[k])])), {
    requiredKeys: entries.map(([k]) => k).filter((k) => required.has(k) && properties[k]!.default === undefined),
  }) as fc.Arbitrary<Record<string, unknown>>;
}

/** A JSON object `schema` must refuse: one property made invalid, an unknown property, or a required one left out. */
export function invalidObjectArb(
  schema: Schema,
  examples: Record<string, unknown[]> = {},
  where: 'query' | 'json' = 'json',
): fc.Arbitrary<Invalid<Record<string, unknown>>> {
  const properties = (schema.properties ?? {}) as Record<string, Schema>;
  const required = ((schema.required as string[] | undefined) ?? []).filter((k) => properties[k]?.default === undefined);
  const valid = validObjectArb(schema, examples);
  const options: fc.Arbitrary<Invalid<Record<string, unknown>>>[] = Object.entries(properties).map(([k, s]) =>
    fc.tuple(valid, invalidArb(s, where)).map(([obj, bad]) => ({ value: { ...obj, [k]: bad.value }, why: `${k}: ${bad.why}` })),
  );
  if (schema.additionalProperties === false)
    options.push(valid.map((obj) => ({ value: { ...obj, no_such_field: 1 }, why: 'an unknown field' })));
  for (const k of required) {
    options.push(
      valid.map((obj) => {
        const { [k]: _, ...rest } = obj;
        return { value: rest, why: `${k} left out` };
      }),
    );
  }
  return fc.oneof(...options);
}
