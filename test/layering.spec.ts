/**
 * The tree's structure rules, checked on the real source files so a move that breaks one fails
 * here rather than in a review: no source file over 350 lines (generated ones aside), and no
 * module importing from a layer above it, and every workspace reached through its one entry. Imports
 * are read with a plain scan of import/export statements (no TypeScript program): cheap, and the
 * bad-input cases below show it sees them.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, posix, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

const MAX_LINES = 350;
/** Written by a generator, not by hand: their length is the schema's. */
const GENERATED = new Set(['client/src/openapi.ts']);

/**
 * The workspaces (by folder) and the workspaces each may import: shared at the bottom, dataset
 * and charts on it, the API on those; the worker on shared alone (it installs no parsers and no
 * rendering); tools and the generated client apart.
 */
const MAY_IMPORT: Readonly<Record<string, readonly string[]>> = {
  shared: [],
  dataset: ['shared'],
  charts: ['shared'],
  api: ['shared', 'dataset', 'charts'],
  worker: ['shared'],
  tools: ['shared'],
  client: [],
};
/** What a workspace's own tests (*.spec.ts) may import on top: the shared test helpers. */
const TESTS_MAY_IMPORT = ['test'];
/** Where else the workspaces are imported from: the suites and helpers, the benchmarks, the scripts. */
const OTHER_IMPORTERS = ['test', 'bench', 'scripts'];

/** Layers inside a workspace: files under `from` import nothing under `above`. */
const FOLDER_RULES = [{ from: 'shared/src/queue/', above: 'shared/src/analyses/', why: 'the analyses sit above the queue protocol' }];

interface SourceFile {
  /** Relative to the repository root, with forward slashes. */
  path: string;
  text: string;
}

interface Manifest {
  name: string;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  exports?: Record<string, unknown>;
}

function sourceFiles(folders: readonly string[] = Object.keys(MAY_IMPORT)): SourceFile[] {
  const files: SourceFile[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
      const path = posix.join(dir, entry.name);
      if (entry.isDirectory()) {
        if (entry.name !== 'node_modules' && entry.name !== 'dist') walk(path);
      } else if (/\.(ts|mts|cts|tsx)$/.test(entry.name) && !entry.name.endsWith('.d.ts')) {
        files.push({ path, text: readFileSync(join(ROOT, path), 'utf8') });
      }
    }
  };
  for (const folder of folders) walk(folder);
  return files;
}

function manifests(): Record<string, Manifest> {
  const root = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { workspaces: string[] };
  return Object.fromEntries(root.workspaces.map((w) => [w, JSON.parse(readFileSync(join(ROOT, w, 'package.json'), 'utf8')) as Manifest]));
}

/** Lines as `wc -l` counts them. */
const lineCount = (text: string) => text.split('\n').length - 1;

function oversized(files: readonly SourceFile[]): string[] {
  return files
    .filter((f) => !GENERATED.has(f.path) && lineCount(f.text) > MAX_LINES)
    .map((f) => `${f.path}: ${lineCount(f.text)} lines (at most ${MAX_LINES})`);
}

/** The module specifiers of every static import, re-export, side-effect and dynamic import. */
function importsOf(text: string): string[] {
  // Comments may quote an import; they do not count. (A string holding `/*` is rare enough here.)
  const code = text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  const found: string[] = [];
  const patterns = [
    /\b(?:import|export)\s+(?:type\s+)?[^'";]*?\sfrom\s*['"]([^'"]+)['"]/g,
    /\bimport\s*['"]([^'"]+)['"]/g,
    /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g,
  ];
  for (const pattern of patterns) for (const m of code.matchAll(pattern)) found.push(m[1]!);
  return found;
}

/** Where an import leads: the workspace folder, and the file path when it can be told. */
function target(from: string, specifier: string, folderOf: ReadonlyMap<string, string>) {
  if (specifier.startsWith('.')) {
    const path = posix.normalize(posix.join(posix.dirname(from), specifier));
    return { workspace: path.split('/')[0]!, path, relative: true };
  }
  const m = /^(@meteorites\/[^/]+)(?:\/(.*))?$/.exec(specifier);
  if (!m) return undefined; // a library from the registry, or node:*
  const workspace = folderOf.get(m[1]!) ?? m[1]!;
  // A subpath `x` would be `./src/x.ts` (entryViolations flags it: each workspace exports only `.`).
  return { workspace, path: `${workspace}/src/${m[2] ?? 'index'}`, relative: false, name: m[1]! };
}

function layeringViolations(files: readonly SourceFile[], pkgs: Readonly<Record<string, Manifest>>): string[] {
  const folderOf = new Map(Object.entries(pkgs).map(([folder, p]) => [p.name, folder]));
  const problems: string[] = [];
  for (const file of files) {
    const own = file.path.split('/')[0]!;
    const isTest = file.path.endsWith('.spec.ts');
    const pkg = pkgs[own];
    const declared = new Set(Object.keys({ ...pkg?.dependencies, ...pkg?.peerDependencies, ...(isTest ? pkg?.devDependencies : {}) }));
    for (const specifier of importsOf(file.text)) {
      const to = target(file.path, specifier, folderOf);
      if (!to) continue;
      for (const rule of FOLDER_RULES) {
        if (file.path.startsWith(rule.from) && to.path.startsWith(rule.above)) {
          problems.push(`${file.path} imports ${specifier}: nothing in ${rule.from} imports ${rule.above} (${rule.why})`);
        }
      }
      if (to.workspace === own) continue;
      const allowed = [...(MAY_IMPORT[own] ?? []), ...(isTest ? TESTS_MAY_IMPORT : [])];
      if (!allowed.includes(to.workspace)) {
        problems.push(`${file.path} imports ${specifier}: ${own} may import only ${allowed.join(', ') || 'no other workspace'}`);
      } else if (to.relative) {
        problems.push(`${file.path} imports ${specifier} by a relative path: import ${pkgs[to.workspace]?.name} instead`);
      } else if (!declared.has(to.name!)) {
        problems.push(`${file.path} imports ${specifier}, which ${own}/package.json does not declare`);
      }
    }
  }
  return problems;
}

/**
 * A workspace is imported through what its package.json exports: `@meteorites/shared` itself, not
 * `@meteorites/shared/keys` (its one entry; the test helpers export each file). A workspace's own
 * files import each other by relative paths: through its entry they would load the whole package
 * from inside it, a cycle that leaves bindings undefined at load.
 */
function entryViolations(files: readonly SourceFile[], pkgs: Readonly<Record<string, Manifest>>): string[] {
  const folderOf = new Map(Object.entries(pkgs).map(([folder, p]) => [p.name, folder]));
  const exported = (pkg: Manifest, sub: string | undefined) =>
    Object.keys(pkg.exports ?? {}).some((key) => {
      const want = sub === undefined ? '.' : `./${sub}`;
      const star = key.indexOf('*');
      return star < 0
        ? key === want
        : want.startsWith(key.slice(0, star)) && want.endsWith(key.slice(star + 1)) && want.length >= key.length;
    });
  const problems: string[] = [];
  for (const file of files) {
    const own = file.path.split('/')[0]!;
    for (const specifier of importsOf(file.text)) {
      const m = /^(@meteorites\/[^/]+)(?:\/(.*))?$/.exec(specifier);
      const folder = m && folderOf.get(m[1]!);
      if (!m || !folder) continue;
      if (folder === own && own in MAY_IMPORT) {
        problems.push(`${file.path} imports ${specifier}, its own workspace's entry: import the module by a relative path`);
      } else if (!exported(pkgs[folder]!, m[2])) {
        problems.push(`${file.path} imports ${specifier}, which ${folder}/package.json does not export: import ${m[1]}`);
      }
    }
  }
  return problems;
}

/** A package.json may declare only the workspaces its folder may import (its tests: the test helpers too). */
function manifestViolations(pkgs: Readonly<Record<string, Manifest>>): string[] {
  const folderOf = new Map(Object.entries(pkgs).map(([folder, p]) => [p.name, folder]));
  const problems: string[] = [];
  for (const [own, allowed] of Object.entries(MAY_IMPORT)) {
    const pkg = pkgs[own];
    if (!pkg) {
      problems.push(`${own} is not a workspace`);
      continue;
    }
    const sections = [
      ['dependencies', pkg.dependencies, allowed],
      ['peerDependencies', pkg.peerDependencies, allowed],
      ['devDependencies', pkg.devDependencies, [...allowed, ...TESTS_MAY_IMPORT]],
    ] as const;
    for (const [section, deps, may] of sections) {
      for (const name of Object.keys(deps ?? {})) {
        const folder = folderOf.get(name);
        if (folder && !may.includes(folder)) problems.push(`${own}/package.json ${section} names ${name}, a layer it may not import`);
      }
    }
  }
  return problems;
}

describe('file sizes', () => {
  it(`no source file in ${Object.keys(MAY_IMPORT).join(', ')} is over ${MAX_LINES} lines (generated ones aside)`, () => {
    const files = sourceFiles();
    expect(files.length).toBeGreaterThan(100);
    expect(oversized(files)).toEqual([]);
  });

  it('fails on a long file, and lets a generated one and one of exactly the limit pass', () => {
    const lines = (n: number) => 'x;\n'.repeat(n);
    const fake = [
      { path: 'api/src/long.ts', text: lines(351) },
      { path: 'worker/src/limit.ts', text: lines(350) },
      { path: 'client/src/openapi.ts', text: lines(5000) },
    ];
    expect(oversized(fake)).toEqual(['api/src/long.ts: 351 lines (at most 350)']);
  });
});

describe('layers', () => {
  it('every workspace is checked', () => {
    const folders = Object.keys(manifests()).filter((w) => w !== 'test');
    expect(folders.sort()).toEqual(Object.keys(MAY_IMPORT).sort());
  });

  it('no module imports from a layer above it, nor a workspace its package.json does not declare', () => {
    const files = sourceFiles();
    // The scan sees the real imports (an empty scan would pass anything).
    expect(files.filter((f) => f.path.startsWith('api/')).flatMap((f) => importsOf(f.text))).toContain('@meteorites/dataset');
    expect(layeringViolations(files, manifests())).toEqual([]);
  });

  it('every workspace is imported through its entry (no subpath of @meteorites/shared), and none imports its own', () => {
    // This file quotes bad imports as its test data.
    const files = sourceFiles([...Object.keys(MAY_IMPORT), ...OTHER_IMPORTERS]).filter((f) => f.path !== 'test/layering.spec.ts');
    // The suites and the benchmarks are in the scan too.
    expect(files.filter((f) => /^(test|bench)\//.test(f.path)).flatMap((f) => importsOf(f.text))).toContain('@meteorites/shared');
    expect(entryViolations(files, manifests())).toEqual([]);
  });

  it('fails on a subpath import and on a workspace importing its own entry', () => {
    const pkgs = manifests();
    const fake: SourceFile[] = [
      { path: 'api/src/a.ts', text: `import { keys } from '@meteorites/shared/keys';` },
      { path: 'test/integration/b.test.ts', text: `import type { Redis } from '@meteorites/shared/redis';` },
      { path: 'bench/c.ts', text: `const { JobQueue } = await import('@meteorites/shared/queue/index');` },
      { path: 'scripts/d.ts', text: `export { loadConfig } from '@meteorites/shared/config';` },
      { path: 'shared/src/queue/e.ts', text: `import { keys } from '@meteorites/shared';` },
      { path: 'api/src/f.ts', text: `import { buildApp } from '@meteorites/api';` },
      // Allowed: each stays silent.
      {
        path: 'api/src/ok.ts',
        text: `import { keys, type Redis } from '@meteorites/shared';\nimport { load } from '@meteorites/dataset';`,
      },
      { path: 'test/integration/ok.test.ts', text: `import { startRedis } from '@meteorites/test-utils/redis';` },
      { path: 'test/support/ok.ts', text: `import { env } from '@meteorites/test-utils/env';` },
      { path: 'shared/src/ok.ts', text: `import { keys } from './keys.ts';\nimport { createClient } from 'redis';` },
    ];
    const problems = entryViolations(fake, pkgs);
    expect(problems.map((p) => p.split(' ')[0]).sort()).toEqual(
      fake
        .filter((f) => !f.path.includes('/ok'))
        .map((f) => f.path)
        .sort(),
    );
    expect(problems).toContain(
      'api/src/a.ts imports @meteorites/shared/keys, which shared/package.json does not export: import @meteorites/shared',
    );
    expect(problems).toContain(
      "shared/src/queue/e.ts imports @meteorites/shared, its own workspace's entry: import the module by a relative path",
    );
  });

  it('no package.json declares a workspace above it', () => {
    expect(manifestViolations(manifests())).toEqual([]);
  });

  it('the scan reads every form of import and skips comments', () => {
    const text = [
      `import { a,`,
      `  b } from '@meteorites/one';`,
      `import type { T } from "./two.ts";`,
      `export { c } from '../three.ts';`,
      `export * from './four.ts';`,
      `import './five.ts';`,
      `const m = await import('@meteorites/six');`,
      `// import { x } from '@meteorites/commented';`,
      `/* export { y } from '@meteorites/also-commented'; */`,
      `const s = 'not an import from here';`,
    ].join('\n');
    expect(importsOf(text).sort()).toEqual(['../three.ts', './five.ts', './four.ts', './two.ts', '@meteorites/one', '@meteorites/six']);
  });

  it('fails on each kind of bad import', () => {
    const pkgs: Record<string, Manifest> = {
      shared: { name: '@meteorites/shared', devDependencies: { '@meteorites/test-utils': '*' } },
      dataset: { name: '@meteorites/dataset', dependencies: { '@meteorites/shared': '*' } },
      charts: { name: '@meteorites/charts', dependencies: { '@meteorites/shared': '*' } },
      api: { name: '@meteorites/api', dependencies: { '@meteorites/shared': '*', '@meteorites/dataset': '*' } },
      worker: { name: '@meteorites/worker', dependencies: { '@meteorites/shared': '*' } },
      tools: { name: '@meteorites/tools', dependencies: { '@meteorites/shared': '*' } },
      client: { name: '@meteorites/client' },
      test: { name: '@meteorites/test-utils' },
    };
    const fake: SourceFile[] = [
      { path: 'worker/src/a.ts', text: `import { buildApp } from '@meteorites/api';` },
      { path: 'worker/src/b.ts', text: `import { loadDataset } from '@meteorites/dataset';` },
      { path: 'dataset/src/c.ts', text: `import { x } from '@meteorites/api';` },
      { path: 'charts/src/d.ts', text: `export * from '@meteorites/api';` },
      { path: 'shared/src/e.ts', text: `import { parse } from '@meteorites/dataset';` },
      { path: 'shared/src/f.ts', text: `import { helper } from '@meteorites/test-utils/helper';` },
      { path: 'shared/src/queue/g.ts', text: `import { catalog } from '../analyses/catalog.ts';` },
      { path: 'shared/src/queue/h.ts', text: `import { types } from '@meteorites/shared/analyses/types';` },
      { path: 'api/src/i.ts', text: `import { render } from '@meteorites/charts';` },
      { path: 'api/src/j.ts', text: `import { keys } from '../../shared/src/keys.ts';` },
      { path: 'client/src/k.ts', text: `import { keys } from '@meteorites/shared/keys';` },
      // Allowed: each stays silent.
      { path: 'shared/src/ok.spec.ts', text: `import { helper } from '@meteorites/test-utils/helper';` },
      { path: 'shared/src/analyses/ok.ts', text: `import { queue } from '../queue/index.ts';` },
      { path: 'api/src/ok.ts', text: `import { load } from '@meteorites/dataset';\nimport { a } from './own.ts';` },
      { path: 'worker/src/ok.ts', text: `import { keys } from '@meteorites/shared';\nimport { createClient } from 'redis';` },
    ];
    const problems = layeringViolations(fake, pkgs);
    const flagged = new Set(problems.map((p) => p.split(' ')[0]));
    expect([...flagged].sort()).toEqual(
      fake
        .filter((f) => !f.path.includes('/ok'))
        .map((f) => f.path)
        .sort(),
    );
    expect(problems).toContain('worker/src/a.ts imports @meteorites/api: worker may import only shared');
    expect(problems).toContain(
      'shared/src/queue/g.ts imports ../analyses/catalog.ts: nothing in shared/src/queue/ imports shared/src/analyses/ (the analyses sit above the queue protocol)',
    );
    expect(problems).toContain('api/src/i.ts imports @meteorites/charts, which api/package.json does not declare');
    expect(problems).toContain('api/src/j.ts imports ../../shared/src/keys.ts by a relative path: import @meteorites/shared instead');
  });

  it('fails on a package.json that declares a layer above it', () => {
    const pkgs: Record<string, Manifest> = {
      ...manifests(),
      worker: { name: '@meteorites/worker', dependencies: { '@meteorites/shared': '*', '@meteorites/api': '*' } },
      shared: { name: '@meteorites/shared', devDependencies: { '@meteorites/test-utils': '*', '@meteorites/dataset': '*' } },
    };
    expect(manifestViolations(pkgs).sort()).toEqual([
      'shared/package.json devDependencies names @meteorites/dataset, a layer it may not import',
      'worker/package.json dependencies names @meteorites/api, a layer it may not import',
    ]);
  });
});

describe('package entries', () => {
  it('every workspace but the test helpers has one entry, `.`, in source and compiled form', () => {
    const entries = Object.entries(manifests())
      .filter(([w]) => w !== 'test')
      .map(([w, pkg]) => [w, pkg.exports]);
    const one = { '.': { production: './dist/index.js', default: './src/index.ts' } };
    expect(Object.fromEntries(entries)).toEqual(Object.fromEntries(entries.map(([w]) => [w, one])));
  });

  it('every export of every workspace names a source file that exists (a move leaves no dead entry)', () => {
    const dead: string[] = [];
    for (const w of Object.keys(manifests())) {
      const pkg = JSON.parse(readFileSync(join(ROOT, w, 'package.json'), 'utf8')) as {
        exports?: Record<string, string | { default: string }>;
      };
      for (const [entry, target] of Object.entries(pkg.exports ?? {})) {
        const source = typeof target === 'string' ? target : target.default;
        if (source.includes('*')) continue;
        if (!existsSync(join(ROOT, w, source))) dead.push(`${w}: ${entry} -> ${source}`);
      }
    }
    expect(dead).toEqual([]);
  });
});
