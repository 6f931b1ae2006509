// The engine and both policies on AdmissionReview bodies captured from a real kube-apiserver
// 1.36 during real kubectl, Helm CLI and Helm SDK operations (see each fixture's "fixture" line).
// The cluster state each test sets up is the one the capture ran against.
import { describe, expect, it } from 'vitest';
import { review } from '../../test/support/admissionRequests.ts';
import { simpleAppManifest, helmCluster, namespace, recordMeta, releaseSecret } from '../../test/support/clusterState.ts';
import { decide } from '../../test/support/decide.ts';
import { capturedReview } from '../../test/support/fixtures.ts';

const PASSWORD = 'fixture-db-password-7c1e';
const exists = (...refs: string[]) => new Map(refs.map((r) => [r, 'exists' as const]));
const WEB = ['ConfigMap helm-test/web-config', 'Service helm-test/web-svc', 'Deployment helm-test/web-app'];

function keyShape(value: unknown): unknown {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return typeof value;
  return Object.fromEntries(
    Object.keys(value)
      .sort()
      .map((k) => [k, k === 'oldObject' || k === 'object' || k === 'options' || k === 'userInfo' ? 'object' : keyShape((value as Record<string, unknown>)[k])]),
  );
}

describe('captured AdmissionReview bodies', () => {
  it('the unit-test builder produces the same request fields as the real API server', () => {
    const captured = capturedReview('namespace-delete.json').review;
    const built = review('DELETE', namespace('empty'));
    expect(keyShape(built.request)).toEqual(keyShape(captured.request));
  });

  it('kubectl delete namespace of an empty namespace: allowed, silently', async () => {
    const { response } = await decide(capturedReview('namespace-delete.json').review, helmCluster());
    expect(response.allowed).toBe(true);
    expect(response.warnings).toBeUndefined();
    expect(response.auditAnnotations).toBeUndefined();
  });

  it('names a Namespace as cluster-scoped although the API server sets request.namespace to it', async () => {
    const cluster = helmCluster();
    cluster.objects['operators.coreos.com/clusterserviceversions'] = [
      { metadata: { name: 'op.v1', namespace: 'empty', finalizers: ['operators.coreos.com/csv-cleanup'] } },
    ];
    const { response, decisions } = await decide(capturedReview('namespace-delete.json').review, cluster);
    expect(response.allowed).toBe(false);
    expect(decisions[0]?.object).toBe('Namespace empty');
    expect(response.status?.message).toContain('kubectl annotate namespace empty teardown-guard.io/break-glass=');
  });

  it('--dry-run=server gets the same answer and is marked dry-run', async () => {
    const { response, decisions } = await decide(capturedReview('namespace-delete-dryrun.json').review, helmCluster());
    expect(response.allowed).toBe(true);
    expect(decisions.every((d) => d.dryRun)).toBe(true);
  });

  it('Helm marking its record uninstalling is not looked at (no live reads)', async () => {
    const { response, liveCalls } = await decide(capturedReview('record-update-uninstalling.json').review, helmCluster(), {
      live: { objects: exists(...WEB) },
    });
    expect(response.allowed).toBe(true);
    expect(liveCalls).toBe(0);
  });

  it("a correct uninstall's DELETE of its own Deployment is allowed from the cache", async () => {
    const cluster = helmCluster();
    cluster.releaseRecords = [recordMeta('helm-test', 'web', 1, 'uninstalling')];
    const { response, liveCalls } = await decide(capturedReview('helm-owned-delete-deployment.json').review, cluster);
    expect(response.allowed).toBe(true);
    expect(liveCalls).toBe(0);
  });

  it("a correct uninstall's purge is allowed: every resource is gone", async () => {
    const cluster = helmCluster();
    cluster.releaseRecords = [recordMeta('helm-test', 'web', 1, 'uninstalling')];
    const { response } = await decide(capturedReview('record-delete-purge.json').review, cluster, { live: { objects: new Map() } });
    expect(response.allowed).toBe(true);
    expect(response.warnings).toBeUndefined();
  });

  it('--keep-history: the update to uninstalled is allowed when everything is gone', async () => {
    const { response } = await decide(capturedReview('record-update-uninstalled.json').review, helmCluster(), { live: { objects: new Map() } });
    expect(response.allowed).toBe(true);
  });

  it('incident B: the SDK purge with every resource still in helm-test is denied in enforce, warned in warn; no Secret data leaks', async () => {
    const body = capturedReview('record-delete-misdirected-purge.json').review;
    const cluster = helmCluster();
    cluster.releaseRecords = [recordMeta('helm-test', 'web', 1, 'uninstalling')];
    const enforce = await decide(body, cluster, { live: { objects: exists(...WEB) } });
    expect(enforce.response.allowed).toBe(false);
    for (const ref of WEB) expect(enforce.response.status?.message).toContain(`  - ${ref}`);
    const warn = await decide(body, cluster, { live: { objects: exists(...WEB) }, modes: { 'helm-uninstall-namespace': 'warn' } });
    expect(warn.response.allowed).toBe(true);
    expect(warn.response.warnings?.[0]).toContain('Helm release helm-test/web is being purged but 3 of its 3 resources still exist');
    for (const out of [enforce, warn]) expect(JSON.stringify(out)).not.toContain(PASSWORD);
    expect(JSON.stringify(body)).not.toContain(PASSWORD); // the payload is encoded, never plain
  });

  it("incident B, worse variant: the SDK uninstall of helm-test/web deleting default/web's Deployment is flagged", async () => {
    const cluster = helmCluster();
    cluster.releaseRecords = [recordMeta('default', 'web', 1, 'deployed'), releaseSecret('helm-test', 'web', 1, 'uninstalling', simpleAppManifest('web'))];
    // helm-test/web's own Deployment, where a correct uninstall deletes it, is untouched.
    const live = { objects: new Map([['Deployment helm-test/web-app', 'exists' as const]]) };
    const { response } = await decide(capturedReview('helm-owned-delete-other-release.json').review, cluster, { live });
    expect(response.allowed).toBe(false);
    expect(response.status?.message).toContain(
      'Deployment default/web-app belongs to Helm release default/web (deployed), but the uninstall of helm-test/web is deleting it',
    );
  });

  it("the namespace controller's DeleteCollection (no request.name) of Helm-owned objects is never flagged", async () => {
    const body = capturedReview('namespace-controller-delete-helm-owned.json').review;
    expect(body.request?.name).toBeUndefined();
    const cluster = helmCluster();
    cluster.releaseRecords = [recordMeta('helm-test', 'web', 1, 'deployed'), recordMeta('default', 'web', 1, 'uninstalling')];
    const { response, liveCalls } = await decide(body, cluster);
    expect(response.allowed).toBe(true);
    expect(liveCalls).toBe(0);
  });
});
