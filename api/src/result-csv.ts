/**
 * A result's table as CSV, for spreadsheets and notebooks: the rows of `groups`, `items` or
 * `cells`, header first, one column per field, null as an empty field. The header comes from the
 * analysis (not from the first row), so an empty result still says what its columns are.
 */
import type { AnalysisResult } from '@meteorites/shared';
import { csvField } from './nasa-csv.ts';

const GROUP = ['key', 'count', 'with_mass', 'total_mass_g', 'mean_mass_g', 'median_mass_g', 'min_mass_g', 'max_mass_g'];
const LANDING = ['name', 'id', 'nametype', 'recclass', 'mass_g', 'fall', 'year', 'reclat', 'reclong', 'class_type', 'class_group'];
const CELL = ['lat', 'lon', 'count'];

type Row = Record<string, string | number | null>;

/** The table a result holds: its columns and rows. */
export function resultTable(result: AnalysisResult): { columns: string[]; rows: Row[] } {
  if (result.cells) return { columns: CELL, rows: result.cells as unknown as Row[] };
  if (result.items) return { columns: LANDING, rows: result.items as unknown as Row[] };
  const rows = (result.groups ?? []) as unknown as Row[];
  const p = result.params as { by?: string[]; measures?: string[] };
  return { columns: result.analysis === 'group-by' ? [...(p.by ?? []), ...(p.measures ?? [])] : GROUP, rows };
}

export function resultCsv(result: AnalysisResult): string {
  const { columns, rows } = resultTable(result);
  const lines = [columns.map(csvField).join(',')];
  for (const row of rows) lines.push(columns.map((c) => csvField(row[c] ?? null)).join(','));
  return `${lines.join('\n')}\n`;
}
