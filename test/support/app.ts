import { loadConfig, type Config } from '@meteorites/shared';
import { buildApp, type App } from '@meteorites/api';
import { addResponseCheck } from './response-check.ts';

export interface TestAppOptions {
  /** false leaves out the check of every response against openapi.json (response-check.ts); only for a test of the check itself. */
  checkResponses?: boolean;
}

/**
 * The production app factory against a test Redis, quiet unless TEST_LOG_LEVEL says otherwise,
 * with every response checked against openapi.json: a response that drifts from the document
 * fails the test that received it (response-check.setup.ts).
 */
export async function buildTestApp(redisUrl: string, overrides: Partial<Config> = {}, opts: TestAppOptions = {}): Promise<App> {
  const config = { ...loadConfig({ REDIS_URL: redisUrl, LOG_LEVEL: 'silent' }), ...overrides };
  return buildApp({ config, prepare: opts.checkResponses === false ? undefined : addResponseCheck });
}
