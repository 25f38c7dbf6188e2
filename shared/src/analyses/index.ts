/**
 * The analyses the service offers: pure functions from the columnar dataset to a JSON result,
 * and the one validation of job requests that the API (400s) and the queue (dedup) rely on.
 */
import { ServiceError } from '../errors.ts';
import type { TObject } from 'typebox';
import Value from 'typebox/value';
import { Compile, type Validator } from 'typebox/compile';
import { geoGrid } from './geo-grid.ts';
import { massByClass, massByFall, massByYear } from './grouped.ts';
import { groupBy } from './group-by/index.ts';
import { heaviest } from './heaviest.ts';
import type { Analysis } from './types.ts';
import { SAFE_TEXT_PATTERN, SAFE_TEXT_RULE } from '../schemas.ts';

export { AnalysisResult, Cell, Group, GroupByRow, resultJson, type AnalysisContext, type Analysis } from './types.ts';

/** Every analysis by name, in the order GET /analyses lists them. */
export const analyses: ReadonlyMap<string, Analysis> = new Map(
  // Each takes its own params type; validateJobRequest guarantees a run only ever gets its own.
  ([massByClass, massByYear, massByFall, heaviest, geoGrid, groupBy] as unknown as Analysis[]).map((a) => [a.name, a]),
);

export class UnknownAnalysisError extends ServiceError {
  override name = 'UnknownAnalysisError';
  override readonly code = 'unknown_analysis';
  override readonly statusCode = 400;
  constructor(
    readonly analysis: string,
    known: Iterable<string> = analyses.keys(),
  ) {
    super(`unknown analysis ${JSON.stringify(analysis)}; the analyses are ${[...known].join(', ')}`);
  }
}

export class InvalidParamsError extends ServiceError {
  override name = 'InvalidParamsError';
  override readonly code = 'invalid_params';
  override readonly statusCode = 400;
  constructor(readonly problems: string[]) {
    super(`invalid params: ${problems.join('; ')}`, { details: { problems } });
  }
}

const article = (type: string) => (/^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`);

/**
 * Each schema compiled once: every job is validated twice (POST /jobs, then the worker), and the
 * compiled check is far cheaper than walking Value.Errors, which only a bad request needs.
 */
const validators = new WeakMap<TObject, Validator>();
function validator(schema: TObject): Validator {
  let v = validators.get(schema);
  if (!v) validators.set(schema, (v = Compile(schema)));
  return v;
}

/** Schema errors as sentences naming the param ("params.n must be <= 1000"). */
function schemaProblems(analysis: Analysis, schema: TObject, params: Record<string, unknown>): string[] {
  if (validator(schema).Check(params)) return [];
  const problems: string[] = [];
  for (const error of Value.Errors(schema, params)) {
    const name = error.instancePath.slice(1);
    const value = params[name];
    switch (error.keyword) {
      case 'additionalProperties':
        for (const extra of (error.params as { additionalProperties: string[] }).additionalProperties) {
          problems.push(
            `params.${extra} is not a parameter of ${analysis.name} (its parameters: ${Object.keys(schema.properties).join(', ')})`,
          );
        }
        break;
      case 'boolean': // the per-property twin of additionalProperties, reported above
        break;
      case 'required':
        for (const missing of (error.params as { requiredProperties: string[] }).requiredProperties)
          problems.push(`params.${missing} is required`);
        break;
      case 'pattern':
        problems.push(
          (error.params as { pattern?: string }).pattern === SAFE_TEXT_PATTERN
            ? `params.${name} ${SAFE_TEXT_RULE}`
            : `params.${name} ${error.message}`,
        );
        break;
      case 'enum':
        problems.push(`params.${name} must be one of ${(error.params as { allowedValues: unknown[] }).allowedValues.join(', ')}`);
        break;
      case 'type': {
        const expected = (error.params as { type: string }).type;
        const numeric = typeof value === 'number' && (expected === 'integer' || expected === 'number');
        const got = numeric ? String(value) : value === null ? 'null' : article(typeof value);
        problems.push(`params.${name} must be ${numeric && !Number.isFinite(value) ? 'a finite number' : article(expected)}, not ${got}`);
        break;
      }
      default:
        problems.push(`params.${name} ${error.message}`);
    }
  }
  return problems;
}

/**
 * Validates a job request. Fills defaults and refuses unknown analyses, unknown params,
 * out-of-range values (never clamps) and an inverted year range. The returned params are
 * canonical (defaults filled, keys sorted), so equivalent requests give identical params and
 * identical JSON: the queue dedups on them. `registry` lets a deployment offer more analyses
 * (test-only ones) under the same rules.
 */
export function validateJobRequest(
  name: string,
  params: unknown,
  registry: ReadonlyMap<string, Analysis> = analyses,
): { analysis: Analysis; params: Record<string, unknown> } {
  const analysis = registry.get(name);
  if (!analysis) throw new UnknownAnalysisError(name, registry.keys());
  const given = params ?? {};
  if (typeof given !== 'object' || Array.isArray(given)) throw new InvalidParamsError(['params must be an object']);
  // A shallow copy is enough (params are flat, Value.Default fills only the top level), and a deep
  // clone of a hostile value nested 10,000 levels overflows the stack.
  const copy = analysis.coerce ? analysis.coerce({ ...given }) : { ...given };
  const filled = Value.Default(analysis.params, copy) as Record<string, unknown>;
  const problems = schemaProblems(analysis, analysis.params, filled);
  if (problems.length === 0) problems.push(...(analysis.check?.(filled) ?? []));
  if (problems.length > 0) throw new InvalidParamsError(problems);
  return {
    analysis,
    params: Object.fromEntries(
      Object.keys(filled)
        .sort()
        .map((k) => [k, filled[k]]),
    ),
  };
}
