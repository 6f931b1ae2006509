import { describe, expect, it } from 'vitest';
import { review } from '../../test/support/admissionRequests.ts';
import { PIXIE_MANIFEST, csv, namespace, olmBinding, olmCluster, olmDeployment, releaseSecret } from '../../test/support/clusterState.ts';
import { decide } from '../../test/support/decide.ts';
import type { FinalizerGuard } from './settings.ts';

const deleteNs = (name: string, terminating = false, dryRun = false) => review('DELETE', namespace(name, terminating), { dryRun });

describe('olm-orphaned-finalizers: DELETE namespace', () => {
  it('allows deleting an operator namespace while OLM is alive (confirmed by a live read)', async () => {
    const { response, liveCalls } = await decide(deleteNs('px-operator'), olmCluster());
    expect(response.allowed).toBe(true);
    expect(response.warnings).toBeUndefined();
    expect(liveCalls).toBeGreaterThan(0);
  });

  it('denies when olm-operator is gone, naming the CSV, the finalizer, why, and the fix', async () => {
    const cluster = olmCluster();
    cluster.deployments = [];
    const { response, decisions } = await decide(deleteNs('px-operator'), cluster);
    expect(response.allowed).toBe(false);
    expect(response.status?.code).toBe(403);
    const msg = response.status?.message ?? '';
    expect(msg).toContain('ClusterServiceVersion px-operator/pixie-operator.v0.1.0');
    expect(msg).toContain('operators.coreos.com/csv-cleanup');
    expect(msg).toContain('no Deployment matching app=olm-operator');
    expect(msg).toContain(
      `kubectl patch clusterserviceversions.operators.coreos.com pixie-operator.v0.1.0 -n px-operator --type=merge -p '{"metadata":{"finalizers":null}}'`,
    );
    expect(msg).toContain('olm.owner=pixie-operator.v0.1.0,olm.owner.namespace=px-operator,olm.owner.kind=ClusterServiceVersion');
    expect(msg).toContain('teardown-guard.io/break-glass');
    // Two alternatives, numbered; the manual one's commands indented under it, not numbered as steps.
    expect(msg).toMatch(
      /\n {2}1\. Bring OLM olm-operator back[^\n]*\n {2}2\. Or, if it is never coming back: [^\n]*\n {5}kubectl patch clusterserviceversions/,
    );
    expect(msg).toContain('\n     kubectl delete namespace px-operator');
    expect(msg).not.toMatch(/\n {2}3\. /);
    expect(decisions).toContainEqual(expect.objectContaining({ policy: 'olm-orphaned-finalizers', verdict: 'deny', reason: 'namespace-strands-finalizers' }));
    expect(JSON.parse(response.auditAnnotations?.['olm-orphaned-finalizers'] ?? '{}')).toMatchObject({ verdict: 'deny', mode: 'enforce' });
  });

  it('denies when the cache still shows olm-operator but a live read finds it deleted (Helm deletes it milliseconds earlier)', async () => {
    const { response } = await decide(deleteNs('px-operator'), olmCluster(), { live: { deployments: [] } });
    expect(response.allowed).toBe(false);
    expect(response.status?.message).toContain('Deployment olm/olm-operator no longer exists');
  });

  it.each([
    ['has no available replicas', { available: 0, replicas: 0 }],
    ['has no available replicas', { available: 0, conditions: [{ type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded' }] }],
    ['is being deleted', { deleting: true }],
  ])('denies when olm-operator %s', async (why, opts) => {
    const cluster = olmCluster();
    cluster.deployments = [olmDeployment('olm', opts)];
    const { response } = await decide(deleteNs('px-operator'), cluster);
    expect(response.allowed).toBe(false);
    expect(response.status?.message).toContain(why);
  });

  it('denies when the namespace hosting olm-operator is Terminating', async () => {
    const cluster = olmCluster();
    cluster.namespaces = cluster.namespaces.map((n) => (n.metadata?.name === 'olm' ? namespace('olm', true) : n));
    const { response } = await decide(deleteNs('px-operator'), cluster);
    expect(response.status?.message).toContain('the namespace of Deployment olm/olm-operator is Terminating');
  });

  it("allows it while olm-operator runs, even though its release says uninstalling (Pixie's pre-delete hook)", async () => {
    // Helm writes `uninstalling` before the pre-delete hooks: OLM still runs while the hook
    // deletes px-operator, and removes the finalizer.
    const cluster = olmCluster();
    cluster.deployments = [olmDeployment('olm', { release: 'pixie' })];
    cluster.releaseRecords = [releaseSecret('olm', 'pixie', 1, 'uninstalling', PIXIE_MANIFEST)];
    const { response, decisions } = await decide(deleteNs('px-operator'), cluster);
    expect(response.allowed).toBe(true);
    expect(response.warnings).toBeUndefined();
    expect(decisions.every((d) => d.verdict === 'allow')).toBe(true);
  });

  it('allows, with a warning that it will wait, while olm-operator is coming back (rollout, drain)', async () => {
    const cluster = olmCluster();
    cluster.deployments = [olmDeployment('olm', { available: 0, conditions: [{ type: 'Progressing', status: 'True', reason: 'ReplicaSetUpdated' }] })];
    const { response } = await decide(deleteNs('px-operator'), cluster);
    expect(response.allowed).toBe(true);
    const warning = response.warnings?.join('\n') ?? '';
    expect(warning).toContain('namespace px-operator will stay Terminating until OLM olm-operator is available again');
  });

  it('denies when no ClusterRoleBinding grants olm-operator its ClusterRole', async () => {
    const cluster = olmCluster();
    cluster.clusterRoles = [];
    const { response } = await decide(deleteNs('px-operator'), cluster);
    expect(response.status?.message).toContain('no ClusterRoleBinding grants ServiceAccount olm/olm-operator-serviceaccount');
  });

  it("denies deleting OLM's own namespace while packageserver's CSV carries the finalizer", async () => {
    const { response } = await decide(deleteNs('olm'), olmCluster());
    expect(response.allowed).toBe(false);
    const msg = response.status?.message ?? '';
    expect(msg).toContain('ClusterServiceVersion olm/packageserver');
    expect(msg).toContain('lives in namespace olm, which this request deletes');
  });

  it('never denies a namespace that is already Terminating (repeat DELETEs, the namespace controller)', async () => {
    const cluster = olmCluster();
    cluster.deployments = [];
    const { response, liveCalls } = await decide(deleteNs('px-operator', true), cluster);
    expect(response.allowed).toBe(true);
    expect(response.warnings).toBeUndefined();
    expect(liveCalls).toBe(0);
  });

  it('never denies for copied CSVs (they carry no finalizer)', async () => {
    const cluster = olmCluster();
    cluster.deployments = [];
    cluster.objects['operators.coreos.com/clusterserviceversions'] = [csv('px-operator', 'pixie-operator.v0.1.0', { copied: true })];
    const { response } = await decide(deleteNs('px-operator'), cluster);
    expect(response.allowed).toBe(true);
  });

  it.each(['kube-system', 'teardown-guard'])('never denies deleting %s', async (ns) => {
    const cluster = olmCluster();
    cluster.deployments = [];
    cluster.objects['operators.coreos.com/clusterserviceversions'] = [csv(ns, 'x.v1')];
    const { response } = await decide(deleteNs(ns), cluster);
    expect(response.allowed).toBe(true);
  });

  it('gives a dry-run DELETE the same answer as a real one', async () => {
    const cluster = olmCluster();
    cluster.deployments = [];
    const real = await decide(deleteNs('px-operator'), cluster);
    const dry = await decide(deleteNs('px-operator', false, true), cluster);
    expect(dry.response.allowed).toBe(real.response.allowed);
    expect(dry.response.status?.message).toBe(real.response.status?.message);
    expect(dry.decisions[0]?.dryRun).toBe(true);
  });
});

describe('olm-orphaned-finalizers: DELETE of an object carrying the finalizer', () => {
  it('denies deleting a CSV with csv-cleanup when olm-operator is gone (Helm deletes CSVs last, after the namespace)', async () => {
    const cluster = olmCluster();
    cluster.deployments = [];
    const { response } = await decide(review('DELETE', csv('px-operator', 'pixie-operator.v0.1.0')), cluster);
    expect(response.allowed).toBe(false);
    expect(response.status?.message).toContain('deleting ClusterServiceVersion px-operator/pixie-operator.v0.1.0 would leave it Terminating forever');
  });

  it('allows it while OLM is alive, and always for copied CSVs or ones already being deleted', async () => {
    expect((await decide(review('DELETE', csv('px-operator', 'p.v1')), olmCluster())).response.allowed).toBe(true);
    const gone = olmCluster();
    gone.deployments = [];
    expect((await decide(review('DELETE', csv('px-operator', 'p.v1', { copied: true })), gone)).response.allowed).toBe(true);
    expect((await decide(review('DELETE', csv('px-operator', 'p.v1', { deleting: true })), gone)).response.allowed).toBe(true);
  });
});

describe('olm-orphaned-finalizers: deleting the controller itself', () => {
  const deleteDeployment = () => review('DELETE', olmDeployment('olm'));

  it('warns (does not deny) when CSVs with the finalizer merely exist', async () => {
    const { response } = await decide(deleteDeployment(), olmCluster());
    expect(response.allowed).toBe(true);
    expect(response.warnings?.join('\n')).toContain('Deleting Deployment olm/olm-operator leaves 2 object(s) with operators.coreos.com/csv-cleanup');
  });

  it('warns when a Helm uninstall removes a running olm-operator but not the namespaces holding CSVs', async () => {
    const cluster = olmCluster();
    cluster.deployments = [olmDeployment('olm', { release: 'pixie' })];
    cluster.objects['operators.coreos.com/clusterserviceversions'] = [csv('px-operator', 'pixie-operator.v0.1.0')];
    const olmOnly = PIXIE_MANIFEST.split('\n---')
      .filter((d) => !d.includes('px-operator'))
      .join('\n---');
    cluster.releaseRecords = [releaseSecret('olm', 'pixie', 1, 'uninstalling', olmOnly)];
    const { response } = await decide(review('DELETE', olmDeployment('olm', { release: 'pixie' })), cluster);
    expect(response.status?.message).toBeUndefined();
    expect(response.allowed).toBe(true);
    expect(response.warnings?.join('\n')).toContain('leaves 1 object(s) with operators.coreos.com/csv-cleanup and no controller');
  });

  it('holds back the controller when the same uninstall also deletes a namespace holding CSVs, and says to run it again', async () => {
    const cluster = olmCluster();
    cluster.objects['operators.coreos.com/clusterserviceversions'] = [csv('px-operator', 'pixie-operator.v0.1.0')];
    cluster.deployments = [olmDeployment('olm', { release: 'pixie' })];
    cluster.releaseRecords = [releaseSecret('olm', 'pixie', 1, 'uninstalling', PIXIE_MANIFEST)];
    const requests = [
      review('DELETE', olmDeployment('olm', { release: 'pixie' })),
      review('DELETE', { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'system:controller:operator-lifecycle-manager' } }),
      review('DELETE', olmBinding('olm')),
      review('DELETE', { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'olm-operator-serviceaccount', namespace: 'olm' } }),
    ];
    for (const body of requests) {
      const { response, decisions } = await decide(body, cluster);
      const what = body.request?.kind.kind ?? '';
      expect(response.allowed, what).toBe(false);
      expect(decisions.map((d) => d.reason).join(','), what).toContain('uninstall-removes-controller-first');
      const warnings = response.warnings?.join('\n') ?? '';
      // Helm prints warnings without --debug: the reason and the retry must be there.
      expect(warnings, what).toContain('DENIED: held back');
      expect(warnings, what).toContain('run the uninstall again once px-operator is gone');
      expect(warnings, what).toContain('--dry-run=server');
      expect(response.status?.message, what).toContain('helm uninstall pixie -n olm');
    }
    // In warn mode the removal goes ahead, and its warning must not say it was held back.
    const warned = await decide(requests[0]!, cluster, { modes: { 'olm-orphaned-finalizers': 'warn' } });
    expect(warned.response.allowed).toBe(true);
    expect(warned.response.warnings?.join('\n')).toContain(
      '[olm-orphaned-finalizers] not held back: px-operator may hang in Terminating, as this uninstall removes',
    );
    // The namespace itself goes while OLM runs.
    expect((await decide(deleteNs('px-operator'), cluster)).response.allowed).toBe(true);
  });

  it('only warns when the uninstalling record is stale (a failed uninstall hours ago), and says so', async () => {
    const cluster = olmCluster();
    cluster.objects['operators.coreos.com/clusterserviceversions'] = [csv('px-operator', 'pixie-operator.v0.1.0')];
    cluster.deployments = [olmDeployment('olm', { release: 'pixie' })];
    const modifiedAt = String(Math.floor(Date.now() / 1000) - 5 * 3600);
    cluster.releaseRecords = [releaseSecret('olm', 'pixie', 1, 'uninstalling', PIXIE_MANIFEST, {}, { labels: { modifiedAt } })];
    const { response } = await decide(review('DELETE', olmDeployment('olm', { release: 'pixie' })), cluster);
    expect(response.allowed).toBe(true);
    expect(response.warnings?.join('\n')).toContain('leaves 1 object(s)');
    expect(JSON.stringify(response)).not.toContain('uninstall-removes-controller-first');
    expect(response.auditAnnotations?.['olm-orphaned-finalizers']).toBeDefined();
  });

  it('denies removing OLM while an operator namespace deleted just before is Terminating (kubectl delete ns A B)', async () => {
    const cached = olmCluster();
    cached.namespaces = cached.namespaces.map((n) => (n.metadata?.name === 'px-operator' ? namespace('px-operator', true) : n));
    const fromCache = await decide(deleteNs('olm'), cached);
    expect(fromCache.response.allowed).toBe(false);
    expect(fromCache.decisions.map((d) => d.reason).join(',')).toContain('controller-removed-while-finalizing');
    // The cache has not seen px-operator go Terminating yet: the live read has.
    const lagging = await decide(deleteNs('olm'), olmCluster(), { live: { objects: new Map([['Namespace px-operator', 'deleting' as const]]) } });
    expect(lagging.response.allowed).toBe(false);
    expect(lagging.response.status?.message).toContain('ClusterServiceVersion px-operator/pixie-operator.v0.1.0');
  });

  it('denies while a CSV carrying the finalizer is already being deleted', async () => {
    const cluster = olmCluster();
    cluster.objects['operators.coreos.com/clusterserviceversions'] = [csv('px-operator', 'pixie-operator.v0.1.0', { deleting: true })];
    const { response } = await decide(deleteDeployment(), cluster);
    expect(response.allowed).toBe(false);
    expect(response.status?.message).toContain('wait for it to remove operators.coreos.com/csv-cleanup');
  });

  it('allows when another live olm-operator instance remains', async () => {
    const cluster = olmCluster();
    cluster.objects['operators.coreos.com/clusterserviceversions'] = [csv('px-operator', 'p.v1', { deleting: true })];
    cluster.deployments.push(olmDeployment('operator-lifecycle-manager'));
    cluster.clusterRoleBindings.push(olmBinding('operator-lifecycle-manager'));
    const { response } = await decide(deleteDeployment(), cluster);
    expect(response.allowed).toBe(true);
    expect(response.warnings).toBeUndefined();
  });

  it('treats deleting the ClusterRoleBinding like deleting the controller', async () => {
    const cluster = olmCluster();
    cluster.objects['operators.coreos.com/clusterserviceversions'] = [csv('px-operator', 'p.v1', { deleting: true })];
    const { response } = await decide(review('DELETE', olmBinding('olm')), cluster);
    expect(response.allowed).toBe(false);
    expect(response.status?.message).toContain('Deleting ClusterRoleBinding olm-operator-binding-olm');
  });

  it('treats deleting the ClusterRole like deleting the controller', async () => {
    const cluster = olmCluster();
    cluster.objects['operators.coreos.com/clusterserviceversions'] = [csv('px-operator', 'p.v1', { deleting: true })];
    const role = { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'system:controller:operator-lifecycle-manager' } };
    const { response } = await decide(review('DELETE', role), cluster);
    expect(response.allowed).toBe(false);
  });

  it('ignores Deployments that are not a guarded controller', async () => {
    const other = { ...olmDeployment('olm'), metadata: { name: 'web', namespace: 'olm', labels: { app: 'web' } } };
    const { response, decisions } = await decide(review('DELETE', other), olmCluster());
    expect(response.allowed).toBe(true);
    expect(decisions.find((d) => d.policy === 'olm-orphaned-finalizers')?.verdict ?? 'allow').toBe('allow');
  });
});

describe('olm-orphaned-finalizers: beyond OLM, a configured finalizer guard', () => {
  const certManagerGuard: FinalizerGuard = {
    finalizer: 'example.io/cleanup',
    resource: { group: 'example.io', version: 'v1', resource: 'widgets', kind: 'Widget', namespaced: true },
    controller: { displayName: 'widget-controller', deploymentSelector: 'app.kubernetes.io/name=widget-controller', requireClusterRoleBinding: false },
  };

  it('denies deleting a namespace whose Widgets carry the finalizer when widget-controller is gone', async () => {
    const cluster = olmCluster();
    cluster.objects['example.io/widgets'] = [{ metadata: { name: 'w1', namespace: 'px-operator', finalizers: ['example.io/cleanup'] } }];
    const { response } = await decide(deleteNs('px-operator'), cluster, { guards: [certManagerGuard] });
    expect(response.allowed).toBe(false);
    expect(response.status?.message).toContain('Widget px-operator/w1 (finalizer example.io/cleanup)');
    expect(response.status?.message).toContain('no Deployment matching app.kubernetes.io/name=widget-controller (widget-controller) exists');
  });
});
