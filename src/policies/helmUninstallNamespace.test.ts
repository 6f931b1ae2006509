import { describe, expect, it } from 'vitest';
import { ADMIN, review } from '../../test/support/admissionRequests.ts';
import { APP_MANIFEST, helmCluster, namespace, recordMeta, releaseSecret } from '../../test/support/clusterState.ts';
import { decide, TEST_SETTINGS } from '../../test/support/decide.ts';
import { createSnapshotView } from '../../test/support/snapshotView.ts';
import type { ClusterView } from '../cluster/view.ts';
import { formatRef, type KubeObject, type ObjectRef } from '../k8s/types.ts';
import { helmUninstallNamespace } from './helmUninstallNamespace.ts';

const exists = (...refs: string[]) => new Map(refs.map((r) => [r, 'exists' as const]));
const purge = (status = 'uninstalling', version = 2) => review('DELETE', releaseSecret('helm-test', 'web', version, status, APP_MANIFEST));

function helmOwned(kind: string, ns: string, name: string, release: string, releaseNs: string, extra: Record<string, string> = {}): KubeObject {
  const apiVersion = kind === 'Deployment' ? 'apps/v1' : 'v1';
  return {
    apiVersion,
    kind,
    metadata: {
      name,
      namespace: ns,
      labels: { 'app.kubernetes.io/managed-by': 'Helm' },
      annotations: { 'meta.helm.sh/release-name': release, 'meta.helm.sh/release-namespace': releaseNs, ...extra },
    },
  };
}

describe('helm-uninstall-namespace: purge check', () => {
  it('flags the purge of a release whose resources still exist where a correct uninstall would have deleted them', async () => {
    const cluster = helmCluster();
    cluster.releaseRecords = [recordMeta('helm-test', 'web', 1, 'superseded'), recordMeta('helm-test', 'web', 2, 'uninstalling')];
    const live = { objects: exists('ConfigMap helm-test/web-config', 'Service helm-test/web', 'Deployment helm-test/web') };
    const { response, decisions } = await decide(purge(), cluster, { live });
    expect(response.allowed).toBe(false);
    const msg = response.status?.message ?? '';
    expect(msg).toContain('Helm release helm-test/web is being purged but 3 of its 5 resources still exist');
    for (const ref of ['ConfigMap helm-test/web-config', 'Service helm-test/web', 'Deployment helm-test/web']) expect(msg).toContain(`  - ${ref}`);
    expect(msg).toContain('settings.SetNamespace("helm-test")');
    expect(msg).toContain('kubectl delete -n helm-test configmap/web-config service/web deployment/web');
    expect(msg).toContain('often "default"');
    expect(decisions).toContainEqual(
      expect.objectContaining({ policy: 'helm-uninstall-namespace', verdict: 'deny', reason: 'release-purged-with-resources-left' }),
    );
  });

  it('checks cluster-scoped objects without a namespace and explicit-namespace objects in their own namespace', async () => {
    const cluster = helmCluster();
    // Records purged by hand: everything is left, the objects in the release namespace too (what
    // the purge check reads first, PURGE_SAMPLE).
    const live = { objects: exists('ClusterRole web-reader', 'ConfigMap shared/web-shared', 'Service helm-test/web') };
    const { response } = await decide(purge(), cluster, { live });
    expect(response.allowed).toBe(false);
    expect(response.status?.message).toContain('  - ClusterRole web-reader');
    expect(response.status?.message).toContain('  - ConfigMap shared/web-shared');
  });

  it('excludes helm.sh/resource-policy: keep objects', async () => {
    const { response } = await decide(purge(), helmCluster(), { live: { objects: exists('ConfigMap helm-test/web-kept') } });
    expect(response.allowed).toBe(true);
    expect(response.warnings).toBeUndefined();
  });

  it('allows a correct uninstall: every resource gone, or still being deleted (finalizers)', async () => {
    const gone = await decide(purge(), helmCluster(), { live: { objects: new Map() } });
    expect(gone.response.allowed).toBe(true);
    const deleting = await decide(purge(), helmCluster(), { live: { objects: new Map([['Deployment helm-test/web', 'deleting' as const]]) } });
    expect(deleting.response.allowed).toBe(true);
    expect(deleting.response.warnings).toBeUndefined();
  });

  it('never flags history pruning of superseded records, and does no live read for it', async () => {
    const cluster = helmCluster();
    cluster.releaseRecords = [recordMeta('helm-test', 'web', 1, 'superseded'), recordMeta('helm-test', 'web', 11, 'deployed')];
    const { response, liveCalls } = await decide(purge('superseded', 1), cluster, { live: { objects: exists('Service helm-test/web') } });
    expect(response.allowed).toBe(true);
    expect(liveCalls).toBe(0);
  });

  it('ignores an older record even if its status label is not superseded', async () => {
    const cluster = helmCluster();
    cluster.releaseRecords = [recordMeta('helm-test', 'web', 1, 'failed'), recordMeta('helm-test', 'web', 3, 'deployed')];
    const { response } = await decide(purge('failed', 1), cluster, { live: { objects: exists('Service helm-test/web') } });
    expect(response.allowed).toBe(true);
  });

  it('flags an UPDATE to uninstalled (--keep-history) when resources are left, and allows a correct one', async () => {
    const old = releaseSecret('helm-test', 'web', 2, 'uninstalling', APP_MANIFEST);
    const updated = releaseSecret('helm-test', 'web', 2, 'uninstalled', APP_MANIFEST);
    const body = review('UPDATE', old, { object: updated });
    const flagged = await decide(body, helmCluster(), { live: { objects: exists('Service helm-test/web') } });
    expect(flagged.response.allowed).toBe(false);
    expect(flagged.response.status?.message).toContain('is being marked uninstalled');
    const correct = await decide(body, helmCluster(), { live: { objects: new Map() } });
    expect(correct.response.allowed).toBe(true);
  });

  it('ignores UPDATEs that are not the transition to uninstalled (install, upgrade, the uninstalling mark)', async () => {
    const old = releaseSecret('helm-test', 'web', 2, 'deployed', APP_MANIFEST);
    const marking = releaseSecret('helm-test', 'web', 2, 'uninstalling', APP_MANIFEST);
    const { response, liveCalls } = await decide(review('UPDATE', old, { object: marking }), helmCluster(), {
      live: { objects: exists('Service helm-test/web') },
    });
    expect(response.allowed).toBe(true);
    expect(liveCalls).toBe(0);
  });

  it('reads ConfigMap-stored records (one base64 layer fewer)', async () => {
    const secret = releaseSecret('helm-test', 'web', 2, 'uninstalling', APP_MANIFEST);
    const data = secret['data'] as { release: string };
    const cm: KubeObject = { ...secret, kind: 'ConfigMap', data: { release: Buffer.from(data.release, 'base64').toString() } };
    delete cm['type'];
    const { response } = await decide(review('DELETE', cm), helmCluster(), { live: { objects: exists('Service helm-test/web') } });
    expect(response.allowed).toBe(false);
  });

  it('is undecided (allowed with a warning by default) when the record is corrupt, and never crashes', async () => {
    const secret = releaseSecret('helm-test', 'web', 2, 'uninstalling', APP_MANIFEST);
    secret['data'] = { release: Buffer.from('not base64 at all!').toString('base64') };
    const { response, decisions } = await decide(review('DELETE', secret), helmCluster());
    expect(response.allowed).toBe(true);
    expect(response.warnings?.[0]).toMatch(
      /could not check this request \(release record helm-test\/sh\.helm\.release\.v1\.web\.v2 could not be decoded: release payload is not valid base64\)/,
    );
    expect(decisions).toContainEqual(expect.objectContaining({ verdict: 'undecided' }));
  });

  describe('a large release (the corpus: cert-manager 40 objects, metallb 42, kyverno 57)', () => {
    // What Helm's uninstall leaves when it purges (ARCHITECTURE.md §1B: any failed DELETE ends it
    // before the purge): nothing, or, when its kube client held another namespace (§1C), every
    // object its manifest lists without a namespace.
    const big = [
      '---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: big-reader',
      '---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: big-shared\n  namespace: shared',
      ...Array.from({ length: 40 }, (_, i) => `---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: big-${i}`),
    ].join('\n');
    const bigPurge = () => review('DELETE', releaseSecret('helm-test', 'big', 2, 'uninstalling', big));
    /** The refs the policy asks the live view about, over one review. */
    async function asked(objects: Map<string, 'exists' | 'deleting'>) {
      const cluster = helmCluster();
      cluster.releaseRecords = [recordMeta('helm-test', 'big', 2, 'uninstalling')];
      const view = createSnapshotView(cluster, { objects });
      const refs: string[] = [];
      const counting: ClusterView = Object.assign(Object.create(view) as ClusterView, {
        liveObjects: async (r: ObjectRef[]) => {
          refs.push(...r.map(formatRef));
          return view.liveObjects(r);
        },
      });
      const findings = await helmUninstallNamespace.evaluate({ request: bigPurge().request!, view: counting, settings: TEST_SETTINGS });
      return { refs, findings };
    }

    it('allows a correct uninstall after looking at a few of its objects, not all 42', async () => {
      const { refs, findings } = await asked(new Map());
      expect(findings).toEqual([]);
      expect(refs.length).toBeLessThanOrEqual(8);
      // Objects a misdirected uninstall always leaves: in the release namespace, listed without one.
      expect(refs.every((r) => r.startsWith('ConfigMap helm-test/big-'))).toBe(true);
    });

    it('names every leftover of a misdirected uninstall, cluster-scoped and explicit-namespace ones included', async () => {
      const all = ['ClusterRole big-reader', 'ConfigMap shared/big-shared', ...Array.from({ length: 40 }, (_, i) => `ConfigMap helm-test/big-${i}`)];
      const { findings } = await asked(new Map(all.map((r) => [r, 'exists' as const])));
      expect(findings).toHaveLength(1);
      expect(findings[0]?.summary).toContain('42 of its 42 resources still exist');
      expect(findings[0]?.objects).toHaveLength(42);
    });

    it('names the leftovers when only the records were purged by hand (every object left)', async () => {
      const { findings } = await asked(new Map(Array.from({ length: 40 }, (_, i) => [`ConfigMap helm-test/big-${i}`, 'exists' as const])));
      expect(findings[0]?.summary).toContain('40 of its 42 resources still exist');
    });
  });

  it('is undecided when the live look-ups fail or time out, and denies if configured to', async () => {
    const live = { failWith: 'live look-up timed out after 1500ms' };
    const allow = await decide(purge(), helmCluster(), { live });
    expect(allow.response.allowed).toBe(true);
    expect(allow.response.warnings?.[0]).toContain('live look-up timed out after 1500ms');
    const deny = await decide(purge(), helmCluster(), { live, undecided: 'deny' });
    expect(deny.response.allowed).toBe(false);
    expect(deny.response.status?.message).toContain('configured to deny when undecided');
  });
});

describe('helm-uninstall-namespace: cross-release check', () => {
  const victim = () => review('DELETE', helmOwned('Deployment', 'default', 'web', 'web', 'default'));

  // The uninstalling release's own Deployment, where a correct uninstall deletes it, is untouched.
  const ownStillThere = { objects: exists('Deployment helm-test/web') };
  const uninstalling = (labels: Record<string, string> = {}, payloadNamespace?: string) =>
    releaseSecret('helm-test', 'web', 1, 'uninstalling', APP_MANIFEST, {}, { labels, ...(payloadNamespace ? { payloadNamespace } : {}) });

  it("flags a DELETE of default/web's object while helm-test/web is uninstalling (the misdirected SDK uninstall)", async () => {
    const cluster = helmCluster();
    cluster.releaseRecords = [recordMeta('default', 'web', 1, 'deployed'), uninstalling()];
    const { response } = await decide(victim(), cluster, { live: ownStillThere });
    expect(response.allowed).toBe(false);
    const msg = response.status?.message ?? '';
    expect(msg).toContain('Deployment default/web belongs to Helm release default/web (deployed), but the uninstall of helm-test/web is deleting it');
    // Revision 1 has nothing to roll back to: the remedy re-applies it instead.
    expect(msg).toContain('helm upgrade web CHART -n default --reuse-values');
    expect(msg).not.toContain('helm rollback');
  });

  it('offers a rollback to the revision that exists when there is one', async () => {
    const cluster = helmCluster();
    cluster.releaseRecords = [recordMeta('default', 'web', 1, 'superseded'), recordMeta('default', 'web', 4, 'deployed'), uninstalling()];
    const msg = (await decide(victim(), cluster, { live: ownStillThere })).response.status?.message ?? '';
    expect(msg).toContain('helm rollback web 4 -n default');
  });

  it("confirms live when the cache has not yet seen the other release's uninstalling mark", async () => {
    const cluster = helmCluster();
    cluster.releaseRecords = [recordMeta('default', 'web', 1, 'deployed'), recordMeta('helm-test', 'web', 1, 'deployed')];
    const live = { ...ownStillThere, releaseRecords: [recordMeta('default', 'web', 1, 'deployed'), uninstalling()], fullReleaseRecords: [uninstalling()] };
    const { response, liveCalls } = await decide(victim(), cluster, { live });
    expect(response.allowed).toBe(false);
    expect(liveCalls).toBe(3); // the record list, the uninstalling record's payload, its own Deployment
  });

  it('allows the Flux shape: records stored in another namespace, payload (and objects) in the release namespace', async () => {
    // helm-controller: storage namespace flux-system, targetNamespace default.
    const cluster = helmCluster();
    cluster.releaseRecords = [releaseSecret('flux-system', 'web', 1, 'uninstalling', APP_MANIFEST, {}, { payloadNamespace: 'default' })];
    const { response, decisions } = await decide(victim(), cluster);
    expect(response.allowed).toBe(true);
    expect(response.warnings).toBeUndefined();
    expect(response.auditAnnotations).toBeUndefined();
    expect(decisions.every((d) => d.verdict === 'allow')).toBe(true);
  });

  it("never blames another release's uninstall for an object whose own release is upgrading, installing or rolling back", async () => {
    for (const status of ['pending-upgrade', 'pending-install', 'pending-rollback']) {
      const cluster = helmCluster();
      cluster.releaseRecords = [recordMeta('default', 'web', 2, status), uninstalling()];
      const { response } = await decide(victim(), cluster);
      expect(response.allowed, status).toBe(true);
      expect(response.warnings, status).toBeUndefined();
    }
  });

  it('ignores a stale uninstalling record (a failed uninstall hours ago) and flags a fresh one', async () => {
    const nowSeconds = Math.floor(Date.now() / 1000);
    const stale = helmCluster();
    stale.releaseRecords = [recordMeta('default', 'web', 1, 'deployed'), uninstalling({ modifiedAt: String(nowSeconds - 3 * 3600) })];
    expect((await decide(victim(), stale)).response.allowed).toBe(true);
    const fresh = helmCluster();
    fresh.releaseRecords = [recordMeta('default', 'web', 1, 'deployed'), uninstalling({ modifiedAt: String(nowSeconds - 60) })];
    expect((await decide(victim(), fresh, { live: ownStillThere })).response.allowed).toBe(false);
  });

  it("stays silent on a hand delete while the other release's uninstall runs: an object its manifest does not name, or while its own goes too", async () => {
    const cluster = helmCluster();
    cluster.releaseRecords = [recordMeta('default', 'web', 1, 'deployed'), uninstalling()];
    const notInManifest = review('DELETE', helmOwned('ConfigMap', 'default', 'web-extra', 'web', 'default'));
    const a = await decide(notInManifest, cluster, { live: { objects: exists('ConfigMap helm-test/web-extra') } });
    expect(a.response.allowed).toBe(true);
    expect(a.response.warnings).toBeUndefined();
    const b = await decide(victim(), cluster, { live: { objects: new Map([['Deployment helm-test/web', 'deleting' as const]]) } });
    expect(b.response.allowed).toBe(true);
    expect(b.response.warnings).toBeUndefined();
  });

  it('allows the correct uninstall of the owning release, from the cache alone', async () => {
    const cluster = helmCluster();
    cluster.releaseRecords = [recordMeta('default', 'web', 1, 'uninstalling'), recordMeta('helm-test', 'web', 1, 'uninstalling')];
    const { response, liveCalls } = await decide(victim(), cluster);
    expect(response.allowed).toBe(true);
    expect(liveCalls).toBe(0);
  });

  it('allows deletions when no other release of that name is uninstalling (upgrade pruning, kubectl delete)', async () => {
    const cluster = helmCluster();
    cluster.releaseRecords = [recordMeta('default', 'web', 2, 'pending-upgrade'), recordMeta('helm-test', 'web', 1, 'deployed')];
    const { response } = await decide(victim(), cluster);
    expect(response.allowed).toBe(true);
    expect(response.warnings).toBeUndefined();
  });

  it('never flags the namespace controller or the garbage collector', async () => {
    const cluster = helmCluster();
    cluster.releaseRecords = [recordMeta('default', 'web', 1, 'deployed'), recordMeta('helm-test', 'web', 1, 'uninstalling')];
    for (const username of ['system:serviceaccount:kube-system:namespace-controller', 'system:serviceaccount:kube-system:generic-garbage-collector']) {
      const body = review('DELETE', helmOwned('Deployment', 'default', 'web', 'web', 'default'), { user: { ...ADMIN, username } });
      expect((await decide(body, cluster)).response.allowed).toBe(true);
    }
  });

  it('never flags deletions inside a Terminating namespace', async () => {
    const cluster = helmCluster();
    cluster.namespaces = [namespace('default', true), namespace('helm-test')];
    cluster.releaseRecords = [recordMeta('default', 'web', 1, 'deployed'), recordMeta('helm-test', 'web', 1, 'uninstalling')];
    expect((await decide(victim(), cluster)).response.allowed).toBe(true);
  });

  it('never flags hooks', async () => {
    const cluster = helmCluster();
    cluster.releaseRecords = [recordMeta('default', 'web', 1, 'deployed'), recordMeta('helm-test', 'web', 1, 'uninstalling')];
    const hook = helmOwned('ConfigMap', 'default', 'pre-delete', 'web', 'default', { 'helm.sh/hook': 'pre-delete' });
    expect((await decide(review('DELETE', hook), cluster)).response.allowed).toBe(true);
  });

  it('allows objects of a multi-namespace chart when their own release is uninstalling', async () => {
    const cluster = helmCluster();
    cluster.releaseRecords = [recordMeta('helm-test', 'web', 1, 'uninstalling')];
    const shared = helmOwned('ConfigMap', 'shared', 'web-shared', 'web', 'helm-test');
    expect((await decide(review('DELETE', shared), cluster)).response.allowed).toBe(true);
  });
});

describe('helm-uninstall-namespace: misdirected DELETEs that hit objects of other releases or of none', () => {
  const uninstallingWeb = () => releaseSecret('helm-test', 'web', 1, 'uninstalling', APP_MANIFEST);
  const otherRelease = () => review('DELETE', helmOwned('ConfigMap', 'default', 'web-config', 'cache', 'default'));

  it("flags the uninstall of helm-test/web deleting default's web-config, which belongs to release default/cache", async () => {
    const cluster = helmCluster();
    cluster.releaseRecords = [recordMeta('default', 'cache', 3, 'deployed'), uninstallingWeb()];
    const { response, decisions } = await decide(otherRelease(), cluster, { live: { objects: exists('ConfigMap helm-test/web-config') } });
    expect(response.allowed).toBe(false);
    expect(decisions.map((d) => d.reason).join(',')).toContain('uninstall-deletes-unrelated-object');
    expect(response.status?.message).toContain(
      'ConfigMap default/web-config belongs to Helm release default/cache (deployed), but the uninstall of helm-test/web is deleting it',
    );
    expect(response.status?.message).toContain('a correct uninstall deletes ConfigMap helm-test/web-config, which still exists');
  });

  it('flags it for an object no release owns too', async () => {
    const cluster = helmCluster();
    cluster.releaseRecords = [uninstallingWeb()];
    const bare: KubeObject = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'web-config', namespace: 'default', labels: { 'app.kubernetes.io/managed-by': 'Helm' } },
    };
    const { response } = await decide(review('DELETE', bare), cluster, { live: { objects: exists('ConfigMap helm-test/web-config') } });
    expect(response.allowed).toBe(false);
    expect(response.status?.message).toContain('belongs to no Helm release');
  });

  it('stays silent when the uninstall is deleting its own object too (a hand delete of a same-named object elsewhere), or the names differ', async () => {
    const cluster = helmCluster();
    cluster.releaseRecords = [recordMeta('default', 'cache', 3, 'deployed'), uninstallingWeb()];
    const deleting = await decide(otherRelease(), cluster, { live: { objects: new Map([['ConfigMap helm-test/web-config', 'deleting' as const]]) } });
    expect(deleting.response.allowed).toBe(true);
    expect(deleting.response.warnings).toBeUndefined();
    const unrelated = review('DELETE', helmOwned('ConfigMap', 'default', 'something-else', 'cache', 'default'));
    const other = await decide(unrelated, cluster, { live: { objects: exists('ConfigMap helm-test/web-config') } });
    expect(other.response.allowed).toBe(true);
    expect(other.liveCalls).toBeGreaterThan(0); // the running uninstall's manifest was read
  });

  it("stays silent on the correct uninstall of default/cache while helm-test/web's failed uninstall still says uninstalling", async () => {
    const cluster = helmCluster();
    cluster.releaseRecords = [recordMeta('default', 'cache', 3, 'uninstalling'), uninstallingWeb()];
    const live = { objects: exists('ConfigMap helm-test/web-config') };
    expect((await decide(otherRelease(), cluster, { live })).response.allowed).toBe(true);
    // The cache has not seen cache's own uninstalling mark yet; the live records have.
    const lagging = helmCluster();
    lagging.releaseRecords = [recordMeta('default', 'cache', 3, 'deployed'), uninstallingWeb()];
    const liveRecords = {
      ...live,
      releaseRecords: [recordMeta('default', 'cache', 3, 'uninstalling'), uninstallingWeb()],
      fullReleaseRecords: [uninstallingWeb()],
    };
    const { response } = await decide(otherRelease(), lagging, { live: liveRecords });
    expect(response.allowed).toBe(true);
    expect(response.warnings).toBeUndefined();
  });

  it('never flags a Namespace DELETE: a Namespace is cluster-scoped, so no uninstall can aim it at the wrong namespace', async () => {
    // A chart that ships its namespace, uninstalling from another one; kube-apiserver sets the
    // request's namespace of a Namespace to the namespace itself, which is not where it "lives".
    const manifest = `---\n# Source: app/templates/namespace.yaml\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: web-data\n${APP_MANIFEST}`;
    const cluster = helmCluster();
    cluster.releaseRecords = [releaseSecret('helm-test', 'web', 1, 'uninstalling', manifest)];
    const { response, liveCalls } = await decide(review('DELETE', namespace('web-data')), cluster, {
      modes: { 'helm-uninstall-namespace': 'enforce' },
      live: { objects: exists('Namespace web-data') },
    });
    expect(response.allowed).toBe(true);
    expect(response.warnings).toBeUndefined();
    expect(liveCalls).toBe(0);
  });

  it("reads nothing of a running uninstall for an object its controller owns: a ReplicaSet's Pods scaled down meanwhile", async () => {
    // The corpus: Kyverno's pre-delete hook scales its Deployments to 0 while metallb's uninstall
    // runs; the replicaset-controller's Pod DELETEs (the Pods carry the Deployment's Helm labels)
    // each read metallb's payload live, and under load ran out of budget: undecided.
    const cluster = helmCluster();
    cluster.releaseRecords = [releaseSecret('helm-test', 'web', 1, 'uninstalling', APP_MANIFEST)];
    const pod: KubeObject = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: 'web-7d9f8c6b5-x2k4q',
        namespace: 'default',
        labels: { 'app.kubernetes.io/managed-by': 'Helm', 'app.kubernetes.io/instance': 'cache' },
        ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-7d9f8c6b5', uid: 'rs-uid', controller: true }],
      },
    };
    const rsController = { username: 'system:serviceaccount:kube-system:replicaset-controller', groups: ['system:serviceaccounts'] };
    const { response, liveCalls } = await decide(review('DELETE', pod, { user: rsController }), cluster, {
      live: { failWith: 'live look-up timed out after 1500ms' },
    });
    expect(response.allowed).toBe(true);
    expect(response.warnings).toBeUndefined();
    expect(liveCalls).toBe(0);
  });

  it('reads nothing live when no release is uninstalling (the hot path)', async () => {
    const cluster = helmCluster();
    cluster.releaseRecords = [recordMeta('default', 'cache', 3, 'deployed'), recordMeta('helm-test', 'web', 1, 'deployed')];
    const bare: KubeObject = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'web-config', namespace: 'default', labels: { 'app.kubernetes.io/managed-by': 'Helm' } },
    };
    const { response, liveCalls } = await decide(review('DELETE', bare), cluster);
    expect(response.allowed).toBe(true);
    expect(liveCalls).toBe(0);
  });
});
