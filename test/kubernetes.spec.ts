/**
 * deploy/kubernetes/, checked without a cluster (CI has none): every overlay rendered by the
 * test renderer (support/kustomize.ts), every manifest validated against the Kubernetes and KEDA
 * schemas, and the manifests held to the code: settings of shared/src/config.ts, the Dockerfile's
 * image and compose.yaml's commands, probe paths the API serves, the queue key of keys.ts, a
 * worker grace period above its shutdown grace, and locked-down containers.
 */
import { describe, expect, it } from 'vitest';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { Deployment, StatefulSet } from 'kubernetes-models/apps/v1';
import { ConfigMap, Namespace, Secret, Service } from 'kubernetes-models/v1';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ScaledObject, TriggerAuthentication } from '@kubernetes-models/keda/keda.sh/v1alpha1';
import { ConfigSchema, loadConfig, buildKeys, keys, CLUSTER_HASH_TAG } from '@meteorites/shared';
import { REDIS_SERVER_ARGS } from '@meteorites/tools';
import { fieldErrors } from './support/kube-fields.ts';
import { containersOf, render, type Loose, type Manifest } from './support/kustomize.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const deploy = join(root, 'deploy/kubernetes');
const read = (path: string) => readFileSync(join(root, path), 'utf8');

/**
 * Settings the design declares for Sentinel and Cluster support (their names are fixed) that
 * shared/src/config.ts does not have yet: only the sentinel and cluster overlays may use them.
 * Once config.ts declares them, they leave this list (the test below fails until they do).
 */
const PENDING_SETTINGS: string[] = [];
const SETTINGS = Object.keys(ConfigSchema.properties);

const OVERLAYS = ['cluster', 'managed', 'sentinel', 'single-redis'];
const rendered = Object.fromEntries(OVERLAYS.map((o) => [o, render(join(deploy, 'overlays', o))]));
const manifestsOf = (overlay: string) => rendered[overlay]!.manifests;

/** The schema class of every kind the overlays may use; any other kind fails the test. */
const MODELS: Record<string, new (data: Loose) => { validate(): void }> = {
  'v1/Namespace': Namespace,
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'apps/v1/Deployment': Deployment,
  'apps/v1/StatefulSet': StatefulSet,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
  'keda.sh/v1alpha1/ScaledObject': ScaledObject,
  'keda.sh/v1alpha1/TriggerAuthentication': TriggerAuthentication,
};

/**
 * The metadata each KEDA Redis list scaler reads (keda.sh/docs, "Redis Lists" and its Sentinel and
 * Cluster pages): trigger metadata is a free map in the schema, so a misspelt key would pass.
 */
const LIST_KEYS = ['listName', 'listLength', 'activationListLength', 'enableTLS', 'unsafeSsl'];
const TRIGGER_KEYS: Record<string, string[]> = {
  redis: ['address', 'host', 'port', 'databaseIndex', ...LIST_KEYS],
  'redis-sentinel': ['addresses', 'hosts', 'ports', 'sentinelMaster', 'databaseIndex', ...LIST_KEYS],
  'redis-cluster': ['addresses', 'hosts', 'ports', ...LIST_KEYS],
};

const find = (overlay: string, kind: string, name: string) => {
  const m = manifestsOf(overlay).find((x) => x.kind === kind && x.metadata.name === name);
  if (!m) throw new Error(`${overlay}: no ${kind} ${name}`);
  return m as Loose;
};
const podSpec = (m: Manifest) => (m.spec as Loose).template.spec;

/** The image built from the Dockerfile: the name the base's `images` entry sets. */
const baseKustomization = parse(readFileSync(join(deploy, 'base/kustomization.yaml'), 'utf8')) as { images: { name: string }[] };
const APP_IMAGE = baseKustomization.images[0]!.name;
const isAppContainer = (c: Loose) => String(c.image).replace(/[:@].*$/, '') === APP_IMAGE;

/** The JSON-form CMD of the Dockerfile's final stage. */
const dockerCmd = JSON.parse(
  read('Dockerfile')
    .split('\n')
    .filter((l) => l.startsWith('CMD '))
    .at(-1)!
    .slice(4),
) as string[];
const compose = parse(read('compose.yaml')) as { services: Record<string, { command: string[]; healthcheck: { test: string[] } }> };

/** A container's environment as the pod would see it: envFrom ConfigMaps and Secrets, then env. */
function environment(overlay: string, c: Loose): Record<string, string> {
  const out: Record<string, string> = {};
  const secretValue = (name: string, key: string) => {
    const s = find(overlay, 'Secret', name);
    return String(s.stringData?.[key] ?? Buffer.from(s.data?.[key] ?? '', 'base64').toString());
  };
  for (const from of c.envFrom ?? []) {
    const data = from.configMapRef
      ? find(overlay, 'ConfigMap', from.configMapRef.name).data
      : { ...find(overlay, 'Secret', from.secretRef.name).stringData };
    Object.assign(out, data);
  }
  for (const e of c.env ?? []) {
    if (e.valueFrom?.secretKeyRef) out[e.name] = secretValue(e.valueFrom.secretKeyRef.name, e.valueFrom.secretKeyRef.key);
    else if (e.valueFrom?.configMapKeyRef)
      out[e.name] = String(find(overlay, 'ConfigMap', e.valueFrom.configMapKeyRef.name).data[e.valueFrom.configMapKeyRef.key]);
    else out[e.name] = String(e.value ?? '');
  }
  return out;
}

const apps = (overlay: string) =>
  manifestsOf(overlay)
    .filter((m) => m.kind === 'Deployment')
    .flatMap((m) =>
      containersOf(m)
        .filter(isAppContainer)
        .map((c) => ({ workload: m, c: c as Loose })),
    );

describe('deploy/kubernetes', () => {
  it('has the four overlays, and no manifest that no kustomization renders', () => {
    expect(readdirSync(join(deploy, 'overlays')).sort()).toEqual(OVERLAYS);
    const used = new Set(Object.values(rendered).flatMap((r) => [...r.files]));
    const all = (dir: string): string[] =>
      readdirSync(dir, { withFileTypes: true }).flatMap((d) => (d.isDirectory() ? all(join(dir, d.name)) : [join(dir, d.name)]));
    const orphans = all(deploy)
      .filter((f) => /\.ya?ml$/.test(f) && !used.has(f))
      .map((f) => relative(deploy, f));
    expect(orphans, 'manifest files no overlay uses').toEqual([]);
  });

  it('the field check finds a misspelt or mistyped field at any depth', () => {
    const api = structuredClone(find('single-redis', 'Deployment', 'meteorites-api'));
    api.spec.template.spec.containers[0].readinesProbe = api.spec.template.spec.containers[0].readinessProbe;
    api.spec.replicas = '2';
    const errors = fieldErrors([api], root);
    expect(errors).toHaveLength(2);
    expect(errors.join('\n')).toMatch(/Deployment meteorites-api: .*'"readinesProbe"' does not exist/);
  });

  describe.each(OVERLAYS)('overlay %s', (overlay) => {
    const manifests = manifestsOf(overlay);

    it('validates every manifest against the Kubernetes and KEDA schemas', () => {
      for (const m of manifests) {
        const Model = MODELS[`${m.apiVersion}/${m.kind}`];
        expect(Model, `a schema for ${m.apiVersion} ${m.kind}`).toBeDefined();
        expect(() => new Model!(m).validate(), `${m.kind} ${m.metadata.name}`).not.toThrow();
      }
    });

    it('names only fields its kinds have (the schemas above let unknown ones through)', () => {
      expect(fieldErrors(manifests, root)).toEqual([]);
    });

    it('puts everything in the one namespace that KEDA addresses name', () => {
      expect(manifests.find((m) => m.kind === 'Namespace')?.metadata.name).toBe('meteorites');
      for (const m of manifests.filter((x) => x.kind !== 'Namespace'))
        expect(m.metadata.namespace, `${m.kind} ${m.metadata.name}`).toBe('meteorites');
    });

    it('configures API and workers only with settings of shared/src/config.ts, each one valid', () => {
      const pending = new Set<string>();
      for (const { c } of apps(overlay)) {
        const env = environment(overlay, c);
        for (const key of Object.keys(env)) {
          if (PENDING_SETTINGS.includes(key)) pending.add(key);
          else expect(SETTINGS, `${c.name}: ${key} is not a setting`).toContain(key);
        }
        expect(() => loadConfig(env), c.name).not.toThrow();
      }
      // A pending name config.ts has since declared must leave PENDING_SETTINGS.
      for (const key of PENDING_SETTINGS) expect(SETTINGS, `${key} is in config.ts now: drop it from PENDING_SETTINGS`).not.toContain(key);
      if (!['sentinel', 'cluster'].includes(overlay)) expect([...pending]).toEqual([]);
    });

    it('runs the api and the worker from the one image with the Dockerfile and compose commands', () => {
      const api = find(overlay, 'Deployment', 'meteorites-api');
      const worker = find(overlay, 'Deployment', 'meteorites-worker');
      const [apiC] = podSpec(api).containers;
      const [workerC] = podSpec(worker).containers;
      expect(isAppContainer(apiC)).toBe(true);
      expect(workerC.image).toBe(apiC.image);
      expect(apiC.command).toEqual(dockerCmd);
      expect(apiC.command).toEqual(compose.services.api!.command);
      expect(workerC.command).toEqual(compose.services.worker!.command);
      // The compiled entry (api/dist/server.js) is built in the image from its source (api/src/server.ts).
      for (const c of [apiC, workerC])
        expect(existsSync(join(root, String(c.command.at(-1)).replace('/dist/', '/src/').replace(/\.js$/, '.ts')))).toBe(true);
      expect(apiC.args ?? workerC.args).toBeUndefined();
    });

    it('probes the API on routes it serves, on the port it listens on', () => {
      const paths = (JSON.parse(read('openapi.json')) as { paths: Record<string, { get?: unknown }> }).paths;
      const [c] = podSpec(find(overlay, 'Deployment', 'meteorites-api')).containers;
      expect(c.readinessProbe.httpGet.path).toBe('/ready');
      expect(c.livenessProbe.httpGet.path).toBe('/health');
      const config = loadConfig(environment(overlay, c));
      expect(config.HOST).toBe('0.0.0.0');
      for (const probe of [c.startupProbe, c.readinessProbe, c.livenessProbe]) {
        expect(paths[probe.httpGet.path]?.get, `GET ${probe.httpGet.path} in openapi.json`).toBeDefined();
        const port = c.ports.find((p: Loose) => p.name === probe.httpGet.port || p.containerPort === probe.httpGet.port);
        expect(port?.containerPort).toBe(config.PORT);
      }
    });

    it("checks a worker's health with compose's heartbeat check, and stops it gracefully", () => {
      const worker = find(overlay, 'Deployment', 'meteorites-worker');
      const [c] = podSpec(worker).containers;
      const check = compose.services.worker!.healthcheck.test.slice(1);
      expect(c.livenessProbe.exec.command).toEqual(check);
      expect(c.startupProbe.exec.command).toEqual(check);
      const grace = podSpec(worker).terminationGracePeriodSeconds;
      expect(grace).toBeGreaterThan(loadConfig(environment(overlay, c)).WORKER_SHUTDOWN_GRACE_MS / 1000);
      expect(grace).toBeGreaterThan(loadConfig({}).WORKER_SHUTDOWN_GRACE_MS / 1000);
    });

    it('keeps two API replicas behind a Service and a PodDisruptionBudget', () => {
      const api = find(overlay, 'Deployment', 'meteorites-api');
      const labels = api.spec.template.metadata.labels;
      expect(api.spec.replicas).toBe(2);
      expect(api.spec.selector.matchLabels).toEqual(labels);
      expect(find(overlay, 'Service', 'meteorites-api').spec.selector).toEqual(labels);
      const pdb = find(overlay, 'PodDisruptionBudget', 'meteorites-api');
      expect(pdb.spec.selector.matchLabels).toEqual(labels);
      expect(pdb.spec.minAvailable).toBeLessThan(api.spec.replicas);
    });

    it('scales the workers with KEDA on the queue list of keys.ts, 1 to 20, authenticated from the Secret', () => {
      const so = find(overlay, 'ScaledObject', 'meteorites-worker');
      expect(so.spec.scaleTargetRef.name).toBe('meteorites-worker');
      find(overlay, 'Deployment', so.spec.scaleTargetRef.name);
      expect([so.spec.minReplicaCount, so.spec.maxReplicaCount]).toEqual([1, 20]);
      expect(so.spec.triggers).toHaveLength(1);
      const [trigger] = so.spec.triggers;
      // In cluster mode every key carries the cluster's hash tag.
      expect(trigger.metadata.listName).toBe(overlay === 'cluster' ? buildKeys({ hashTag: CLUSTER_HASH_TAG }).jobsQueue : keys.jobsQueue);
      // listLength is one worker's jobs per second in bench/results/workers.json (see keda.yaml).
      const bench = JSON.parse(read('bench/results/workers.json')) as { best: { workers: number; jobs_per_s: number }[] };
      const perWorker = bench.best.find((b) => b.workers === 1)!.jobs_per_s;
      expect(Number(trigger.metadata.listLength)).toBeGreaterThan(perWorker * 0.75);
      expect(Number(trigger.metadata.listLength)).toBeLessThan(perWorker * 1.25);
      const auth = find(overlay, 'TriggerAuthentication', trigger.authenticationRef.name);
      for (const ref of auth.spec.secretTargetRef) expect(find(overlay, 'Secret', ref.name).stringData[ref.key], ref.key).toBeTruthy();
      expect(auth.spec.secretTargetRef.map((r: Loose) => r.parameter)).toContain('password');
      const type = { sentinel: 'redis-sentinel', cluster: 'redis-cluster' }[overlay] ?? 'redis';
      expect(trigger.type).toBe(type);
      for (const key of Object.keys(trigger.metadata)) expect(TRIGGER_KEYS[type], `${type} trigger: ${key}`).toContain(key);
    });

    it('locks down every container: non-root, read-only root, no escalation, no capabilities, seccomp', () => {
      for (const m of manifests.filter((x) => ['Deployment', 'StatefulSet'].includes(x.kind))) {
        const pod = podSpec(m);
        for (const c of containersOf(m) as Loose[]) {
          const where = `${m.metadata.name}/${c.name}`;
          const sc = c.securityContext;
          expect(sc, where).toBeDefined();
          expect(sc.allowPrivilegeEscalation, where).toBe(false);
          expect(sc.readOnlyRootFilesystem, where).toBe(true);
          expect(sc.capabilities?.drop, where).toEqual(['ALL']);
          expect(sc.capabilities?.add, where).toBeUndefined();
          expect(sc.privileged ?? false, where).toBe(false);
          expect(sc.runAsNonRoot ?? pod.securityContext?.runAsNonRoot, where).toBe(true);
          expect(sc.runAsUser ?? pod.securityContext?.runAsUser, where).toBeGreaterThan(0);
          expect((sc.seccompProfile ?? pod.securityContext?.seccompProfile)?.type, where).toBe('RuntimeDefault');
          // Requests to schedule by, and a memory limit (measured figures in docs/operations.md).
          expect(c.resources?.requests?.cpu, where).toBeDefined();
          expect(c.resources?.requests?.memory, where).toBeDefined();
          expect(c.resources?.limits?.memory, where).toBeDefined();
        }
        // A writable /tmp (tsx's compile cache, for the CLI run in a pod), which a read-only root would refuse.
        for (const c of containersOf(m).filter(isAppContainer) as Loose[]) {
          const tmp = c.volumeMounts?.find((v: Loose) => v.mountPath === '/tmp');
          expect(pod.volumes.find((v: Loose) => v.name === tmp?.name)?.emptyDir, `${m.metadata.name}: an emptyDir at /tmp`).toBeDefined();
        }
      }
    });

    it('lets only API, workers, Redis itself and KEDA reach Redis', () => {
      const policy = find(overlay, 'NetworkPolicy', 'redis-clients-only');
      expect(policy.spec.policyTypes).toEqual(['Ingress']);
      expect(policy.spec.ingress).toHaveLength(1);
      const from = policy.spec.ingress[0].from;
      for (const name of ['meteorites-api', 'meteorites-worker']) {
        const labels = find(overlay, 'Deployment', name).spec.template.metadata.labels;
        const allowed = from.some(
          (f: Loose) => !f.namespaceSelector && Object.entries(f.podSelector.matchLabels).every(([k, v]) => labels[k] === v),
        );
        expect(allowed, name).toBe(true);
      }
      for (const f of from)
        expect(f.namespaceSelector === undefined || f.namespaceSelector.matchLabels['kubernetes.io/metadata.name'] === 'keda').toBe(true);
      expect(policy.spec.ingress[0].ports.map((p: Loose) => p.port)).toContain(6379);
    });

    it('keeps only placeholders in Secrets', () => {
      for (const s of manifests.filter((m) => m.kind === 'Secret') as Loose[]) {
        expect(s.data, 'placeholders in stringData, readable').toBeUndefined();
        for (const [key, value] of Object.entries(s.stringData)) expect(value, key).toMatch(/placeholder/);
      }
    });
  });

  describe('single-redis', () => {
    const o = 'single-redis';
    const redis = find(o, 'StatefulSet', 'redis');
    const [c] = podSpec(redis).containers;

    it('runs redis:7 with AOF and the settings of every Redis the project starts, on a PersistentVolumeClaim', () => {
      expect(c.image).toBe('redis:7');
      const args = c.command.join(' ');
      expect(args).toMatch(/--appendonly yes\b/);
      expect(args).toContain(REDIS_SERVER_ARGS.join(' '));
      expect(args).toMatch(/--maxmemory-policy noeviction\b/);
      expect(c.command).toContain('$(REDIS_PASSWORD)');
      expect(c.env.find((e: Loose) => e.name === 'REDIS_PASSWORD').valueFrom.secretKeyRef.key).toBe('REDIS_PASSWORD');
      const data = c.volumeMounts.find((v: Loose) => v.mountPath === '/data');
      expect(redis.spec.volumeClaimTemplates.map((t: Loose) => t.metadata.name)).toContain(data.name);
    });

    it('is reached by its headless Service, at the address in REDIS_URL and in the KEDA trigger, and the policy covers it', () => {
      const svc = find(o, 'Service', redis.spec.serviceName);
      expect(svc.spec.clusterIP).toBe('None');
      expect(svc.spec.selector).toEqual(redis.spec.template.metadata.labels);
      const host = `${svc.metadata.name}.${svc.metadata.namespace}.svc.cluster.local`;
      const url = new URL(find(o, 'Secret', 'meteorites-secrets').stringData.REDIS_URL);
      expect(`${url.protocol}//${url.hostname}:${url.port}`).toBe(`redis://${host}:6379`);
      expect(decodeURIComponent(url.password)).toBe(find(o, 'Secret', 'meteorites-secrets').stringData.REDIS_PASSWORD);
      expect(find(o, 'ScaledObject', 'meteorites-worker').spec.triggers[0].metadata.address).toBe(`${host}:6379`);
      const selector = find(o, 'NetworkPolicy', 'redis-clients-only').spec.podSelector.matchLabels;
      for (const [k, v] of Object.entries(selector)) expect(redis.spec.template.metadata.labels[k]).toBe(v);
    });
  });

  it('sentinel: the service and KEDA ask the same Sentinels for the same primary', () => {
    const config = find('sentinel', 'ConfigMap', 'meteorites-config').data;
    const trigger = find('sentinel', 'ScaledObject', 'meteorites-worker').spec.triggers[0];
    expect(trigger.metadata.addresses).toBe(config.REDIS_SENTINELS);
    expect(trigger.metadata.sentinelMaster).toBe(config.REDIS_SENTINEL_MASTER);
    expect(trigger.metadata.address).toBeUndefined();
  });

  it('cluster: the service and KEDA start from the same cluster nodes', () => {
    const config = find('cluster', 'ConfigMap', 'meteorites-config').data;
    const trigger = find('cluster', 'ScaledObject', 'meteorites-worker').spec.triggers[0];
    expect(trigger.metadata.addresses).toBe(config.REDIS_CLUSTER_NODES);
    expect(trigger.metadata.address).toBeUndefined();
  });

  it('managed: REDIS_URL is rediss:// (TLS), and KEDA reaches the same endpoint over TLS', () => {
    const url = new URL(find('managed', 'Secret', 'meteorites-secrets').stringData.REDIS_URL);
    expect(url.protocol).toBe('rediss:');
    const trigger = find('managed', 'ScaledObject', 'meteorites-worker').spec.triggers[0];
    expect(trigger.metadata.address).toBe(`${url.hostname}:${url.port}`);
    expect(trigger.metadata.enableTLS).toBe('true');
    expect(manifestsOf('managed').some((m) => m.kind === 'StatefulSet')).toBe(false);
  });
});
