/**
 * The configuration table in README.md, generated from the config schema so the two never
 * disagree. `npm run docs:config` rewrites it; `configTable()` is what the README test compares.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ConfigSchema } from '@meteorites/shared/config';

const START = '<!-- config-table:start -->';
const END = '<!-- config-table:end -->';
export const readmePath = fileURLToPath(new URL('../README.md', import.meta.url));

export function configTable(): string {
  const rows = Object.entries(ConfigSchema.properties).map(([name, schema]) => {
    const s = schema as { default?: unknown; description?: string };
    const dflt = s.default === undefined ? '(unset)' : `\`${String(s.default)}\``;
    return `| \`${name}\` | ${dflt} | ${(s.description ?? '').replace(/\|/g, '\\|')} |`;
  });
  return ['| variable | default | meaning |', '|---|---|---|', ...rows].join('\n');
}

/** The README with its table section replaced by a fresh one. */
export function withFreshTable(readme: string): string {
  const start = readme.indexOf(START);
  const end = readme.indexOf(END);
  if (start < 0 || end < start) throw new Error(`README.md lacks the ${START} ... ${END} markers`);
  return `${readme.slice(0, start + START.length)}\n${configTable()}\n${readme.slice(end)}`;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeFileSync(readmePath, withFreshTable(readFileSync(readmePath, 'utf8')));
  console.log('README.md configuration table updated');
}
