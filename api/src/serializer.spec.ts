import { describe, expect, it } from 'vitest';
import { SerializerSelector } from '@fastify/fast-json-stringify-compiler';
import Type from 'typebox';
import { DatasetSummary, Job, Meteorite } from '@meteorites/shared';
import { buildSerializer, nullableAsTypeList } from './serializer.ts';

const external = { Meteorite, DatasetSummary, Job };
const route = (schema: unknown) => ({ method: 'GET', url: '/x', httpStatus: '200', schema });
const ours = (schema: unknown) => buildSerializer(external)(route(schema));
const fastifyDefault = (schema: unknown) => SerializerSelector()(external)(route(schema));

const landing = {
  id: '1',
  name: 'Aachen',
  nametype: 'Valid',
  recclass: 'L5',
  mass_g: 21,
  fall: 'Fell',
  year: 1880,
  reclat: 50.775,
  reclong: 6.08333,
  class_type: 'Chondrite',
  class_group: 'L',
};
const bare = {
  ...landing,
  nametype: null,
  recclass: null,
  mass_g: null,
  fall: null,
  year: null,
  reclat: null,
  reclong: null,
  class_type: null,
  class_group: null,
};

describe('nullableAsTypeList', () => {
  it('turns a nullable primitive into a type list, keeping its constraints and the union’s own keywords', () => {
    const schema = Type.Union([Type.Number({ minimum: 0 }), Type.Null()], { description: 'grams' });
    expect(nullableAsTypeList(schema)).toEqual({ description: 'grams', type: ['number', 'null'], minimum: 0 });
    expect(nullableAsTypeList(Type.Union([Type.Null(), Type.String()]))).toEqual({ type: ['string', 'null'] });
  });

  it('leaves other unions, and the schema it was given, alone', () => {
    const object = Type.Union([Type.Object({ a: Type.String() }), Type.Null()]);
    const literals = Type.Union([Type.Literal('a'), Type.Null()]);
    const three = Type.Union([Type.String(), Type.Number(), Type.Null()]);
    for (const schema of [object, literals, three]) expect(nullableAsTypeList(schema)).toEqual(JSON.parse(JSON.stringify(schema)));
    const nested = Type.Object({ year: Type.Union([Type.Integer(), Type.Null()]) });
    expect(nullableAsTypeList(nested).properties.year).toEqual({ type: ['integer', 'null'] });
    expect(nested.properties.year).toHaveProperty('anyOf');
  });
});

describe('buildSerializer', () => {
  it('writes a landing as JSON.stringify does, through a $ref, with and without missing values', () => {
    const serialize = ours(Type.Ref('Meteorite'));
    for (const m of [landing, bare, { ...landing, reclong: 354.47333, year: -1, mass_g: 0 }]) {
      expect(serialize(m)).toBe(JSON.stringify(m));
      expect(serialize(m)).toBe(fastifyDefault(Type.Ref('Meteorite'))(m));
    }
  });

  it('still refuses a value of the wrong type, as the default serializer does', () => {
    for (const serialize of [ours(Type.Ref('Meteorite')), fastifyDefault(Type.Ref('Meteorite'))]) {
      expect(() => serialize({ ...landing, mass_g: 'heavy' })).toThrow();
      expect(() => serialize({ ...landing, year: 1880.5 })).toThrow();
    }
  });

  it('gives the same output as the default for the other shared schemas', () => {
    const empty = { version: 3, state: 'empty', records: 0, loaded_at: null, source: null };
    const loaded = { version: 4, state: 'ready', records: 10, loaded_at: '2026-11-27T03:00:00.000Z', source: 'sample.json' };
    for (const summary of [empty, loaded]) {
      expect(ours(Type.Ref('DatasetSummary'))(summary)).toBe(fastifyDefault(Type.Ref('DatasetSummary'))(summary));
    }
    const page = Type.Object({ items: Type.Array(Type.Ref('Meteorite')), next_cursor: Type.Union([Type.String(), Type.Null()]) });
    const body = { items: [landing, bare], next_cursor: null };
    expect(ours(page)(body)).toBe(JSON.stringify(body));
    expect(ours(page)({ ...body, next_cursor: 'abc' })).toBe(fastifyDefault(page)({ ...body, next_cursor: 'abc' }));
  });
});
