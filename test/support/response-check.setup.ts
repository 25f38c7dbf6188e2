/**
 * Setup file of the integration and end-to-end projects (vitest.config.ts): a test after which a
 * response that breaks openapi.json is pending fails, naming it (see response-check.ts).
 */
import { afterAll, afterEach } from 'vitest';
import { ResponseDriftError, takeViolations } from './response-check.ts';

function report(): void {
  const violations = takeViolations();
  if (violations.length > 0) throw new ResponseDriftError(violations);
}

afterEach(report);
// Responses received in afterAll hooks (or in a beforeAll of a file whose tests were all skipped).
afterAll(report);
