/**
 * `npm run bench`: runs every benchmark in turn (or those named: `npm run bench -- load api`).
 * Each one starts what it measures, prints a table with its ratios and writes bench/results/<name>.json.
 * `scale` and `workers` run only when named (`npm run bench -- scale workers`): together they take
 * about ten minutes and, at a million records, a gigabyte or two of memory and disk.
 * Afterwards, and alone with `--report`, it rewrites the figures in bench/README.md from the JSON.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { writeReport } from './report.ts';

const all = ['load', 'api', 'queue', 'analysis', 'charts', 'group-by', 'events'];
/** Known, but too long for the default run. */
const onlyWhenNamed = ['scale', 'workers', 'csv-lines', 'worker-cpu'];
const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const names = wanted.length > 0 ? wanted : all;
const failed: string[] = [];

if (process.argv.includes('--report')) {
  writeReport();
  process.exit(0);
}

for (const name of names) {
  const file = fileURLToPath(new URL(`./${name}.ts`, import.meta.url));
  if (!existsSync(file)) {
    console.error(`no benchmark bench/${name}.ts`);
    failed.push(name);
    continue;
  }
  console.log(`\n=== bench/${name}.ts ===`);
  const run = spawnSync(process.execPath, ['--import', 'tsx', file], { stdio: 'inherit' });
  if (run.status !== 0) failed.push(name);
}
if (wanted.length === 0) console.log(`\nnot run by default: ${onlyWhenNamed.join(', ')} (npm run bench -- ${onlyWhenNamed.join(' ')})`);
// The README's table follows whatever the runs wrote, so a fresh run never leaves it stale.
writeReport();
if (failed.length > 0) {
  console.error(`\nfailed: ${failed.join(', ')}`);
  process.exit(1);
}
