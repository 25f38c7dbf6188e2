/**
 * A small kustomize for the manifests under deploy/kubernetes/, which CI renders without the
 * kustomize binary: `resources` (files and directories), `namespace`, `images`, and `patches`
 * (JSON 6902 with add/remove/replace, or a strategic merge of maps). Anything else in a
 * kustomization, or a strategic merge that would have to merge a list (kustomize merges some lists
 * by key, which this does not imitate), is refused, so the renders here never silently differ
 * from `kubectl kustomize`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseAllDocuments } from 'yaml';

export type Manifest = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; [k: string]: unknown };
  [k: string]: unknown;
};

/**
 * A rendered manifest's fields, walked by path in assertions. Deliberately untyped: the schemas
 * (kubernetes-models) check the shape, and a wrong path fails the assertion that follows it.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- parsed YAML, see above
export type Loose = any;

export class KustomizeError extends Error {
  override name = 'KustomizeError';
}

interface Target {
  group?: string;
  version?: string;
  kind?: string;
  name?: string;
  namespace?: string;
}

interface Kustomization {
  apiVersion?: string;
  kind?: string;
  namespace?: string;
  resources?: string[];
  patches?: { path?: string; patch?: string; target?: Target }[];
  images?: { name: string; newName?: string; newTag?: string; digest?: string }[];
}

const KNOWN_FIELDS = new Set(['apiVersion', 'kind', 'namespace', 'resources', 'patches', 'images']);
const CLUSTER_SCOPED = new Set([
  'Namespace',
  'ClusterRole',
  'ClusterRoleBinding',
  'PersistentVolume',
  'StorageClass',
  'CustomResourceDefinition',
  'PriorityClass',
]);
const KUSTOMIZATION_FILES = ['kustomization.yaml', 'kustomization.yml', 'Kustomization'];

export interface Rendered {
  manifests: Manifest[];
  /** Every file the render read: kustomizations, resources and patches (absolute paths). */
  files: Set<string>;
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
const isMap = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function readYamlDocs(file: string): unknown[] {
  return parseAllDocuments(readFileSync(file, 'utf8'))
    .map((doc) => {
      if (doc.errors.length > 0) throw new KustomizeError(`${file}: ${doc.errors[0]!.message}`);
      return doc.toJS() as unknown;
    })
    .filter((d) => d !== null && d !== undefined);
}

export function kustomizationFile(dir: string): string | undefined {
  return KUSTOMIZATION_FILES.map((f) => join(dir, f)).find((f) => existsSync(f));
}

/** Renders the kustomization in `dir` as `kubectl kustomize dir` would, within the features above. */
export function render(dir: string): Rendered {
  const file = kustomizationFile(dir);
  if (!file) throw new KustomizeError(`no kustomization in ${dir}`);
  const k = readYamlDocs(file)[0] as Kustomization;
  for (const key of Object.keys(k))
    if (!KNOWN_FIELDS.has(key)) throw new KustomizeError(`${file}: "${key}" is not supported by this renderer`);
  const files = new Set<string>([file]);
  let manifests: Manifest[] = [];
  for (const entry of k.resources ?? []) {
    const path = resolve(dir, entry);
    if (kustomizationFile(path)) {
      const sub = render(path);
      manifests.push(...sub.manifests);
      for (const f of sub.files) files.add(f);
    } else {
      if (!existsSync(path)) throw new KustomizeError(`${file}: resource ${entry} does not exist`);
      files.add(path);
      for (const doc of readYamlDocs(path)) manifests.push(checkedManifest(doc, path));
    }
  }
  const ids = manifests.map(id);
  const dup = ids.find((x, i) => ids.indexOf(x) !== i);
  if (dup) throw new KustomizeError(`${file}: ${dup} is defined twice`);

  for (const p of k.patches ?? []) {
    let body: unknown;
    if (p.path) {
      const path = resolve(dir, p.path);
      files.add(path);
      body = readYamlDocs(path)[0];
    } else if (p.patch) {
      body = parseAllDocuments(p.patch)[0]?.toJS() as unknown;
    } else throw new KustomizeError(`${file}: a patch needs path or patch`);
    if (Array.isArray(body)) {
      if (!p.target) throw new KustomizeError(`${file}: a JSON 6902 patch needs a target`);
      const targets = select(manifests, p.target, file);
      manifests = manifests.map((m) => (targets.includes(m) ? applyJson6902(m, body as Op[]) : m));
    } else {
      const patch = checkedManifest(body, p.path ?? file);
      const target = p.target ?? {
        kind: patch.kind,
        name: patch.metadata.name,
        namespace: patch.metadata.namespace,
        group: groupOf(patch.apiVersion),
      };
      const targets = select(manifests, target, file);
      manifests = manifests.map((m) =>
        targets.includes(m) ? (strategicMerge(m as unknown as Json, patch as unknown as Json, '') as unknown as Manifest) : m,
      );
    }
  }

  if (k.namespace) {
    manifests = manifests.map((m) => (CLUSTER_SCOPED.has(m.kind) ? m : { ...m, metadata: { ...m.metadata, namespace: k.namespace } }));
  }
  for (const image of k.images ?? []) manifests = manifests.map((m) => setImage(m, image));
  return { manifests, files };
}

function checkedManifest(doc: unknown, where: string): Manifest {
  const m = doc as Manifest;
  if (
    !isMap(doc) ||
    typeof m.apiVersion !== 'string' ||
    typeof m.kind !== 'string' ||
    !isMap(m.metadata) ||
    typeof m.metadata.name !== 'string'
  ) {
    throw new KustomizeError(`${where}: every document needs apiVersion, kind and metadata.name`);
  }
  return structuredClone(m);
}

const groupOf = (apiVersion: string) => (apiVersion.includes('/') ? apiVersion.split('/')[0]! : '');
export const id = (m: Manifest) => `${m.apiVersion.replace(/\/.*$/, '')}/${m.kind}/${m.metadata.namespace ?? ''}/${m.metadata.name}`;

function select(manifests: Manifest[], t: Target, where: string): Manifest[] {
  const found = manifests.filter(
    (m) =>
      (t.kind === undefined || m.kind === t.kind) &&
      (t.name === undefined || m.metadata.name === t.name) &&
      (t.namespace === undefined || (m.metadata.namespace ?? '') === t.namespace) &&
      (t.group === undefined || groupOf(m.apiVersion) === t.group) &&
      (t.version === undefined || m.apiVersion.split('/').at(-1) === t.version),
  );
  if (found.length === 0) throw new KustomizeError(`${where}: no resource matches the patch target ${JSON.stringify(t)}`);
  return found;
}

/** Maps merge key by key, `null` deletes a key; a list over an existing one is refused (see the file's comment). */
export function strategicMerge(base: Json, patch: Json, path: string): Json {
  if (Array.isArray(patch)) throw new KustomizeError(`strategic merge of a list at ${path || '/'}: use a JSON 6902 patch`);
  if (!isMap(patch) || !isMap(base)) return patch;
  const out: { [k: string]: Json } = { ...base };
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key];
    // A key the resource lacks is added as it is, lists too (kustomize does the same).
    else out[key] = key in base ? strategicMerge(base[key]!, value, `${path}/${key}`) : value;
  }
  return out;
}

export interface Op {
  op: 'add' | 'remove' | 'replace';
  path: string;
  value?: Json;
}

const pointer = (path: string) =>
  path
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));

/** RFC 6902 add, remove and replace; a missing parent, or a missing target of remove/replace, is an error. */
export function applyJson6902(manifest: Manifest, ops: Op[]): Manifest {
  const doc = structuredClone(manifest) as unknown as Json;
  for (const o of ops) {
    if (!['add', 'remove', 'replace'].includes(o.op)) throw new KustomizeError(`JSON 6902 op "${o.op}" is not supported by this renderer`);
    const parts = pointer(o.path);
    const last = parts.pop();
    if (last === undefined) throw new KustomizeError(`JSON 6902: cannot ${o.op} the whole document`);
    let parent: Json = doc;
    for (const part of parts) {
      const next: Json | undefined = Array.isArray(parent) ? parent[Number(part)] : isMap(parent) ? parent[part] : undefined;
      if (next === undefined) throw new KustomizeError(`JSON 6902 ${o.op} ${o.path}: ${part} does not exist`);
      parent = next;
    }
    if (Array.isArray(parent)) {
      const index = last === '-' ? parent.length : Number(last);
      if (!Number.isInteger(index) || index < 0 || index > parent.length || (o.op !== 'add' && index === parent.length)) {
        throw new KustomizeError(`JSON 6902 ${o.op} ${o.path}: no index ${last}`);
      }
      if (o.op === 'add') parent.splice(index, 0, structuredClone(o.value!));
      else if (o.op === 'remove') parent.splice(index, 1);
      else parent[index] = structuredClone(o.value!);
    } else if (isMap(parent)) {
      if (o.op !== 'add' && !(last in parent)) throw new KustomizeError(`JSON 6902 ${o.op} ${o.path}: ${last} does not exist`);
      if (o.op === 'remove') delete parent[last];
      else parent[last] = structuredClone(o.value!);
    } else throw new KustomizeError(`JSON 6902 ${o.op} ${o.path}: the parent is not a map or list`);
  }
  return doc as unknown as Manifest;
}

/** Every container of a workload's pod template, or of a bare Pod. */
export function containersOf(m: Manifest): Record<string, unknown>[] {
  const spec = (m.kind === 'Pod' ? m.spec : (m.spec as { template?: { spec?: unknown } } | undefined)?.template?.spec) as
    { containers?: Record<string, unknown>[]; initContainers?: Record<string, unknown>[] } | undefined;
  return [...(spec?.initContainers ?? []), ...(spec?.containers ?? [])];
}

function setImage(m: Manifest, image: NonNullable<Kustomization['images']>[number]): Manifest {
  const out = structuredClone(m);
  for (const c of containersOf(out)) {
    const current = String(c.image ?? '');
    const name = current.replace(/@.*$/, '').replace(/:[^:/]*$/, '');
    if (name !== image.name) continue;
    const tag = image.digest ? `@${image.digest}` : image.newTag ? `:${image.newTag}` : current.slice(name.length);
    c.image = `${image.newName ?? name}${tag}`;
  }
  return out;
}
