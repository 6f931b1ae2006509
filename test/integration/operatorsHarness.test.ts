// The operators harness is real (test/operators/README.md): for each operator of
// test/operators/operators.json, without the guard, installed from its own chart or manifests
// (Helm 3, Helm 4 or kubectl), its controller (the real program or its stand-in, as the
// workload's ServiceAccount) puts the finalizer on the samples where the operator does, with the
// real program's field manager where it adds it by update; deleting one such object while the
// controller runs gets the finalizer removed and the object gone; with the controller scaled to
// 0 a namespace holding the operator's objects, and for cluster-scoped types the CRD, hang on the
// finalizer, proven by the conditions the control plane writes; cleanup removes the finalizers by
// hand and leaves nothing behind. The operators run in parallel: none collides with another.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startControlPlane, type ControlPlane } from '../cluster/controlPlane.ts';
import { missingComponents } from '../cluster/paths.ts';
import { waitFor } from '../cluster/proc.ts';
import {
  cleanupOperator,
  deleteObject,
  finalizerManager,
  getObject,
  OperatorHarness,
  proveCrdStuck,
  proveNamespaceStuck,
  waitFinalizer,
  type FinalizedObject,
  type InstalledOperator,
} from '../operators/harness.ts';
import { loadManifest, operatorDataReady } from '../operators/manifest.ts';

interface Plan {
  install: { helm?: 3 | 4 };
  /** The kind copied once more and deleted while the controller runs. */
  victim: string;
  /** Kinds whose finalizer the controller adds by an update of its own (not a webhook, not the creator). */
  addedByController: string[];
  /** Cluster-scoped kinds whose CRD is deleted with the controller stopped. */
  crdStuck: string[];
  /** A ClusterRoleBinding of the controller taken away while it runs: it then gets 403 and removes nothing. */
  rbacGone?: string;
}

const plans: Record<string, Plan> = {
  kueue: { install: { helm: 4 }, victim: 'Workload', addedByController: [], crdStuck: ['ClusterQueue'] },
  'karpenter-kwok': { install: { helm: 3 }, victim: 'NodeClaim', addedByController: ['NodeClaim'], crdStuck: ['NodeClaim'], rbacGone: 'karpenter-core' },
  flagger: { install: { helm: 4 }, victim: 'Canary', addedByController: ['Canary'], crdStuck: [] },
  crossplane: {
    install: { helm: 3 },
    victim: 'XWidget',
    addedByController: ['CompositeResourceDefinition', 'XWidget'],
    crdStuck: ['CompositeResourceDefinition'],
  },
  argocd: { install: {}, victim: 'Application', addedByController: [], crdStuck: [] },
  'flux-helm-controller': { install: { helm: 4 }, victim: 'HelmRelease', addedByController: ['HelmRelease'], crdStuck: [] },
};

describe('real operators through the harness, without the guard', () => {
  let cp: ControlPlane | undefined;
  let harness: OperatorHarness | undefined;
  const timings: Record<string, Record<string, number>> = {};
  const started = Date.now();

  beforeAll(async () => {
    const missing = missingComponents(['etcd', 'kube-apiserver', 'kube-controller-manager', 'kubectl', 'helm3', 'helm4', 'helm-controller']);
    for (const op of loadManifest().operators) if (!operatorDataReady(op)) missing.push(`${op.name} data`);
    if (missing.length) throw new Error(`pinned components missing (${missing.join(', ')}): run \`npm run build:binaries\` first`);
    cp = await startControlPlane({ log: () => {} });
    harness = new OperatorHarness(cp);
  }, 120_000);

  afterAll(async () => {
    await harness?.stop();
    await cp?.stop();
    console.log(`[operators-harness] total ${Date.now() - started} ms; per operator (ms): ${JSON.stringify(timings)}`);
  }, 60_000);

  it('plans every operator of the manifest', () => {
    expect(Object.keys(plans).sort()).toEqual(
      loadManifest()
        .operators.map((o) => o.name)
        .sort(),
    );
  });

  for (const spec of loadManifest().operators) {
    const plan = plans[spec.name]!;
    const hangs = [...(spec.finalized.some((f) => f.scope === 'Namespaced') ? ['the namespace'] : []), ...(plan.crdStuck.length ? ['the CRD'] : [])];
    it.concurrent(
      `${spec.displayName}: finalizer added and removed by its controller; stopped, ${hangs.join(' and ')} ${hangs.length > 1 ? 'hang' : 'hangs'}`,
      async () => {
        const c = cp!;
        const t: Record<string, number> = {};
        timings[spec.name] = t;
        let t0 = Date.now();
        const lap = (what: string) => {
          t[what] = Date.now() - t0;
          t0 = Date.now();
        };
        let op: InstalledOperator | undefined;
        const appNs = spec.install.fixedNamespace ? spec.install.namespace : `${spec.name}-apps`;
        try {
          op = await harness!.install(spec.name, plan.install);
          await op.waitRunning();
          lap('install');
          // The workloads are the ones operators.json names for the chart's release name.
          for (const w of spec.workloads) {
            expect(
              op.workloads.find((x) => x.spec === w),
              w.name,
            ).toMatchObject({ kind: w.kind, name: w.name, serviceAccount: w.serviceAccount });
          }

          if (!spec.install.fixedNamespace) expect((await c.kubectl(['create', 'namespace', appNs])).code).toBe(0);
          const samples = await op.createSamples(appNs);
          expect(samples.map((o) => o.kind).sort()).toEqual([...new Set(spec.finalized.map((f) => f.sampleKind?.kind ?? f.kind))].sort());
          for (const o of samples) await waitFinalizer(c, o, true);
          for (const o of samples.filter((x) => plan.addedByController.includes(x.kind))) {
            expect(await finalizerManager(c, o), `${o.kind} ${o.name}: the manager that set metadata.finalizers`).toBe(op.controller.spec.fieldManager);
          }
          lap('samples');

          // Deleting one while the controller runs: it finalizes it and the object goes.
          const [victim] = await op.createSamples(appNs, { kinds: [plan.victim], nameSuffix: '-2' });
          expect(victim?.kind).toBe(plan.victim);
          await waitFinalizer(c, victim!, true);
          await deleteObject(c, victim!);
          await waitFinalizer(c, victim!, false);
          lap('finalized');

          // It acts as its ServiceAccount: with its RBAC gone it is refused and the finalizer stays; back, it goes.
          if (plan.rbacGone) {
            const crbPath = `/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/${plan.rbacGone}`;
            const crb = await c.client.must<{ metadata: Record<string, unknown>; roleRef: unknown; subjects: unknown }>('GET', crbPath);
            const [held] = await op.createSamples(appNs, { kinds: [plan.victim], nameSuffix: '-3' });
            await waitFinalizer(c, held!, true);
            await c.client.must('DELETE', crbPath);
            await deleteObject(c, held!);
            await waitFor(`the controller refused on ${held!.name}`, 60_000, () =>
              op!
                .programLog()
                .split('\n')
                .some((l) => l.includes(held!.name) && l.includes(': 403 '))
                ? true
                : undefined,
            );
            const live = await getObject(c, held!);
            expect(live?.metadata.deletionTimestamp).toBeTruthy();
            expect(live?.metadata.finalizers).toContain(held!.finalizer);
            await c.client.must('POST', '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', {
              body: {
                apiVersion: 'rbac.authorization.k8s.io/v1',
                kind: 'ClusterRoleBinding',
                metadata: { name: plan.rbacGone, labels: crb.metadata.labels, annotations: crb.metadata.annotations },
                roleRef: crb.roleRef,
                subjects: crb.subjects,
              },
            });
            await waitFinalizer(c, held!, false);
            lap('rbac');
          }

          // The controller stopped: the namespace and (cluster-scoped types) the CRD hang on it.
          await op.scale(0);
          expect(harness!.supervisor.isRunning(op.controller.namespace, op.controller.name)).toBe(false);
          const inNs = samples.filter((o: FinalizedObject) => o.namespace === appNs);
          if (inNs.length) {
            expect((await c.kubectl(['delete', 'namespace', appNs, '--wait=false'])).code).toBe(0);
            const proof = await proveNamespaceStuck(c, appNs, inNs);
            expect(proof.holding.map((h) => h.ref).sort()).toEqual(inNs.map((o) => `${o.kind} ${appNs}/${o.name}`).sort());
          }
          for (const kind of plan.crdStuck) {
            const o = samples.find((x) => x.kind === kind)!;
            expect(o.scope).toBe('Cluster');
            expect((await c.kubectl(['delete', 'crd', `${o.resource}.${o.group}`, '--wait=false'])).code).toBe(0);
            const proof = await proveCrdStuck(c, o);
            expect(proof.holding.map((h) => h.ref)).toContain(o.name);
          }
          lap('stuck');
        } finally {
          if (op) await cleanupOperator(c, op, [appNs]);
          lap('cleanup');
        }
      },
      360_000,
    );
  }
});
