/**
 * The settings the test suites read. The service itself reads its settings only through
 * shared/config; these are the tests' own knobs, read in this one place.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { splitCsvLine } from './source-csv.ts';

export interface TestEnv {
  /** An external Redis for the integration tests (never flushed). */
  TEST_REDIS_URL?: string;
  /** `0` skips testcontainers even where a container runtime answers. */
  TESTCONTAINERS?: string;
  /** Base URL of a running service (a compose stack, a deployment) for the end-to-end suite; unset, it starts its own. */
  E2E_API_URL?: string;
  /** Requests the property-based API test sends (test/integration/api-properties.test.ts); 360 unless set. */
  PROPERTY_RUNS?: number;
  /** Seed of the property-based API test, to replay a failure it printed; random unless set. */
  PROPERTY_SEED?: number;
  /** Seed of the randomized fault test (test/integration/faults-random.test.ts), to replay a failure it printed; random unless set. */
  FAULTS_SEED?: number;
  /** Seconds of faults the randomized fault test injects; 60 unless set. */
  FAULTS_SECONDS?: number;
  /** `1`: the dashboard's browser test also writes the screenshots README.md and docs/ show (`npm run docs:screenshots`). */
  DOCS_SCREENSHOTS?: string;
}

const integerOrUndefined = (name: string, value: string | undefined): number | undefined => {
  if (!value) return undefined;
  if (!/^-?\d+$/.test(value)) throw new Error(`${name} must be an integer, not ${JSON.stringify(value)}`);
  return Number(value);
};

export function testEnv(env: NodeJS.ProcessEnv = process.env): TestEnv {
  return {
    TEST_REDIS_URL: env.TEST_REDIS_URL || undefined,
    TESTCONTAINERS: env.TESTCONTAINERS || undefined,
    E2E_API_URL: env.E2E_API_URL || undefined,
    PROPERTY_RUNS: integerOrUndefined('PROPERTY_RUNS', env.PROPERTY_RUNS),
    PROPERTY_SEED: integerOrUndefined('PROPERTY_SEED', env.PROPERTY_SEED),
    FAULTS_SEED: integerOrUndefined('FAULTS_SEED', env.FAULTS_SEED),
    FAULTS_SECONDS: integerOrUndefined('FAULTS_SECONDS', env.FAULTS_SECONDS),
    DOCS_SCREENSHOTS: env.DOCS_SCREENSHOTS || undefined,
  };
}

/** NASA's CSV as the repository ships it. */
export const DATASET_CSV = fileURLToPath(new URL('../../data/Meteorite_Landings.csv', import.meta.url));
/** Where the course-shaped JSON derived from it is kept between runs (ignored by git). */
const DERIVED_JSON = fileURLToPath(new URL('../../.data/test/Meteorite_Landings.json', import.meta.url));

/**
 * The course's JSON shape of a NASA CSV text: `{"meteorite_landings": [...]}`, one object per row
 * with the CSV's column names as keys, every value the CSV's text, empty fields left out (the
 * course's own file is exactly this for the shipped CSV).
 */
export function courseJsonOf(csvText: string): string {
  const [header = '', ...lines] = csvText
    .replace(/^\uFEFF/, '')
    .split(/\r?\n/)
    .filter((l) => l.length > 0);
  const columns = splitCsvLine(header);
  const landings = lines.map((line) => {
    const fields = splitCsvLine(line);
    return Object.fromEntries(columns.flatMap((c, i) => (fields[i] ? [[c, fields[i]]] : [])));
  });
  return JSON.stringify({ meteorite_landings: landings }, null, 1);
}

/**
 * Paths of the full dataset: the shipped CSV and the course-shaped JSON derived from it, written
 * once (and again whenever the CSV is newer); parallel suites each rename a complete file into place.
 */
export function fullDataset(): { csv: string; json: string } {
  if (!existsSync(DERIVED_JSON) || statSync(DERIVED_JSON).mtimeMs < statSync(DATASET_CSV).mtimeMs) {
    mkdirSync(dirname(DERIVED_JSON), { recursive: true });
    const partial = `${DERIVED_JSON}.${process.pid}.partial`;
    writeFileSync(partial, courseJsonOf(readFileSync(DATASET_CSV, 'utf8')));
    renameSync(partial, DERIVED_JSON);
  }
  return { csv: DATASET_CSV, json: DERIVED_JSON };
}
