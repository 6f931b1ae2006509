// Section inference: what policy inferred-finalizers costs on a namespace DELETE (issue 14, item 6).
// On its own control plane: `namespaces` namespaces (10,000 at scale 1) and `crds` CRDs (200), each
// a namespaced kind of its own API group, so a sweep of one namespace lists about 250 types. One app
// namespace holds objects of the first CRD carrying a finalizer of that group's domain; the
// controller's ServiceAccount is granted that group by name and a Deployment runs as it, so a
// review walks the whole inference (sweep, grants, workloads) and stays silent. The admission
// engine runs in this process over a KubeClusterView of the cluster, with olm-orphaned-finalizers
// and helm-uninstall-namespace on, and the namespace checks that read live (inferred-finalizers,
// apiservice-backends, webhook-backends: one shared sweep) off or warn, alternating per repetition
// so drift hits both alike.
import { KubeConfig } from '@kubernetes/client-node';
import { performance } from 'node:perf_hooks';
import { createAdmissionHandler } from '../../src/admission/engine.ts';
import { createKubeClusterView } from '../../src/cluster/kubeClusterView.ts';
import { OLM_CSV_CLEANUP_GUARD } from '../../src/olm/finalizerGuards.ts';
import { builtinPolicies } from '../../src/policies/index.ts';
import { startControlPlane } from '../cluster/controlPlane.ts';
import { waitFor } from '../cluster/proc.ts';
import { review } from '../support/admissionRequests.ts';
import { namespace } from '../support/clusterState.ts';
import { TEST_SETTINGS } from '../support/decide.ts';
import { adminClients, createMany, type CreateRequest } from './populate.ts';
import { median } from './stats.ts';

export interface InferenceResult {
  namespaces: number;
  crds: number;
  off: number[];
  warn: number[];
  /** Live reads per review with inference on (the view's counter). */
  liveCallsPerReview: number;
  verdicts: string[];
}

const APP_NS = 'tgb-inf-app';
const OP_NS = 'tgb-inf-op';
const group = (i: number) => `g${i}.bench-example.io`;

function crd(i: number): CreateRequest {
  const g = group(i);
  return {
    method: 'POST',
    path: '/apis/apiextensions.k8s.io/v1/customresourcedefinitions',
    body: {
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name: `widgets.${g}` },
      spec: {
        group: g,
        scope: 'Namespaced',
        names: { plural: 'widgets', singular: 'widget', kind: 'Widget', listKind: 'WidgetList' },
        versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } }],
      },
    },
  };
}

const post = (path: string, body: unknown): CreateRequest => ({ method: 'POST', path, body });

export async function benchInference(o: {
  scale: number;
  reps: number;
  perMode: number;
  concurrency: number;
  log: (line: string) => void;
}): Promise<InferenceResult> {
  const namespaces = Math.max(10, Math.round(10_000 * o.scale));
  const crds = 200;
  const cp = await startControlPlane({ olm: 'crds', log: () => {} });
  try {
    const clients = adminClients(cp, Math.max(1, Math.ceil(o.concurrency / 8)));
    const run = { concurrency: o.concurrency, deadline: Date.now() + 30 * 60_000, log: o.log };
    await createMany(
      clients,
      'namespaces',
      namespaces,
      (i) => post('/api/v1/namespaces', { metadata: { name: `tgb-inf-${String(i).padStart(5, '0')}` } }),
      run,
    );
    await createMany(clients, 'CRDs', crds, crd, run);
    await waitFor(
      'every CRD served',
      180_000,
      async () => {
        const last = await cp.client.get(`/apis/${group(crds - 1)}/v1`);
        return last ? true : undefined;
      },
      500,
    );
    const setup: CreateRequest[] = [
      post('/api/v1/namespaces', { metadata: { name: APP_NS } }),
      post('/api/v1/namespaces', { metadata: { name: OP_NS } }),
      post(`/api/v1/namespaces/${OP_NS}/serviceaccounts`, { metadata: { name: 'widget-operator' } }),
      post('/apis/rbac.authorization.k8s.io/v1/clusterroles', {
        metadata: { name: 'tgb-widget-operator' },
        rules: [{ apiGroups: [group(0)], resources: ['*'], verbs: ['*'] }],
      }),
      post('/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', {
        metadata: { name: 'tgb-widget-operator' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'tgb-widget-operator' },
        subjects: [{ kind: 'ServiceAccount', namespace: OP_NS, name: 'widget-operator' }],
      }),
      post(`/apis/apps/v1/namespaces/${OP_NS}/deployments`, {
        metadata: { name: 'widget-operator' },
        spec: {
          replicas: 1,
          selector: { matchLabels: { app: 'widget-operator' } },
          template: {
            metadata: { labels: { app: 'widget-operator' } },
            spec: { serviceAccountName: 'widget-operator', containers: [{ name: 'op', image: 'widget-operator:bench' }] },
          },
        },
      }),
      ...Array.from({ length: 5 }, (_, i) =>
        post(`/apis/${group(0)}/v1/namespaces/${APP_NS}/widgets`, {
          apiVersion: `${group(0)}/v1`,
          kind: 'Widget',
          metadata: { name: `w${i}`, finalizers: ['cleanup.bench-example.io'] },
        }),
      ),
    ];
    await createMany(clients, 'app and controller', setup.length, (i) => setup[i] as CreateRequest, { ...run, concurrency: 1 });

    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(cp.kubeconfigPath);
    const view = createKubeClusterView({ kubeConfig, finalizerGuards: [OLM_CSV_CLEANUP_GUARD], liveTimeoutMs: 1500 });
    view.start();
    try {
      if (!(await view.waitForSync(120_000))) throw new Error('inference bench: the cluster view did not sync in 120 s');
      const handler = (inferred: 'off' | 'warn') =>
        createAdmissionHandler({
          policies: builtinPolicies(),
          view,
          settings: TEST_SETTINGS,
          // The three namespace checks that read live on every namespace DELETE, toggled together.
          modes: {
            'olm-orphaned-finalizers': 'enforce',
            'helm-uninstall-namespace': 'warn',
            'inferred-finalizers': inferred,
            'apiservice-backends': inferred,
            'webhook-backends': inferred,
          },
          undecided: 'allow',
          reviewBudgetMs: 1500,
        });
      const handlers = { off: handler('off'), warn: handler('warn') };
      const result: InferenceResult = { namespaces, crds, off: [], warn: [], liveCallsPerReview: 0, verdicts: [] };
      const verdicts = new Set<string>();
      let liveCalls = 0;
      let onReviews = 0;
      for (let rep = 0; rep < o.reps; rep++) {
        for (const mode of rep % 2 === 0 ? (['off', 'warn'] as const) : (['warn', 'off'] as const)) {
          for (let i = 0; i < o.perMode; i++) {
            const before = view.counters().live.calls;
            const t0 = performance.now();
            const r = await handlers[mode](review('DELETE', namespace(APP_NS), { dryRun: true }));
            result[mode].push(performance.now() - t0);
            if (!r.ok) throw new Error(`inference bench: ${r.error}`);
            if (mode === 'warn') {
              liveCalls += view.counters().live.calls - before;
              onReviews++;
              for (const d of r.decisions) if (d.policy === 'inferred-finalizers') verdicts.add(d.verdict);
            }
          }
        }
        o.log(`rep ${rep + 1}/${o.reps}: off p50 ${median(result.off).toFixed(1)} ms, warn p50 ${median(result.warn).toFixed(1)} ms`);
      }
      result.liveCallsPerReview = liveCalls / Math.max(1, onReviews);
      result.verdicts = [...verdicts];
      return result;
    } finally {
      await view.stop();
    }
  } finally {
    await cp.stop();
  }
}
