/**
 * The analyses a deployment offers: the real ones, plus `test-sleep` when ENABLE_TEST_ANALYSES
 * is on. Test suites need a job that is slow on purpose (to kill its worker mid-run, cancel it
 * while it runs, time it out); it lives here, beside the analyses, and never in a default deployment.
 */
import Type from 'typebox';
import { SafeText } from '../schemas.ts';
import { ServiceError } from '../errors.ts';
import { setTimeout as sleep } from 'node:timers/promises';
import { analyses, validateJobRequest, type Analysis, type AnalysisResult } from './index.ts';

const TestSleepParams = Type.Object(
  {
    steps: Type.Integer({ minimum: 1, maximum: 10_000, default: 10, description: 'Steps to sleep, with a checkpoint after each.' }),
    step_ms: Type.Integer({ minimum: 0, maximum: 60_000, default: 100, description: 'Sleep per step in ms.' }),
    fail: Type.Optional(SafeText({ maxLength: 200, description: 'After the steps, fail with this message.' })),
    tag: Type.Optional(SafeText({ maxLength: 200, description: 'Free text: distinct tags make otherwise equal requests distinct jobs.' })),
  },
  { additionalProperties: false },
);

interface TestSleepParams {
  steps: number;
  step_ms: number;
  fail?: string;
  tag?: string;
}

export class TestAnalysisFailure extends ServiceError {
  override name = 'TestAnalysisFailure';
  override readonly code = 'test_analysis_failure';
}

export const testSleep: Analysis<TestSleepParams> = {
  name: 'test-sleep',
  description: 'For tests only: sleeps `steps` × `step_ms` ms with a checkpoint after each step, then reports the record count.',
  params: TestSleepParams,
  check: () => [],
  async run(columns, params, ctx): Promise<AnalysisResult> {
    for (let i = 1; i <= params.steps; i++) {
      await sleep(params.step_ms);
      await ctx.progress(i / params.steps);
    }
    if (params.fail !== undefined) throw new TestAnalysisFailure(params.fail);
    return {
      analysis: 'test-sleep',
      params: { ...params },
      dataset_version: ctx.datasetVersion,
      computed_at: ctx.now().toISOString(),
      records: columns.length,
      matched: columns.length,
      excluded: {},
    };
  },
};

const testAnalyses: ReadonlyMap<string, Analysis> = new Map([[testSleep.name, testSleep as unknown as Analysis]]);

export interface Catalog {
  analyses: ReadonlyMap<string, Analysis>;
  /** Canonical params (defaults filled, keys sorted) or UnknownAnalysisError / InvalidParamsError. */
  validate(name: string, params: unknown): { analysis: Analysis; params: Record<string, unknown> };
}

export function catalog(opts: { enableTestAnalyses: boolean }): Catalog {
  if (!opts.enableTestAnalyses) return { analyses, validate: (name, params) => validateJobRequest(name, params) };
  // The same rules and messages for test analyses as for the real ones.
  const all: ReadonlyMap<string, Analysis> = new Map([...analyses, ...testAnalyses]);
  return { analyses: all, validate: (name, params) => validateJobRequest(name, params, all) };
}
