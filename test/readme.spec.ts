import { readFileSync, statSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ConfigSchema } from '@meteorites/shared';
import { readmePath as configPath, withFreshTable } from '../scripts/config-table.ts';

describe('docs/configuration.md', () => {
  it('documents every setting of the config schema, as generated (npm run docs:config), and README.md links to it', () => {
    const doc = readFileSync(configPath, 'utf8');
    expect(doc).toBe(withFreshTable(doc));
    for (const name of Object.keys(ConfigSchema.properties)) expect(doc).toContain(`| \`${name}\` |`);
    expect(readFileSync(new URL('../README.md', import.meta.url), 'utf8')).toContain('(docs/configuration.md)');
  });
});

describe('README.md', () => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

  it('shows the two quick-start commands', () => {
    expect(readme).toMatch(/npm ci && npm start/);
    expect(readme).toMatch(/^npm test\b/m);
  });

  it('tours load, submit, wait, result and chart, each with curl and with the command line', () => {
    const steps: [string, RegExp, RegExp][] = [
      [
        'load',
        /^curl -X POST .*--data-binary @data\/Meteorite_Landings\.csv .*\/data$/m,
        /^npm run -s cli -- load data\/Meteorite_Landings\.csv/m,
      ],
      ['submit', /^curl -X POST .*application\/json[\s\S]*?\/jobs$/m, /^npm run -s cli -- submit \S+/m],
      ['wait', /^curl '.*\/jobs\/<id>\?wait=\d+'/m, /^npm run -s cli -- wait <id>/m],
      ['result', /^curl .*\/results\/<id>$/m, /^npm run -s cli -- result <id>$/m],
      ['chart', /^curl -o \S+\.png .*\/download\/<id>$/m, /^npm run -s cli -- result <id> --chart \S+\.png$/m],
    ];
    for (const [step, curl, cli] of steps) {
      expect(readme, `${step} with curl`).toMatch(curl);
      expect(readme, `${step} with the CLI`).toMatch(cli);
    }
  });

  it('shows the dashboard and a result page, as the browser test draws them (npm run docs:screenshots)', () => {
    for (const image of ['docs/images/dashboard.png', 'docs/images/result.png']) {
      expect(readme).toMatch(new RegExp(`!\\[[^\\]]+\\]\\(${image.replace(/\./g, '\\.')}\\)`));
      // Small enough for a README: one viewport, not a full page.
      expect(statSync(new URL(`../${image}`, import.meta.url)).size, image).toBeLessThan(150_000);
    }
  });

  it('shows one chart and leads to the rest of the docs', () => {
    expect(readme.match(/!\[[^\]]*\]\(docs\/charts\/[a-z-]+\.png\)/g)).toHaveLength(1);
    for (const doc of [
      'docs/cli.md',
      'docs/operations.md',
      'docs/architecture.md',
      'CONTRIBUTING.md',
      'bench/README.md',
      'data/README.md',
    ]) {
      expect(readme).toContain(`](${doc})`);
    }
  });
});
