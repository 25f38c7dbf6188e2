import { describe, expect, it } from 'vitest';
import type { FastifySchemaValidationError } from 'fastify';
import Fastify from 'fastify';
import { ClientOfflineError, TimeoutError } from 'redis';
import { DatasetLockLostError } from '@meteorites/dataset';
import { RedisTimeoutError, ServiceError, InvalidParamsError, MeteoriteId } from '@meteorites/shared';
import Type from 'typebox';
import errorsPlugin, { frameworkError, mayHoldNumbers, nonFiniteField, validationMessage } from './errors.ts';

const failure = (
  instancePath: string,
  keyword: string,
  params: Record<string, unknown>,
  message?: string,
): FastifySchemaValidationError => ({
  instancePath,
  keyword,
  params,
  message,
  schemaPath: '#',
});

describe('validationMessage', () => {
  it('names the field and where it is', () => {
    expect(
      validationMessage({
        message: 'x',
        validationContext: 'querystring',
        validation: [failure('/limit', 'maximum', { limit: 1000 }, 'must be <= 1000')],
      }),
    ).toEqual({ message: 'querystring.limit must be <= 1000', field: 'querystring.limit' });
  });

  it('says a missing field is required and an unknown one is not known', () => {
    expect(
      validationMessage({
        message: 'x',
        validationContext: 'body',
        validation: [failure('/params', 'required', { missingProperty: 'n' }, "must have required property 'n'")],
      }),
    ).toEqual({ message: 'body.params.n is required', field: 'body.params.n' });
    expect(
      validationMessage({
        message: 'x',
        validationContext: 'querystring',
        validation: [failure('', 'additionalProperties', { additionalProperty: 'colour' }, 'must NOT have additional properties')],
      }),
    ).toEqual({ message: 'querystring.colour is not a known field', field: 'querystring.colour' });
  });

  it('lists the accepted values of an enum and of a union of literals', () => {
    expect(
      validationMessage({
        message: 'x',
        validationContext: 'querystring',
        validation: [failure('/bin', 'enum', { allowedValues: [1, 10, 100] }, 'must be equal to one of the allowed values')],
      }).message,
    ).toBe('querystring.bin must be equal to one of the allowed values: 1, 10, 100');
    const union = ['a', 'b'].map((v) => failure('/status', 'const', { allowedValue: v }, 'must be equal to constant'));
    expect(
      validationMessage({
        message: 'x',
        validationContext: 'querystring',
        validation: [...union, failure('/status', 'anyOf', {}, 'must match a schema in anyOf')],
      }).message,
    ).toBe('querystring.status must be one of: a, b');
  });

  it('falls back to the whole part, then to the error message', () => {
    expect(
      validationMessage({
        message: 'x',
        validationContext: 'body',
        validation: [failure('', 'type', { type: 'object' }, 'must be object')],
      }),
    ).toEqual({ message: 'body must be object', field: undefined });
    expect(validationMessage({ message: 'plain', validation: undefined })).toEqual({ message: 'plain' });
  });
});

/** A ServiceError no table names: the handler answers it from its own fields. */
class TeapotError extends ServiceError {
  override readonly code = 'teapot';
  override readonly statusCode = 418;
  constructor() {
    super('short and stout', { retryAfter: 7, details: { spout: true } });
  }
}

/** A ServiceError left at status 500: not the client's business. */
class SecretError extends ServiceError {
  override readonly code = 'secret';
  constructor() {
    super('the password is hunter2');
  }
}

describe('the error handler', () => {
  async function app() {
    const fastify = Fastify({ frameworkErrors: frameworkError, ajv: { customOptions: { coerceTypes: 'array' } } });
    await fastify.register(errorsPlugin);
    fastify.get('/lock', async () => {
      throw new DatasetLockLostError();
    });
    fastify.get('/params', async () => {
      throw new InvalidParamsError(['params.n must be <= 1000']);
    });
    fastify.get('/teapot', async () => {
      throw new TeapotError();
    });
    fastify.get('/internal', async () => {
      throw new SecretError();
    });
    const unavailable = { stalled: new RedisTimeoutError(2000), timeout: new TimeoutError(), offline: new ClientOfflineError() };
    fastify.get('/redis/:why', async (request) => {
      throw unavailable[(request.params as { why: keyof typeof unavailable }).why];
    });
    fastify.get(
      '/items/:id',
      {
        schema: {
          params: { type: 'object', properties: { id: { type: 'string' } } },
          querystring: { type: 'object', properties: { limit: { type: 'integer', maximum: 1000 } } },
        },
      },
      async (request) => ({ query: request.query }),
    );
    return fastify;
  }

  it('answers a load that lost its lock with a 503 the client may retry', async () => {
    const res = await (await app()).inject('/lock');
    expect(res.statusCode).toBe(503);
    expect(res.headers['retry-after']).toBe('1');
    expect(res.json()).toEqual({ error: { code: 'dataset_lock_lost', message: expect.stringMatching(/lock was lost/) } });
  });

  it('answers any ServiceError from its code, status, Retry-After and details', async () => {
    const a = await app();
    const teapot = await a.inject('/teapot');
    expect(teapot.statusCode).toBe(418);
    expect(teapot.headers['retry-after']).toBe('7');
    expect(teapot.json()).toEqual({ error: { code: 'teapot', message: 'short and stout', spout: true } });
    const params = await a.inject('/params');
    expect(params.statusCode).toBe(400);
    expect(params.headers['retry-after']).toBeUndefined();
    expect(params.json()).toEqual({
      error: { code: 'invalid_params', message: 'invalid params: params.n must be <= 1000', problems: ['params.n must be <= 1000'] },
    });
  });

  it('answers a ServiceError of status 500 as internal, without its message', async () => {
    const res = await (await app()).inject('/internal');
    expect(res.statusCode).toBe(500);
    expect(res.json()).toEqual({ error: { code: 'internal', message: 'internal server error' } });
  });

  it("answers Redis not answering (a stall, node-redis' own timeout, no connection) with 503 redis_unavailable and Retry-After", async () => {
    const a = await app();
    for (const why of ['stalled', 'timeout', 'offline']) {
      const res = await a.inject(`/redis/${why}`);
      expect(res.statusCode, why).toBe(503);
      expect(res.headers['retry-after'], why).toBe('1');
      expect(res.json().error.code, why).toBe('redis_unavailable');
    }
  });

  it('refuses numbers Ajv coerced to Infinity, which slip past its range checks', async () => {
    const a = await app();
    for (const limit of ['1e400', 'Infinity', '-Infinity']) {
      const res = await a.inject(`/items/1?limit=${limit}`);
      expect(res.statusCode, limit).toBe(400);
      expect(res.json()).toEqual({
        error: { code: 'validation_failed', message: 'querystring.limit must be a finite number', field: 'querystring.limit' },
      });
    }
    expect((await a.inject('/items/1?limit=1000')).json()).toEqual({ query: { limit: 1000 } });
  });

  it('answers router errors in the same shape, without echoing the path', async () => {
    const a = await app();
    const bad = await a.inject('/items/%ZZ');
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toEqual({ error: { code: 'bad_request', message: 'the URL holds a malformed percent-escape' } });
    // Over this app's maxParamLength (Fastify's default, 100): the 400 of a malformed id, not a 414.
    const long = await a.inject(`/items/${'1'.repeat(10_000)}`);
    expect(long.statusCode).toBe(400);
    expect(long.json()).toEqual({ error: { code: 'validation_failed', message: 'a path parameter is too long' } });
  });
});

describe('nonFiniteField', () => {
  it('names the first number that is not finite, in arrays too', () => {
    expect(nonFiniteField({ a: 1, b: 'Infinity', c: [2, -Infinity] })).toBe('c');
    expect(nonFiniteField({ a: Number.NaN })).toBe('a');
    expect(nonFiniteField({ a: 1 })).toBeUndefined();
    expect(nonFiniteField(undefined)).toBeUndefined();
  });
});

describe('mayHoldNumbers', () => {
  it('finds a number or integer anywhere in a querystring or params schema, and counts a $ref as one', () => {
    expect(mayHoldNumbers(Type.Object({ limit: Type.Optional(Type.Integer()) }))).toBe(true);
    expect(mayHoldNumbers(Type.Object({ at: Type.Array(Type.Union([Type.String(), Type.Number()])) }))).toBe(true);
    expect(mayHoldNumbers({ type: ['null', 'number'] })).toBe(true);
    expect(mayHoldNumbers(Type.Object({ q: Type.Ref('Query') }))).toBe(true);
  });

  it('says no for strings only, and for no schema', () => {
    expect(mayHoldNumbers(Type.Object({ id: MeteoriteId }))).toBe(false);
    expect(mayHoldNumbers(Type.Object({ fall: Type.Optional(Type.String({ maxLength: 20 })) }))).toBe(false);
    expect(mayHoldNumbers(undefined)).toBe(false);
  });
});
