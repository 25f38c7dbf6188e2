/**
 * TypeBox schemas shared by the API (validation and OpenAPI), the worker and the tests.
 * Analysis params and results live beside the analyses in shared/src/analyses/.
 */
import Type, { type Static } from 'typebox';
import { CLASS_TYPES } from './analyses/classification.ts';
import { JOB_ID_PATTERN, METEORITE_ID_PATTERN } from './keys.ts';

/**
 * What every free-text string a client sends (query and path params, body fields, analysis
 * params) must match: no C0 or C1 control characters or DEL, no lone surrogate, no non-character
 * of the BMP (U+FDD0–U+FDEF, U+FFFE, U+FFFF). XML cannot hold most of them (a chart's title
 * repeats the filters), no landing's text needs any, and they make logs and keys ambiguous.
 * A surrogate pair is accepted as one character whether the pattern is compiled with the `u`
 * flag (Ajv, TypeBox) or without it.
 */
export const SAFE_TEXT_PATTERN =
  '^(?:[^\\u0000-\\u001F\\u007F-\\u009F\\uD800-\\uDFFF\\uFDD0-\\uFDEF\\uFFFE\\uFFFF]|[\\uD800-\\uDBFF][\\uDC00-\\uDFFF])*$';
/** How a refusal by SAFE_TEXT_PATTERN reads, after the field's name. */
export const SAFE_TEXT_RULE =
  'must not hold control characters, lone surrogates or non-characters (U+0000–U+001F, U+007F–U+009F, U+FFFE, ...)';

/** A string a client sends: SAFE_TEXT_PATTERN, with the caller's length limits and description. */
export const SafeText = (options: Omit<Parameters<typeof Type.String>[0] & object, 'pattern'> = {}) =>
  Type.String({ ...options, pattern: SAFE_TEXT_PATTERN });

export const MeteoriteId = Type.String({
  pattern: METEORITE_ID_PATTERN,
  description: 'A landing id: a non-negative integer of at most 15 digits.',
  examples: ['1'],
});

export const JobId = Type.String({ pattern: JOB_ID_PATTERN, description: 'A job id (UUID).' });

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(schema: T) => Type.Union([schema, Type.Null()]);

/** One landing as the API answers it: numbers are numbers, missing values are null. */
export const Meteorite = Type.Object(
  {
    id: MeteoriteId,
    name: Type.String(),
    nametype: Nullable(Type.String()),
    recclass: Nullable(Type.String()),
    mass_g: Nullable(Type.Number({ minimum: 0 })),
    fall: Nullable(Type.String()),
    year: Nullable(Type.Integer()),
    reclat: Nullable(Type.Number({ minimum: -90, maximum: 90 })),
    reclong: Nullable(
      Type.Number({ minimum: -360, maximum: 360, description: 'Degrees east, as the source gives them (-180..180, or 0..360 east).' }),
    ),
    class_type: Nullable(
      // A typed enum (not Type.Enum's bare one), so the serializer writes it as the string it is.
      Type.Unsafe<(typeof CLASS_TYPES)[number]>({
        type: 'string',
        enum: [...CLASS_TYPES],
        description: 'Derived from `recclass` (docs/classification.md); null when the class is missing.',
      }),
    ),
    class_group: Nullable(
      Type.String({
        description:
          'The group within the class type, derived from `recclass`, e.g. `H`, `CM`, `IIIAB`, `Eucrite`; null when the class is missing.',
      }),
    ),
  },
  { $id: 'Meteorite', additionalProperties: false },
);
export type Meteorite = Static<typeof Meteorite>;

export const DatasetState = Type.Union([Type.Literal('empty'), Type.Literal('loading'), Type.Literal('ready')]);
export type DatasetState = Static<typeof DatasetState>;

export const DatasetSummary = Type.Object(
  {
    version: Type.Integer({ minimum: 0, description: 'Increments on every load and delete.' }),
    state: DatasetState,
    records: Type.Integer({ minimum: 0 }),
    loaded_at: Nullable(Type.String({ format: 'date-time' })),
    source: Nullable(Type.String({ description: 'What was loaded: a file name, or the request content type.' })),
  },
  { $id: 'DatasetSummary' },
);
export type DatasetSummary = Static<typeof DatasetSummary>;

export const JobStatus = Type.Enum(['queued', 'running', 'finished', 'failed', 'cancelled']);
export type JobStatus = Static<typeof JobStatus>;
export const ENDED_STATUSES: readonly JobStatus[] = ['finished', 'failed', 'cancelled'];

export const Job = Type.Object(
  {
    id: JobId,
    analysis: Type.String(),
    params: Type.Record(Type.String(), Type.Unknown()),
    status: JobStatus,
    progress: Type.Number({ minimum: 0, maximum: 1 }),
    attempts: Type.Integer({
      minimum: 0,
      description:
        'Runs started. A run handed back by a worker shutting down gracefully, or deferred while the dataset loads, does not count.',
    }),
    dataset_version: Nullable(
      Type.Integer({ minimum: 0, description: 'The dataset version the job runs or ran on; null before it starts.' }),
    ),
    created_at: Type.String({ format: 'date-time' }),
    started_at: Nullable(Type.String({ format: 'date-time' })),
    finished_at: Nullable(Type.String({ format: 'date-time' })),
    error: Nullable(Type.String()),
    cancel_requested: Type.Boolean({ description: 'DELETE asked a running job to stop; it ends `cancelled` at its next checkpoint.' }),
  },
  { $id: 'Job' },
);
export type Job = Static<typeof Job>;

/** Every error the API answers: `{"error": {"code", "message", ...}}`. */
export const ErrorBody = Type.Object(
  {
    error: Type.Object(
      {
        code: Type.String({ description: 'A stable machine-readable code, e.g. `not_found`.' }),
        message: Type.String(),
      },
      { additionalProperties: true },
    ),
  },
  { $id: 'Error' },
);
export type ErrorBody = Static<typeof ErrorBody>;
