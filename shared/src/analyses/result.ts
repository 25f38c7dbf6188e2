import type { Columns } from '../columns.ts';
import type { AnalysisContext, AnalysisResult } from './types.ts';

/** The fields every result starts with. */
export function resultHead(
  analysis: string,
  params: object,
  columns: Columns,
  ctx: AnalysisContext,
  matched: number,
  excluded: Record<string, number>,
): AnalysisResult {
  return {
    analysis,
    params: { ...params },
    dataset_version: ctx.datasetVersion,
    computed_at: ctx.now().toISOString(),
    records: columns.length,
    matched,
    excluded,
  };
}
