import Type from 'typebox';
import { SafeText } from '../schemas.ts';
import { codeOf, type Columns } from '../columns.ts';
import type { AnalysisContext } from './types.ts';

/** Records between two checkpoints: a few ms of work on a slow machine, so cancellation is prompt. */
const CHECKPOINT_MASK = 8191;

const Year = (description: string) => Type.Optional(Type.Integer({ minimum: -9999, maximum: 9999, description }));
const Exact = (description: string) => Type.Optional(SafeText({ minLength: 1, maxLength: 200, description }));

/** The filters every analysis takes. */
export const filterParams = {
  year_from: Year('Only landings from this year on (inclusive). A landing without a year cannot be tested and is counted in excluded.missing_year.'),
  year_to: Year('Only landings up to this year (inclusive). A landing without a year cannot be tested and is counted in excluded.missing_year.'),
  recclass: Exact('Only this class, exact and case-sensitive (e.g. "L6").'),
  fall: Exact('Only landings with this `fall` value, exact: "Fell" (seen falling) or "Found".'),
};

export interface Filters {
  year_from?: number;
  year_to?: number;
  recclass?: string;
  fall?: string;
}

export const hasYearFilter = (params: Filters): boolean => params.year_from !== undefined || params.year_to !== undefined;

export function checkFilters(params: Filters): string[] {
  const { year_from: from, year_to: to } = params;
  return from !== undefined && to !== undefined && from > to
    ? [`params.year_from (${from}) must not be greater than params.year_to (${to})`]
    : [];
}

export interface Scan {
  /** Records the filters did not rule out (visited or counted in missingYear). */
  matched: number;
  /** Records without a year while a year filter is set. */
  missingYear: number;
}

/**
 * Calls `visit` for every record passing the filters, in index order, and checkpoints every
 * 8192 records. One pass, no allocation per record.
 */
export async function scan(columns: Columns, params: Filters, ctx: AnalysisContext, visit: (i: number) => void): Promise<Scan> {
  // A value no record has matches nothing: code -1.
  const recclass = params.recclass === undefined ? undefined : codeOf(columns.recclass, params.recclass);
  const fall = params.fall === undefined ? undefined : codeOf(columns.fall, params.fall);
  const classes = columns.recclass.codes;
  const falls = columns.fall.codes;
  const yearFiltered = hasYearFilter(params);
  const from = params.year_from ?? -Infinity;
  const to = params.year_to ?? Infinity;
  const n = columns.length;
  let visited = 0;
  let missingYear = 0;
  for (let i = 0; i < n; i++) {
    if ((i & CHECKPOINT_MASK) === 0) await ctx.progress(i / n);
    if (recclass !== undefined && classes[i] !== recclass) continue;
    if (fall !== undefined && falls[i] !== fall) continue;
    if (yearFiltered) {
      const y = columns.year[i]!;
      if (Number.isNaN(y)) {
        missingYear++;
        continue;
      }
      if (y < from || y > to) continue;
    }
    visited++;
    visit(i);
  }
  return { matched: visited + missingYear, missingYear };
}
