import Type from 'typebox';
import { SafeText } from '../schemas.ts';

const Year = (description: string) => Type.Optional(Type.Integer({ minimum: -9999, maximum: 9999, description }));
const Exact = (description: string) => Type.Optional(SafeText({ minLength: 1, maxLength: 200, description }));

/** The filters every analysis takes. */
export const filterParams = {
  year_from: Year(
    'Only landings from this year on (inclusive). A landing without a year cannot be tested and is counted in excluded.missing_year.',
  ),
  year_to: Year(
    'Only landings up to this year (inclusive). A landing without a year cannot be tested and is counted in excluded.missing_year.',
  ),
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
