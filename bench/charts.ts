/**
 * Chart render time per analysis for the full dataset's results: vega SVG, then resvg PNG from
 * that SVG, median of 20 after 2 warm-up renders, in this process. Wall time, and the process'
 * CPU time (all threads: resvg renders on the thread pool), which other load on the machine
 * disturbs far less.
 *
 *   npx tsx bench/charts.ts
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { renderSvg, svgToPng } from '@meteorites/charts';
import { fullDatasetResults } from '../scripts/render-docs-charts.ts';

const RUNS = 20;
const WARMUP = 2;

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};
const round = (x: number) => Math.round(x * 10) / 10;

async function time<T>(fn: () => Promise<T>): Promise<{ ms: number; cpu: number; value: T }> {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const value = await fn();
  const c = process.cpuUsage(c0);
  return { ms: performance.now() - t0, cpu: (c.user + c.system) / 1000, value };
}

const rows = [];
for (const result of await fullDatasetResults()) {
  const svgMs: number[] = [];
  const pngMs: number[] = [];
  const svgCpu: number[] = [];
  const pngCpu: number[] = [];
  let svg = '';
  let png: Uint8Array = new Uint8Array();
  for (let i = 0; i < WARMUP + RUNS; i++) {
    const s = await time(() => renderSvg(result));
    const p = await time(() => svgToPng(s.value));
    if (i < WARMUP) continue;
    svgMs.push(s.ms);
    pngMs.push(p.ms);
    svgCpu.push(s.cpu);
    pngCpu.push(p.cpu);
    svg = s.value;
    png = p.value.png;
  }
  rows.push({
    analysis: result.analysis,
    params: result.params,
    svg_ms: round(median(svgMs)),
    png_ms: round(median(pngMs)),
    total_ms: round(median(svgMs.map((s, i) => s + pngMs[i]!))),
    svg_cpu_ms: round(median(svgCpu)),
    png_cpu_ms: round(median(pngCpu)),
    svg_kib: round(svg.length / 1024),
    png_kib: round(png.length / 1024),
  });
}

console.log(`median of ${RUNS} renders, full dataset\n`);
const columns = ['SVG ms', 'PNG ms', 'total ms', 'SVG cpu', 'PNG cpu', 'SVG KiB', 'PNG KiB'];
console.log(`${'chart'.padEnd(14)}${columns.map((c) => c.padStart(10)).join('')}`);
for (const r of rows) {
  const cells = [r.svg_ms, r.png_ms, r.total_ms, r.svg_cpu_ms, r.png_cpu_ms, r.svg_kib, r.png_kib];
  console.log(`${r.analysis.padEnd(14)}${cells.map((c) => String(c).padStart(10)).join('')}`);
}

mkdirSync(fileURLToPath(new URL('./results/', import.meta.url)), { recursive: true });
writeFileSync(
  fileURLToPath(new URL('./results/charts.json', import.meta.url)),
  `${JSON.stringify({ benchmark: 'charts', date: new Date().toISOString(), node: process.version, cpus: cpus().length, runs: RUNS, rows }, null, 2)}\n`,
);
console.log('wrote bench/results/charts.json');
