import { loadConfig, type Config } from '@meteorites/shared/config';
import { buildApp, type App } from '@meteorites/api/app';

/** The production app factory against a test Redis, quiet unless TEST_LOG_LEVEL says otherwise. */
export async function buildTestApp(redisUrl: string, overrides: Partial<Config> = {}): Promise<App> {
  const config = { ...loadConfig({ REDIS_URL: redisUrl, LOG_LEVEL: 'silent' }), ...overrides };
  return buildApp({ config });
}
