/**
 * The dataset: reading NASA's CSV and the JSON shapes into columns (ingest/), writing them to
 * Redis as one hash per landing plus the column snapshot under the dataset lock (store), and
 * reading landings back (one, a page of a filtered listing, or all of them). The API, the CLI
 * and the tests use it; the worker reads only the snapshot, through @meteorites/shared.
 */
export {
  DatasetFormatError,
  EmptyDatasetError,
  formatFromName,
  MAX_ROW_BYTES,
  parseDataset,
  type InputFormat,
  type ParsedDataset,
  type ParseOptions,
  type Skipped,
} from './ingest/index.ts';
export { BulkWriteError, BulkWriter } from './ingest/bulk-writer.ts';
export { DatasetBusyError, DatasetLockLostError } from './store/lock.ts';
export { deleteDataset, storeDataset, type StoreOptions } from './store/write.ts';
export { getMeteorite, getMeteorites, getSummary, iterateMeteorites } from './store/read.ts';
export { filteredMeteorites, InvalidCursorError, queryMeteorites, type MeteoriteFilters, type MeteoriteQuery } from './meteorites.ts';
