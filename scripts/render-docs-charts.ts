/**
 * Renders the chart of every analysis, run on the full dataset, to docs/charts/<analysis>.png
 * (the images README.md and docs/architecture.md show).
 *
 *   npx tsx scripts/render-docs-charts.ts
 */
import { createReadStream, mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { analyses, validateJobRequest, type AnalysisResult } from '@meteorites/shared';
import { renderChart } from '@meteorites/charts';
import { parseDataset } from '@meteorites/dataset';
import { fullDataset } from '@meteorites/test-utils/env';

/**
 * Defaults, except a finer grid (at 10° the map is a mosaic, at 2° it shows where the finds are)
 * and a group-by of total mass per class type, the classification's one-picture summary.
 */
const PARAMS: Record<string, Record<string, unknown>> = {
  'geo-grid': { cell_deg: 2 },
  'group-by': { by: ['class_type'], measures: ['total_mass_g', 'count', 'median_mass_g'], sort: 'total_mass_g' },
};

/** Every analysis' result on the full dataset, in the registry's order. */
export async function fullDatasetResults(): Promise<AnalysisResult[]> {
  const { columns } = await parseDataset(createReadStream(fullDataset().csv), 'csv');
  const ctx = { datasetVersion: 1, progress: async () => {}, now: () => new Date() };
  const results: AnalysisResult[] = [];
  for (const name of analyses.keys()) {
    const { analysis, params } = validateJobRequest(name, PARAMS[name] ?? {});
    results.push(await analysis.run(columns, params, ctx));
  }
  return results;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const dir = fileURLToPath(new URL('../docs/charts/', import.meta.url));
  mkdirSync(dir, { recursive: true });
  for (const result of await fullDatasetResults()) {
    const chart = await renderChart(result);
    writeFileSync(`${dir}${result.analysis}.png`, chart.png);
    console.log(`docs/charts/${result.analysis}.png  ${chart.width}×${chart.height}  ${(chart.png.length / 1024).toFixed(0)} KiB`);
  }
}
