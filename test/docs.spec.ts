import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { keyPatterns } from '@meteorites/shared';
import { anchors, brokenLinks, links, slug } from '@meteorites/test-utils/markdown';
import { architecturePath, keyRows, withFreshKeyTable } from '../scripts/key-table.ts';
import { benchReadmePath, withFreshReport } from '../bench/report.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const read = (path: string) => readFileSync(join(root, path), 'utf8');

/** The Markdown a reader of the repository meets: the READMEs, CONTRIBUTING.md and docs/. */
const docFiles = [
  'README.md',
  'CONTRIBUTING.md',
  'bench/README.md',
  'data/README.md',
  ...readdirSync(join(root, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];

/** Written elsewhere (the command line reference comes with the CLI work): linked before it lands. */
const EXPECTED = new Set(['docs/cli.md']);

describe('links in the docs', () => {
  it.each(docFiles)('%s: every relative link reaches a file, every #anchor a heading', (file) => {
    const broken = brokenLinks(root, file, EXPECTED).map((b) => `${b.file}:${b.line}: ${b.problem}`);
    expect(broken).toEqual([]);
  });

  it('docs/cli.md, the command line reference README.md links to, exists', () => {
    const missing = [...EXPECTED].filter((path) => {
      try {
        return !statSync(join(root, path)).isFile();
      } catch {
        return true;
      }
    });
    expect(missing, `linked but missing (written with the CLI work): ${missing.join(', ')}`).toEqual([]);
  });

  describe('the checker itself', () => {
    const dir = mkdtempSync(join(tmpdir(), 'docs-links-'));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('makes anchors as GitHub does', () => {
      expect(slug('Backups and restore')).toBe('backups-and-restore');
      expect(slug('`npm start`: the whole service, on one machine!')).toBe('npm-start-the-whole-service-on-one-machine');
      expect(slug('What it guarantees (today)')).toBe('what-it-guarantees-today');
      expect(slug('[Links](x.md) & more')).toBe('links--more');
      expect([...anchors('# Title\n## Same\n```\n## not a heading\n```\n## Same\n')]).toEqual(['title', 'same', 'same-1']);
    });

    it('finds links outside code only, and reports a missing file, a missing anchor and a way out', () => {
      mkdirSync(join(dir, 'docs'), { recursive: true });
      writeFileSync(join(dir, 'docs', 'a.md'), '# A\n## Part one\n');
      writeFileSync(
        join(dir, 'README.md'),
        [
          '# Readme',
          '[ok](docs/a.md#part-one) [self](#readme) [web](https://example.org/x.md)',
          '[gone](docs/b.md) [bad anchor](docs/a.md#part-two) `[code](docs/c.md)`',
          '```',
          '[fenced](docs/d.md)',
          '```',
          '[out](../elsewhere.md)',
          '[later](docs/cli.md)',
        ].join('\n'),
      );
      expect(links(readFileSync(join(dir, 'README.md'), 'utf8')).map((l) => l.target)).toEqual([
        'docs/a.md#part-one',
        '#readme',
        'https://example.org/x.md',
        'docs/b.md',
        'docs/a.md#part-two',
        '../elsewhere.md',
        'docs/cli.md',
      ]);
      const problems = brokenLinks(dir, 'README.md', new Set(['docs/cli.md'])).map((b) => `${b.line}: ${b.problem}`);
      expect(problems).toEqual([
        '3: docs/b.md does not exist',
        expect.stringMatching(/^3: docs\/a\.md has no heading for #part-two/),
        '7: ../elsewhere.md points outside the repository',
      ]);
    });
  });
});

describe('sizes and words', () => {
  it('README.md stays at most 12 kB, bench/README.md at most 8 kB', () => {
    expect(Buffer.byteLength(read('README.md'))).toBeLessThanOrEqual(12_000);
    expect(Buffer.byteLength(read('bench/README.md'))).toBeLessThanOrEqual(8_000);
  });

  it("README.md speaks to a newcomer: none of the internals' jargon", () => {
    const readme = read('README.md').toLowerCase();
    for (const word of ['fencing token', 'claiming ahead', 'listpack', 'intset']) expect(readme, word).not.toContain(word);
  });
});

describe('generated tables', () => {
  it('docs/architecture.md holds the Redis key table as generated from shared/src/keys.ts (npm run docs:keys)', () => {
    const doc = readFileSync(architecturePath, 'utf8');
    expect(doc).toBe(withFreshKeyTable(doc));
  });

  it("the key table has the design's keys, each with its type, and every key falls under one of keyPatterns", () => {
    const rows = keyRows();
    const byKey = new Map(rows.map((r) => [r.key, r.type]));
    expect(byKey.get('meteorite:<id>')).toBe('hash');
    expect(byKey.get('meteorites:ids')).toBe('set');
    expect(byKey.get('dataset')).toBe('hash');
    expect(byKey.get('job:<id>')).toBe('hash');
    expect(byKey.get('jobs:queue')).toBe('list');
    expect(byKey.get('result:<id>')).toBe('string');
    const globs = keyPatterns.map((p) => new RegExp(`^${p.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`));
    for (const r of rows)
      expect(
        globs.some((g) => g.test(r.key.replace(/<[a-z]+>/g, 'x'))),
        r.key,
      ).toBe(true);
  });

  it('bench/README.md holds the figures of bench/results/*.json, as generated (npm run bench -- --report)', () => {
    const readme = readFileSync(benchReadmePath, 'utf8');
    expect(readme).toBe(withFreshReport(readme));
    const table = readme.slice(readme.indexOf('<!-- bench-report:start -->'), readme.indexOf('<!-- bench-report:end -->'));
    for (const f of readdirSync(join(root, 'bench', 'results')).filter((x) => x.endsWith('.json'))) {
      expect(table, f).toMatch(new RegExp(`^\\| ${f.slice(0, -5)}\\b`, 'm'));
    }
  });
});
