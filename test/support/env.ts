/**
 * The settings the test suites read. The service itself reads its settings only through
 * shared/config; these are the tests' own knobs, read in this one place.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';

export interface TestEnv {
  /** An external Redis for the integration tests (never flushed). */
  TEST_REDIS_URL?: string;
  /** `0` skips testcontainers even where a container runtime answers. */
  TESTCONTAINERS?: string;
  /** Folder holding Meteorite_Landings.csv and .json (the full dataset). */
  METEORITE_DATA_DIR: string;
  /** Base URL of a running service (a compose stack, a deployment) for the end-to-end suite; unset, it starts its own. */
  E2E_API_URL?: string;
}

export function testEnv(env: NodeJS.ProcessEnv = process.env): TestEnv {
  return {
    TEST_REDIS_URL: env.TEST_REDIS_URL || undefined,
    TESTCONTAINERS: env.TESTCONTAINERS || undefined,
    METEORITE_DATA_DIR: resolve(env.METEORITE_DATA_DIR || '../shared/data'),
    E2E_API_URL: env.E2E_API_URL || undefined,
  };
}

/** Paths of the full dataset files; tests that need them fail with a clear message when absent. */
export function fullDataset(): { csv: string; json: string } {
  const dir = testEnv().METEORITE_DATA_DIR;
  const csv = resolve(dir, 'Meteorite_Landings.csv');
  const json = resolve(dir, 'Meteorite_Landings.json');
  if (!existsSync(csv) || !existsSync(json)) {
    throw new Error(`the full dataset is not at ${dir}: set METEORITE_DATA_DIR to the folder holding Meteorite_Landings.csv/.json`);
  }
  return { csv, json };
}
