import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ConfigSchema } from '@meteorites/shared/config';
import { readmePath, withFreshTable } from '../scripts/config-table.ts';

describe('README.md', () => {
  const readme = readFileSync(readmePath, 'utf8');

  it('documents every setting of the config schema, as generated (npm run docs:config)', () => {
    expect(readme).toBe(withFreshTable(readme));
    for (const name of Object.keys(ConfigSchema.properties)) expect(readme).toContain(`| \`${name}\` |`);
  });

  it('shows the two quick-start commands', () => {
    expect(readme).toMatch(/npm ci && npm start/);
    expect(readme).toMatch(/^npm test\b/m);
  });
});
