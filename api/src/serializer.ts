/**
 * Response serializers: fast-json-stringify, compiled by Fastify's own compiler from each route's
 * response schema, except that a nullable primitive (TypeBox's `Union([T, Null()])`, an `anyOf`)
 * reaches it as a type list (`type: [T, 'null']`). For an `anyOf`, fast-json-stringify picks the
 * branch by running an Ajv validator on the value at every response; for a type list, a `null`
 * and `typeof` test. A landing has seven nullable fields, so this was most of its serialization.
 * The output is the same for every value the schema allows. Request validation and the OpenAPI
 * document keep the schemas as declared.
 */
import { SerializerSelector, type SerializerFactory } from '@fastify/fast-json-stringify-compiler';

const PRIMITIVES = new Set(['string', 'number', 'integer', 'boolean']);
/** Keywords that make a branch more than a primitive type with its constraints (an `enum` beside a `type` is a constraint). */
const COMPOSITE = ['anyOf', 'oneOf', 'allOf', 'not', '$ref', 'if', 'const'];

type Schema = Record<string, unknown>;

const isObject = (v: unknown): v is Schema => typeof v === 'object' && v !== null && !Array.isArray(v);
const isNull = (s: unknown) => isObject(s) && s.type === 'null' && Object.keys(s).length === 1;
const isPrimitive = (s: unknown): s is Schema =>
  isObject(s) && typeof s.type === 'string' && PRIMITIVES.has(s.type) && !COMPOSITE.some((k) => k in s);

/** A copy of `schema` where every `anyOf: [primitive, null]` (either order) is `type: [primitive, 'null']`. */
export function nullableAsTypeList<T>(schema: T): T {
  if (Array.isArray(schema)) return schema.map(nullableAsTypeList) as T;
  if (!isObject(schema)) return schema;
  const out: Schema = {};
  for (const [key, value] of Object.entries(schema)) out[key] = nullableAsTypeList(value);
  const branches = out.anyOf;
  if (Array.isArray(branches) && branches.length === 2) {
    const value = branches.find(isPrimitive);
    if (value && branches.some(isNull)) {
      const { anyOf: _, ...siblings } = out;
      return { ...siblings, ...value, type: [value.type, 'null'] } as T;
    }
  }
  return out as T;
}

const fastJsonStringify = SerializerSelector();

/** Fastify's `schemaController.compilersFactory.buildSerializer`: its default, fed the rewritten schemas. */
export const buildSerializer: SerializerFactory = (externalSchemas, options) => {
  const compile = fastJsonStringify(nullableAsTypeList(externalSchemas), options);
  return (route) => compile({ ...route, schema: nullableAsTypeList(route.schema) });
};
