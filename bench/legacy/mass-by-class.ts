/**
 * mass-by-class as it ran before the group-by engine (a callback per record, a GroupAccumulator,
 * quickselect medians): the baseline of bench/analysis.ts. Same result, so the bench can check it.
 */
import { type AnalysisContext, type AnalysisResult, type Filters, resultHead, codeOf, type Columns } from '@meteorites/shared';
import { byTotalMassDesc, GroupAccumulator } from './groups.ts';

const CHECKPOINT_MASK = 8191;

async function scan(columns: Columns, params: Filters, ctx: AnalysisContext, visit: (i: number) => void) {
  const recclass = params.recclass === undefined ? undefined : codeOf(columns.recclass, params.recclass);
  const fall = params.fall === undefined ? undefined : codeOf(columns.fall, params.fall);
  const classes = columns.recclass.codes;
  const falls = columns.fall.codes;
  const yearFiltered = params.year_from !== undefined || params.year_to !== undefined;
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

export async function legacyMassByClass(columns: Columns, params: Filters, ctx: AnalysisContext): Promise<AnalysisResult> {
  const acc = new GroupAccumulator<string>(columns);
  const { codes, values } = columns.recclass;
  const groupOf = new Int32Array(values.length).fill(-1);
  let missing = 0;
  const { matched, missingYear } = await scan(columns, params, ctx, (i) => {
    const code = codes[i]!;
    if (code === 0) missing++;
    else acc.addTo(i, groupOf[code]! >= 0 ? groupOf[code]! : (groupOf[code] = acc.group(values[code]!)));
  });
  const excluded: Record<string, number> = { missing_class: missing };
  if (params.year_from !== undefined || params.year_to !== undefined) excluded.missing_year = missingYear;
  return { ...resultHead('mass-by-class', params, columns, ctx, matched, excluded), groups: acc.groups().sort(byTotalMassDesc) };
}
