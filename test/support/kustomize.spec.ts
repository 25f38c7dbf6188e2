/**
 * The test renderer of kustomizations (kustomize.ts) against what `kubectl kustomize` does for
 * the same inputs, on small kustomizations written to a temp directory.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KustomizeError, applyJson6902, render, strategicMerge, type Loose, type Manifest } from './kustomize.ts';

const root = mkdtempSync(join(tmpdir(), 'kustomize-spec-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;

/** Writes files (path → text) into a fresh directory and returns it. */
function tree(files: Record<string, string>): string {
  const dir = join(root, String(n++));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}

const deployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    spec:
      containers:
        - name: web
          image: app
          env:
            - name: A
              value: "1"
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: cfg
data:
  A: "1"
  B: "2"
`;
const base = {
  'base/kustomization.yaml': 'resources: [web.yaml]\nnamespace: ns\nimages:\n  - name: app\n    newName: reg/app\n    newTag: "7"\n',
  'base/web.yaml': deployment,
};

describe('render', () => {
  it('reads resources (several documents to a file), sets the namespace and the image', () => {
    const { manifests, files } = render(join(tree(base), 'base'));
    expect(manifests.map((m) => `${m.kind}/${m.metadata.namespace}/${m.metadata.name}`)).toEqual(['Deployment/ns/web', 'ConfigMap/ns/cfg']);
    expect((manifests[0]!.spec as Loose).template.spec.containers[0].image).toBe('reg/app:7');
    expect([...files].map((f) => f.split('/').slice(-2).join('/')).sort()).toEqual(['base/kustomization.yaml', 'base/web.yaml']);
  });

  it('builds a base below an overlay, then applies the overlay patches: strategic merge of maps, null deletes', () => {
    const dir = tree({
      ...base,
      'o/kustomization.yaml': 'resources: [../base]\npatches:\n  - path: cfg.yaml\n',
      'o/cfg.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\ndata:\n  B: "3"\n  A: null\n  C: "4"\n',
    });
    const { manifests, files } = render(join(dir, 'o'));
    expect(manifests.find((m) => m.kind === 'ConfigMap')!.data).toEqual({ B: '3', C: '4' });
    expect(files.size).toBe(4);
  });

  it('applies JSON 6902 patches to their target only', () => {
    const dir = tree({
      ...base,
      'o/kustomization.yaml': 'resources: [../base]\npatches:\n  - path: p.yaml\n    target:\n      kind: Deployment\n      name: web\n',
      'o/p.yaml':
        '- op: replace\n  path: /spec/template/spec/containers/0/env/0/value\n  value: "2"\n- op: add\n  path: /spec/replicas\n  value: 3\n',
    });
    const web = render(join(dir, 'o')).manifests.find((m) => m.kind === 'Deployment')!;
    expect((web.spec as Loose).replicas).toBe(3);
    expect((web.spec as Loose).template.spec.containers[0].env).toEqual([{ name: 'A', value: '2' }]);
  });

  it.each([
    [
      'an unsupported kustomization field',
      { 'k/kustomization.yaml': 'resources: [a.yaml]\nconfigMapGenerator: []\n', 'k/a.yaml': deployment },
      /configMapGenerator.*not supported/,
    ],
    ['a missing resource', { 'k/kustomization.yaml': 'resources: [missing.yaml]\n' }, /does not exist/],
    [
      'a patch matching nothing',
      {
        'k/kustomization.yaml': 'resources: [a.yaml]\npatches:\n  - path: p.yaml\n',
        'k/a.yaml': deployment,
        'k/p.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: other\n',
      },
      /no resource matches/,
    ],
    [
      'a strategic merge over a list',
      {
        'k/kustomization.yaml': 'resources: [a.yaml]\npatches:\n  - path: p.yaml\n',
        'k/a.yaml': deployment,
        'k/p.yaml': 'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      containers: []\n',
      },
      /strategic merge of a list/,
    ],
    [
      'a resource defined twice',
      { 'k/kustomization.yaml': 'resources: [a.yaml, b.yaml]\n', 'k/a.yaml': deployment, 'k/b.yaml': deployment },
      /defined twice/,
    ],
  ])('refuses %s', (_, files, message) => {
    expect(() => render(join(tree(files), 'k'))).toThrow(message);
  });
});

describe('applyJson6902', () => {
  const m = (): Manifest => ({ apiVersion: 'v1', kind: 'X', metadata: { name: 'x', 'a/b': 1 }, list: [1, 2] });

  it('adds, removes and replaces in maps and lists, with escaped pointers', () => {
    const out = applyJson6902(m(), [
      { op: 'add', path: '/list/-', value: 3 },
      { op: 'add', path: '/list/0', value: 0 },
      { op: 'remove', path: '/metadata/a~1b' },
      { op: 'replace', path: '/kind', value: 'Y' },
    ]);
    expect(out).toEqual({ apiVersion: 'v1', kind: 'Y', metadata: { name: 'x' }, list: [0, 1, 2, 3] });
  });

  it.each([
    [{ op: 'remove', path: '/nothing' }],
    [{ op: 'replace', path: '/list/2', value: 1 }],
    [{ op: 'add', path: '/no/parent', value: 1 }],
    [{ op: 'move', path: '/kind' }],
  ] as const)('refuses %j', (op) => {
    expect(() => applyJson6902(m(), [op as never])).toThrow(KustomizeError);
  });
});

describe('strategicMerge', () => {
  it('merges nested maps and lets the patch add a list under a new key', () => {
    expect(strategicMerge({ a: { b: 1, c: 2 } }, { a: { c: 3 }, d: [1] }, '')).toEqual({ a: { b: 1, c: 3 }, d: [1] });
  });
});
