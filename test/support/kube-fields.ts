/**
 * Field names checked against the Kubernetes and KEDA types. The schemas of kubernetes-models
 * accept any unknown field (a misspelt `readinesProbe` validates, and the API server would drop it
 * without a word), so each manifest is also type-checked by TypeScript as an object literal of its
 * kind's interface: excess property checks name every field the kind does not have, at any depth.
 */
import ts from 'typescript';
import { join } from 'node:path';
import type { Manifest } from './kustomize.ts';

/** apiVersion/kind → the module and interface of its type. */
export const KIND_TYPES: Record<string, [string, string]> = {
  'v1/Namespace': ['kubernetes-models/v1/Namespace', 'INamespace'],
  'v1/ConfigMap': ['kubernetes-models/v1/ConfigMap', 'IConfigMap'],
  'v1/Secret': ['kubernetes-models/v1/Secret', 'ISecret'],
  'v1/Service': ['kubernetes-models/v1/Service', 'IService'],
  'apps/v1/Deployment': ['kubernetes-models/apps/v1/Deployment', 'IDeployment'],
  'apps/v1/StatefulSet': ['kubernetes-models/apps/v1/StatefulSet', 'IStatefulSet'],
  'policy/v1/PodDisruptionBudget': ['kubernetes-models/policy/v1/PodDisruptionBudget', 'IPodDisruptionBudget'],
  'networking.k8s.io/v1/NetworkPolicy': ['kubernetes-models/networking.k8s.io/v1/NetworkPolicy', 'INetworkPolicy'],
  'keda.sh/v1alpha1/ScaledObject': ['@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject', 'IScaledObject'],
  'keda.sh/v1alpha1/TriggerAuthentication': ['@kubernetes-models/keda/keda.sh/v1alpha1/TriggerAuthentication', 'ITriggerAuthentication'],
};

/**
 * Type errors of the manifests as literals of their kinds' types, one line each
 * (`Deployment meteorites-api: Object literal may only specify known properties, ...`).
 * `root` is a directory whose node_modules holds the model packages.
 */
export function fieldErrors(manifests: Manifest[], root: string): string[] {
  const file = join(root, '__manifest_fields__.ts');
  const imports: string[] = [];
  const decls: string[] = [];
  const owner: { start: number; label: string }[] = [];
  let line = 0;
  manifests.forEach((m, i) => {
    const type = KIND_TYPES[`${m.apiVersion}/${m.kind}`];
    if (!type) throw new Error(`no type for ${m.apiVersion} ${m.kind}`);
    imports.push(`import type { ${type[1]} as T${i} } from '${type[0]}';`);
  });
  line = imports.length;
  manifests.forEach((m, i) => {
    const text = `export const m${i}: T${i} = ${JSON.stringify(m, null, 2)};`;
    owner.push({ start: line, label: `${m.kind} ${m.metadata.name}` });
    decls.push(text);
    line += text.split('\n').length;
  });
  const source = [...imports, ...decls].join('\n');
  const options: ts.CompilerOptions = {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    types: [],
  };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (name, version, ...rest) =>
    name === file ? ts.createSourceFile(name, source, version) : getSourceFile(name, version, ...rest);
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (name) => name === file || fileExists(name);
  const program = ts.createProgram([file], options, host);
  const sf = program.getSourceFile(file)!;
  return [...program.getSyntacticDiagnostics(sf), ...program.getSemanticDiagnostics(sf)].map((d) => {
    const at = d.start === undefined ? 0 : sf.getLineAndCharacterOfPosition(d.start).line;
    const label = owner.filter((o) => o.start <= at).at(-1)?.label ?? 'imports';
    return `${label}: ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`;
  });
}
