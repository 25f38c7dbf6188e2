import Type from 'typebox';
import type { Columns } from '../columns.ts';
import { checkFilters, filterParams, hasYearFilter, scan, type Filters } from './filters.ts';
import { byKey, byTotalMassDesc, GroupAccumulator } from './groups.ts';
import { resultHead } from './result.ts';
import type { Analysis } from './types.ts';

/** Mass statistics per value of a string column; records without that value are excluded under `reason`. */
function byStringColumn(name: string, description: string, column: 'recclass' | 'fall', reason: string): Analysis<Filters> {
  return {
    name,
    description,
    params: Type.Object(filterParams, { additionalProperties: false }),
    check: checkFilters,
    async run(columns, params, ctx) {
      const acc = new GroupAccumulator<string>(columns);
      const { codes, values } = columns[column];
      // The group of each code, -1 until its first record: no key lookup per record.
      const groupOf = new Int32Array(values.length).fill(-1);
      let missing = 0;
      const { matched, missingYear } = await scan(columns, params, ctx, (i) => {
        const code = codes[i]!;
        if (code === 0) missing++;
        else acc.addTo(i, groupOf[code]! >= 0 ? groupOf[code]! : (groupOf[code] = acc.group(values[code]!)));
      });
      const excluded: Record<string, number> = { [reason]: missing };
      if (hasYearFilter(params)) excluded.missing_year = missingYear;
      return { ...resultHead(name, params, columns, ctx, matched, excluded), groups: acc.groups().sort(byTotalMassDesc) };
    },
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
          description: 'Bin width in years: 1, 10 or 100. A bin starts at a multiple of its width and its key is that first year (1990 holds 1990..1999).',
        }),
      ),
      ...filterParams,
    },
    { additionalProperties: false },
  ),
  check: checkFilters,
  async run(columns: Columns, params, ctx) {
    const acc = new GroupAccumulator<number>(columns);
    const { bin } = params;
    const years = columns.year;
    let missing = 0;
    const { matched, missingYear } = await scan(columns, params, ctx, (i) => {
      const y = years[i]!;
      if (Number.isNaN(y)) missing++;
      else acc.add(i, Math.floor(y / bin) * bin);
    });
    const excluded = { missing_year: missing + missingYear };
    return { ...resultHead('mass-by-year', params, columns, ctx, matched, excluded), groups: acc.groups().sort(byKey) };
  },
};
