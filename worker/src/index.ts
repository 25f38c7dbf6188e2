/** The worker as a library, for the tests and the benchmarks (the process itself starts from main.ts). */
export { Worker, type JobHandler, type JobOutput, type JobRun, type WorkerOptions } from './worker.ts';
