/**
 * The worker's job handler: runs an analysis on the in-memory snapshot of the current dataset
 * version (cached per version, so repeated jobs do not re-read Redis).
 */
import { ServiceError, type Redis, DatasetNotReadyError, SnapshotCache, type Catalog, resultJson, DeferJobError } from '@meteorites/shared';
import type { JobHandler } from './worker.ts';

/** While the dataset is loading a job waits this long before it is tried again. */
export const DATASET_LOADING_DELAY_MS = 500;

export class UnknownJobAnalysisError extends ServiceError {
  override name = 'UnknownJobAnalysisError';
  override readonly code = 'unknown_analysis';
  constructor(analysis: string) {
    super(`this worker does not offer the analysis ${JSON.stringify(analysis)}`);
  }
}

export function analysisHandler(redis: Redis, analyses: Catalog): JobHandler {
  const snapshots = new SnapshotCache(redis);
  return async (run) => {
    const analysis = analyses.analyses.get(run.job.analysis);
    if (!analysis) throw new UnknownJobAnalysisError(run.job.analysis);
    const { params } = analyses.validate(run.job.analysis, run.job.params);
    // The claim read the dataset's status: no round trip for it when it names the snapshot kept.
    const claimed = run.job.dataset;
    let snapshot;
    try {
      snapshot = await snapshots.current(claimed);
    } catch (err) {
      if (err instanceof DatasetNotReadyError) throw new DeferJobError('the dataset is loading', DATASET_LOADING_DELAY_MS);
      throw err;
    }
    // The claim (or the start of a held job) recorded the version it found; a newer one is written now.
    if (!claimed || claimed.state === 'loading' || claimed.version !== snapshot.version) await run.begin(snapshot.version);
    const json = await resultJson(analysis, snapshot.columns, params, {
      datasetVersion: snapshot.version,
      progress: (p) => run.progress(p),
      now: () => new Date(),
    });
    // Bytes: node-redis writes a Buffer as it is, where a string is measured, copied and encoded.
    return { result: Buffer.from(json), datasetVersion: snapshot.version, datasetGeneration: snapshot.generation };
  };
}
