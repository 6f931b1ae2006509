// test/operators/operators.json against the charts and manifests it names: what each renders
// (pinned helm 3, with the manifest's values and release name, or the plain manifest) has the
// workloads the manifest lists, by kind, name, ServiceAccount and program, and ships its CRDs
// where the manifest says. Also the stand-ins' pure parts and the harness's readings of the
// control plane's condition messages. Needs the pinned helm and the operators' data
// (test/cluster/build-binaries.sh), no cluster.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { imageName } from '../cluster/olmSupervisor.ts';
import { binPath } from '../cluster/paths.ts';
import { finalizersInMessage, resourcesInMessage } from '../operators/harness.ts';
import { loadManifest, operatorDataReady, operatorPath, validateManifest, type OperatorSpec } from '../operators/manifest.ts';
import { renderCompositeCrd } from '../operators/standIn/crossplane.ts';
import { KUEUE_FINALIZER, webhookAnswer } from '../operators/standIn/kueue.ts';
import { programKey } from '../operators/supervisor.ts';

type Container = { image?: string; command?: string[]; args?: string[] };
type Doc = {
  kind?: string;
  metadata?: { name?: string; namespace?: string };
  spec?: { template?: { spec?: { serviceAccountName?: string; containers?: Container[] } } };
};

const work = mkdtempSync(join(tmpdir(), 'tg-operators-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const renders = new Map<string, Doc[]>();

/** What the operator's install renders, as documents (helm template of the chart, or the manifest). */
function rendered(op: OperatorSpec): Doc[] {
  if (!renders.has(op.name)) renders.set(op.name, render(op));
  return renders.get(op.name)!;
}

function render(op: OperatorSpec): Doc[] {
  let text: string;
  if (op.install.method === 'kubectl') {
    text = readFileSync(operatorPath(op, op.install.manifest!), 'utf8');
  } else {
    const values = join(work, `${op.name}.json`);
    writeFileSync(values, JSON.stringify(op.install.values));
    const chart = operatorPath(op, op.install.chart!);
    const r = spawnSync(binPath('helm3'), ['template', op.install.release!, chart, '-n', op.install.namespace, '-f', values], {
      encoding: 'utf8',
      maxBuffer: 64 << 20,
      env: { PATH: process.env.PATH, HOME: work, HELM_CACHE_HOME: work, HELM_CONFIG_HOME: work, HELM_DATA_HOME: work },
    });
    if (r.status !== 0) throw new Error(`helm template ${op.name}: exit ${r.status} ${r.error?.message ?? ''} ${r.stderr}`);
    text = r.stdout;
  }
  return parseAllDocuments(text)
    .map((d) => d.toJS() as Doc | null)
    .filter((d): d is Doc => Boolean(d?.kind));
}

const manifest = loadManifest();
// The project's own chart (Flux) is tested by the Flux scenarios; the others come from modules.
const fromModules = manifest.operators.filter((op) => !op.install.chart?.startsWith('@project:'));

describe('operators.json', () => {
  it('is complete and consistent', () => {
    expect(validateManifest(manifest)).toEqual([]);
  });

  it('covers the issue: five operators from their own charts or manifests, CRDs in crds/ and in templates/, a cluster-scoped finalized type, a StatefulSet controller, a bystander', () => {
    expect(fromModules.length).toBeGreaterThanOrEqual(5);
    expect(fromModules.some((o) => o.install.crds === 'crds')).toBe(true);
    expect(fromModules.some((o) => o.install.crds === 'templates')).toBe(true);
    expect(fromModules.some((o) => o.finalized.some((f) => f.scope === 'Cluster'))).toBe(true);
    expect(fromModules.some((o) => o.workloads.some((w) => w.role === 'controller' && w.kind === 'StatefulSet'))).toBe(true);
    expect(fromModules.some((o) => o.workloads.some((w) => w.role !== 'controller'))).toBe(true);
  });

  it('reports what is missing', () => {
    const op = structuredClone(fromModules[0]!);
    op.install.values = { ...op.install.values, unexplained: true };
    op.extract = [];
    op.workloads = op.workloads.filter((w) => w.role !== 'controller');
    const problems = validateManifest({ about: '', operators: [op] });
    expect(problems).toContain(`operator ${op.name}: value unexplained is not explained in valuesWhy`);
    expect(problems).toContain(`operator ${op.name}: nothing extracted`);
    expect(problems).toContain(`operator ${op.name}: no controller workload`);
  });

  it('gives every workload its own program key', () => {
    const keys = manifest.operators.flatMap((o) => o.workloads.map(programKey));
    expect(new Set(keys).size).toBe(keys.length);
  });

  for (const op of fromModules) {
    describe(`${op.displayName} ${op.module}@${op.version}`, () => {
      it('is extracted (build-binaries.sh)', () => {
        expect(operatorDataReady(op), 'run `npm run build:binaries`').toBe(true);
      });

      it('renders the workloads the manifest names, as their ServiceAccounts, running the named programs', () => {
        const docs = rendered(op);
        for (const w of op.workloads) {
          const d = docs.find((x) => x.kind === w.kind && x.metadata?.name === w.name);
          expect(d, `${w.kind} ${w.name}`).toBeDefined();
          expect(d!.spec?.template?.spec?.serviceAccountName ?? 'default').toBe(w.serviceAccount);
          const runs = (d!.spec?.template?.spec?.containers ?? []).some(
            (c) => imageName(c.image ?? '') === w.image && (w.arg0 === undefined || (c.command?.[0] ?? c.args?.[0]) === w.arg0),
          );
          expect(runs, `${w.kind} ${w.name} runs ${programKey(w)}`).toBe(true);
        }
      });

      it(`ships its CRDs where the manifest says (${op.install.crds})`, () => {
        const crdsInRender = rendered(op).filter((d) => d.kind === 'CustomResourceDefinition').length;
        const chartCrdsDir = op.install.chart ? join(operatorPath(op, op.install.chart), 'crds') : '';
        const crdsDir = chartCrdsDir && existsSync(chartCrdsDir) ? readdirSync(chartCrdsDir).length : 0;
        if (op.install.crds === 'crds') expect([crdsDir > 0, crdsInRender]).toEqual([true, 0]);
        if (op.install.crds === 'templates' || op.install.crds === 'manifest') expect([crdsDir, crdsInRender > 0]).toEqual([0, true]);
        if (op.install.crds === 'runtime') expect([crdsDir, crdsInRender]).toEqual([0, 0]);
      });
    });
  }
});

describe("Kueue stand-in's webhooks", () => {
  const review = (operation: string, finalizers?: string[]) => ({
    request: { uid: 'u1', operation, object: { metadata: { name: 'q', ...(finalizers ? { finalizers } : {}) } } },
  });
  const patchOf = (a: unknown) => {
    const r = (a as { response: { patch?: string; allowed: boolean } }).response;
    return r.patch ? (JSON.parse(Buffer.from(r.patch, 'base64').toString('utf8')) as unknown) : undefined;
  };

  it('the ClusterQueue and ResourceFlavor defaulters add the finalizer, as Kueue does on CREATE', () => {
    expect(patchOf(webhookAnswer('/mutate-kueue-x-k8s-io-v1beta2-clusterqueue', review('CREATE')))).toEqual([
      { op: 'add', path: '/metadata/finalizers', value: [KUEUE_FINALIZER] },
    ]);
    expect(patchOf(webhookAnswer('/mutate-kueue-x-k8s-io-v1beta2-resourceflavor', review('CREATE', ['other'])))).toEqual([
      { op: 'add', path: '/metadata/finalizers/-', value: KUEUE_FINALIZER },
    ]);
    expect(patchOf(webhookAnswer('/mutate-kueue-x-k8s-io-v1beta2-clusterqueue', review('CREATE', [KUEUE_FINALIZER])))).toBeUndefined();
  });

  it('other webhooks allow without a patch; conversion rewrites the apiVersion', () => {
    const v = webhookAnswer('/validate-kueue-x-k8s-io-v1beta2-workload', review('UPDATE')) as { response: { allowed: boolean; uid: string } };
    expect(v.response).toEqual({ uid: 'u1', allowed: true });
    expect(patchOf(webhookAnswer('/mutate-kueue-x-k8s-io-v1beta2-workload', review('CREATE')))).toBeUndefined();
    const c = webhookAnswer('/convert', {
      request: { uid: 'c1', desiredAPIVersion: 'kueue.x-k8s.io/v1beta1', objects: [{ apiVersion: 'kueue.x-k8s.io/v1beta2', metadata: { name: 'q' } }] },
    }) as { response: { convertedObjects: Array<{ apiVersion: string }>; result: { status: string } } };
    expect(c.response.convertedObjects.map((o) => o.apiVersion)).toEqual(['kueue.x-k8s.io/v1beta1']);
    expect(c.response.result.status).toBe('Success');
  });
});

describe("Crossplane stand-in's composite CRD", () => {
  const xrd = (scope?: 'Namespaced' | 'Cluster') => ({
    metadata: { name: 'xwidgets.example.org', uid: 'uid-1' },
    spec: {
      group: 'example.org',
      ...(scope ? { scope } : {}),
      names: { kind: 'XWidget', plural: 'xwidgets' },
      versions: [{ name: 'v1', served: true, referenceable: true, schema: { openAPIV3Schema: { type: 'object', properties: { spec: { type: 'object' } } } } }],
    },
  });

  it('is controlled by its XRD, named <plural>.<group>, scoped as the XRD says (LegacyCluster by default), the referenceable version stored, status kept open', () => {
    const crd = renderCompositeCrd(xrd('Namespaced')) as {
      metadata: { name: string; ownerReferences: Array<{ uid: string; controller: boolean }> };
      spec: {
        scope: string;
        names: { listKind: string };
        versions: Array<{ storage: boolean; schema: { openAPIV3Schema: { properties: Record<string, unknown> } } }>;
      };
    };
    expect(crd.metadata.name).toBe('xwidgets.example.org');
    expect(crd.metadata.ownerReferences).toEqual([expect.objectContaining({ uid: 'uid-1', controller: true })]);
    expect(crd.spec.scope).toBe('Namespaced');
    expect(crd.spec.names.listKind).toBe('XWidgetList');
    expect(crd.spec.versions[0]!.storage).toBe(true);
    expect(Object.keys(crd.spec.versions[0]!.schema.openAPIV3Schema.properties).sort()).toEqual(['spec', 'status']);
    expect((renderCompositeCrd(xrd()) as { spec: { scope: string } }).spec.scope).toBe('Cluster');
  });
});

describe("the namespace controller's messages", () => {
  // Shapes written by pkg/controller/namespace/deletion status_condition_utils.go ProcessContentTotals.
  it('name the finalizers and resources that remain', () => {
    expect(
      finalizersInMessage(
        'Some content in the namespace has finalizers remaining: finalizer.flagger.app in 1 resource instances, kueue.x-k8s.io/resource-in-use in 2 resource instances',
      ),
    ).toEqual(['finalizer.flagger.app', 'kueue.x-k8s.io/resource-in-use']);
    expect(resourcesInMessage('Some resources are remaining: canaries.flagger.app has 1 resource instances, pods. has 2 resource instances')).toEqual([
      'canaries.flagger.app',
      'pods.',
    ]);
  });
});
