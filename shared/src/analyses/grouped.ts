import Type from 'typebox';
import type { Columns } from '../columns.ts';
import { checkFilters, filterParams, hasYearFilter, type Filters } from './filters.ts';
import { dimensionCodes, REASONS, type Reason } from './group-by/dimensions.ts';
import { byKey, byValueDesc, group, groupRows, labelOf, release } from './group-by/engine.ts';
import { RowMasses } from './group-by/row-masses.ts';
import { resultHead } from './result.ts';
import type { Analysis, AnalysisContext, AnalysisResult, Group } from './types.ts';

/**
 * The groups of a grouped analysis, on the group-by engine: one dimension, the seven mass
 * statistics, every group (no limit). The median of an even count is the mean of the two middle
 * masses, as these analyses have always given it (group-by's p50 interpolates, which can differ
 * in the last bit).
 */
async function grouped(
  name: string,
  columns: Columns,
  params: Filters,
  ctx: AnalysisContext,
  dimension: 'recclass' | 'fall' | 'year',
  yearBin: number,
  excluded: (count: (reason: Reason) => number) => Record<string, number>,
): Promise<AnalysisResult> {
  const dims = [dimensionCodes(columns, dimension, yearBin, 10)];
  // Min and max come from each group's sorted masses, which the median needs anyway.
  const g = await group(columns, { dims, filters: params, minMax: false }, ctx);
  try {
    const sums = g.sums;
    const ordered = new RowMasses(g, groupRows(g), 4 * g.size);
    const stat = (k: number, v: number) => (sums.withMass[k] === 0 ? null : v);
    const median = (k: number) => {
      const n = sums.withMass[k]!;
      const upper = ordered.kth(k, n >> 1);
      return n % 2 === 1 ? upper : (ordered.kth(k, (n >> 1) - 1) + upper) / 2;
    };
    const order =
      dimension === 'year'
        ? byKey(g)
        : byValueDesc(
            g,
            Float64Array.from({ length: g.size }, (_, k) => stat(k, sums.sum[k]!) ?? NaN),
          );
    const groups = Array.from(order, (k): Group => {
      const withMass = sums.withMass[k]!;
      return {
        key: labelOf(g, k, 0),
        count: sums.count[k]!,
        with_mass: withMass,
        total_mass_g: stat(k, sums.sum[k]!),
        mean_mass_g: stat(k, sums.sum[k]! / withMass),
        median_mass_g: withMass === 0 ? null : median(k),
        min_mass_g: withMass === 0 ? null : ordered.kth(k, 0),
        max_mass_g: withMass === 0 ? null : ordered.kth(k, withMass - 1),
      };
    });
    const count = (reason: Reason) => g.reasons[REASONS.indexOf(reason)]!;
    return { ...resultHead(name, params, columns, ctx, g.matched, excluded(count)), groups };
  } finally {
    release(g);
  }
}

/** Mass statistics per value of a string column; records without that value are excluded under `reason`. */
function byStringColumn(
  name: string,
  description: string,
  column: 'recclass' | 'fall',
  reason: 'missing_class' | 'missing_fall',
): Analysis<Filters> {
  return {
    name,
    description,
    params: Type.Object(filterParams, { additionalProperties: false }),
    check: checkFilters,
    run: (columns, params, ctx) =>
      grouped(name, columns, params, ctx, column, 10, (count) => {
        const excluded: Record<string, number> = { [reason]: count(reason) };
        if (hasYearFilter(params)) excluded.missing_year = count('missing_year');
        return excluded;
      }),
  };
}

export const massByClass = byStringColumn(
  'mass-by-class',
  'Count and mass statistics per meteorite class (recclass), the heaviest classes by total mass first.',
  'recclass',
  'missing_class',
);

export const massByFall = byStringColumn(
  'mass-by-fall',
  'Count and mass statistics per `fall` value (Fell: seen falling; Found), the heaviest by total mass first.',
  'fall',
  'missing_fall',
);

export interface YearParams extends Filters {
  bin: 1 | 10 | 100;
}

export const massByYear: Analysis<YearParams> = {
  name: 'mass-by-year',
  description: 'Count and mass statistics per year, decade or century of the landing, in time order (bins without landings are left out).',
  params: Type.Object(
    {
      bin: Type.Optional(
        Type.Enum([1, 10, 100], {
          default: 10,
          description:
            'Bin width in years: 1, 10 or 100. A bin starts at a multiple of its width and its key is that first year (1990 holds 1990..1999).',
        }),
      ),
      ...filterParams,
    },
    { additionalProperties: false },
  ),
  check: checkFilters,
  run: (columns, params, ctx) =>
    grouped('mass-by-year', columns, params, ctx, 'year', params.bin, (count) => ({ missing_year: count('missing_year') })),
};
