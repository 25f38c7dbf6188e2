/**
 * The configuration table in docs/configuration.md, generated from the config schema so the two never
 * disagree. `npm run docs:config` rewrites it; `configTable()` is what the docs test compares.
 */
import { fileURLToPath } from 'node:url';
import { ConfigSchema } from '@meteorites/shared';
import { replaceMarked, rewriteMarked } from './doc-markers.ts';

const MARKER = 'config-table';
export const readmePath = fileURLToPath(new URL('../docs/configuration.md', import.meta.url));

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
  return replaceMarked(readme, MARKER, configTable(), 'docs/configuration.md');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  rewriteMarked(readmePath, MARKER, configTable());
  console.log('docs/configuration.md configuration table updated');
}
