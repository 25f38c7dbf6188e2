import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    reporters: ['default', './test/support/count-reporter.ts'],
    projects: [
      {
        test: {
          name: 'unit',
          include: [
            ...['shared', 'dataset', 'charts', 'api', 'worker', 'client', 'tools'].map((w) => `${w}/src/**/*.spec.ts`),
            'api/web/**/*.spec.ts',
            'test/support/**/*.spec.ts',
            'test/*.spec.ts',
            'scripts/**/*.spec.ts',
            'bench/**/*.spec.ts',
          ],
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          // Every response a test receives is checked against openapi.json (test/support/response-check.ts).
          setupFiles: ['./test/support/response-check.setup.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
          // Suites start their own Redis servers and worker processes; two cores run two at once.
          maxWorkers: 2,
          fileParallelism: true,
          // Runs after the unit project (different maxWorkers need their own group).
          sequence: { groupOrder: 1 },
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          setupFiles: ['./test/support/response-check.setup.ts'],
          // Each file starts the whole service (Redis, API, worker) as `npm start` does, and loads the full dataset.
          testTimeout: 300_000,
          hookTimeout: 300_000,
          maxWorkers: 1,
          fileParallelism: false,
          sequence: { groupOrder: 2 },
        },
      },
    ],
  },
});
