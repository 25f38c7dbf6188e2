/** The loader's error classes and the per-record skip report, shared by every parser. */
import { ServiceError } from '@meteorites/shared';

/** A record left out of a load, and why. `index` is its 0-based position in the input. */
export interface Skipped {
  index: number;
  id: string | null;
  reason: string;
}

/** The input cannot be read as a dataset at all: broken JSON/CSV syntax, a wrong header, an unknown shape. */
export class DatasetFormatError extends ServiceError {
  override name = 'DatasetFormatError';
  override readonly code = 'invalid_dataset';
  override readonly statusCode = 400;
}

/** The input parsed, but not one record in it is usable; nothing is written. */
export class EmptyDatasetError extends ServiceError {
  override name = 'EmptyDatasetError';
  override readonly code = 'empty_dataset';
  override readonly statusCode = 400;
  constructor(readonly skipped: Skipped[] = []) {
    super(
      skipped.length === 0
        ? 'the input holds no record'
        : `the input holds no usable record (${skipped.length} skipped, e.g. record ${skipped[0]!.index}: ${skipped[0]!.reason})`,
    );
  }
}
