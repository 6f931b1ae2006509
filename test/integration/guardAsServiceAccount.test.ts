// The guard with the identity the manifests give it, not the admin's: the RBAC of manifests/base
// is applied to the lane's control plane, a token of ServiceAccount teardown-guard is requested
// (what the kubelet mounts), and the real serve wiring (startServices) runs with a kubeconfig that
// holds that token only. With the base's rights every watch cache syncs and a namespace DELETE is
// reviewed with no read refused. Without ClusterRole
// teardown-guard-inference (components/without-inference-rbac) the same review is still answered,
// and what the guard could not read is counted and logged (docs/SECURITY.md, "Threat model"). The
// probe namespace holds an operator's RoleBinding to update a custom type, so the review's sweep
// lists that type there: the read the inference ClusterRole grants (the namespace's RoleBindings
// and Roles come from the base's watch caches).
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ControlPlane } from '../cluster/controlPlane.ts';
import { controlPlaneForFile } from '../cluster/fileCluster.ts';
import { sleep, waitFor } from '../cluster/proc.ts';
import { applyRbac, GUARD_NS, kustomizeRbac } from '../support/guardRbac.ts';
import { collectLogs, generateCerts, httpsRequest, namespaceDeleteReview, type CertSet } from '../support/serverHarness.ts';
import { loadConfig } from '../../src/config.ts';
import { createMetrics } from '../../src/metrics.ts';
import { startServices, type Services } from '../../src/server/services.ts';

const PROBE_NS = 'tg-sa-probe';

/** A custom type, and an operator in the probe namespace allowed to update it (so a sweep lists it). */
const OPERATOR_OBJECTS = `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: { name: widgets.sa-probe.tg.example.com }
spec:
  group: sa-probe.tg.example.com
  scope: Namespaced
  names: { plural: widgets, singular: widget, kind: Widget }
  versions:
    - name: v1
      served: true
      storage: true
      schema: { openAPIV3Schema: { type: object, x-kubernetes-preserve-unknown-fields: true } }
---
apiVersion: v1
kind: ServiceAccount
metadata: { name: widget-operator, namespace: ${PROBE_NS} }
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: { name: widget-operator, namespace: ${PROBE_NS} }
rules:
  - { apiGroups: [sa-probe.tg.example.com], resources: [widgets], verbs: [get, list, watch, update, patch] }
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: { name: widget-operator, namespace: ${PROBE_NS} }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: Role, name: widget-operator }
subjects:
  - { kind: ServiceAccount, name: widget-operator, namespace: ${PROBE_NS} }
`;

let cp: ControlPlane;
let work: string;
let certs: CertSet;
let services: Services | undefined;
const logs = collectLogs('info');

beforeAll(async () => {
  cp = await controlPlaneForFile();
  work = mkdtempSync(join(cp.dir, 'sa-guard-'));
  certs = generateCerts(join(work, 'certs'));
  await applyRbac(cp, await kustomizeRbac(cp, work, []));
  const ns = await cp.kubectl(['create', 'namespace', PROBE_NS]);
  if (ns.code !== 0) throw new Error(`kubectl create namespace failed:\n${ns.stderr}`);
  const operator = await cp.kubectl(['apply', '-f', '-'], { input: OPERATOR_OBJECTS });
  if (operator.code !== 0) throw new Error(`kubectl apply of the probe operator failed:\n${operator.stderr}`);
  const established = await cp.kubectl(['wait', '--for=condition=Established', '--timeout=30s', 'crd/widgets.sa-probe.tg.example.com']);
  if (established.code !== 0) throw new Error(`the probe CRD was not established:\n${established.stderr}`);
  const token = await cp.kubectl(['create', 'token', 'teardown-guard', '-n', GUARD_NS, '--duration', '10m']);
  if (token.code !== 0) throw new Error(`kubectl create token failed:\n${token.stderr}`);
  const kubeconfig = join(work, 'serviceaccount.kubeconfig');
  writeFileSync(
    kubeconfig,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'c', cluster: { server: cp.server, 'certificate-authority-data': Buffer.from(cp.caPem).toString('base64') } }],
      users: [{ name: 'teardown-guard', user: { token: token.stdout.trim() } }],
      contexts: [{ name: 'x', context: { cluster: 'c', user: 'teardown-guard' } }],
      'current-context': 'x',
    }),
  );
  const { config } = loadConfig({
    env: {},
    flags: { 'listen.host': '127.0.0.1', 'listen.port': '0', 'tls.certFile': certs.cert, 'tls.keyFile': certs.key, kubeconfig },
  });
  config.shutdown = { delayMs: 0, drainTimeoutMs: 1000 };
  services = await startServices(config, logs.logger, createMetrics({ defaultMetrics: false }));
});

afterAll(async () => {
  await services?.stop('test end');
  await cp?.stop();
});

async function reviewNamespaceDelete(uid: string): Promise<{ allowed: boolean; warnings?: string[] }> {
  const body = JSON.stringify(namespaceDeleteReview(uid, PROBE_NS));
  const r = await httpsRequest(services!.server.port, {
    method: 'POST',
    path: '/validate',
    ca: readFileSync(certs.ca),
    body,
    headers: { 'content-type': 'application/json' },
  });
  expect(r.status).toBe(200);
  return (r.json() as { response: { allowed: boolean; warnings?: string[] } }).response;
}

const refusedLines = () => logs.lines.filter((l) => typeof l['msg'] === 'string' && l['msg'].includes('refused a read'));

describe('the guard running as ServiceAccount teardown-guard, with the RBAC of manifests/base', () => {
  it("syncs every watch cache (the finalizer memory's among them) without a failed list or watch", async () => {
    expect(await services!.view.waitForSync(30_000), JSON.stringify(services!.view.readiness())).toBe(true);
    const failures = Object.entries(services!.view.counters().perCache).filter(([, c]) => c.failures > 0);
    expect(failures).toEqual([]);
  });

  it('reviews a namespace DELETE (every namespace check reads live) without a refused read', async () => {
    const answer = await reviewNamespaceDelete('uid-sa-full');
    expect(answer.allowed).toBe(true);
    expect(answer.warnings ?? []).toEqual([]);
    expect(services!.view.counters().live.forbidden).toBe(0);
    expect(refusedLines()).toEqual([]);
  });

  it('without ClusterRole teardown-guard-inference, still answers, and counts and logs what it could not read', async () => {
    const r = await cp.kubectl(['delete', 'clusterrolebinding,clusterrole', 'teardown-guard-inference']);
    expect(r.code, r.stderr).toBe(0);
    // The authorizer follows RBAC through its informers: wait until the grant is gone.
    await waitFor(
      'the inference grant to be gone',
      10_000,
      async () => {
        const can = await cp.kubectl([
          'auth',
          'can-i',
          'list',
          'widgets.sa-probe.tg.example.com',
          '-n',
          PROBE_NS,
          '--as',
          `system:serviceaccount:${GUARD_NS}:teardown-guard`,
        ]);
        return can.stdout.trim() === 'no' ? true : undefined;
      },
      200,
    );
    await sleep(200);
    const answer = await reviewNamespaceDelete('uid-sa-narrow');
    expect(answer.allowed).toBe(true);
    expect(services!.view.counters().live.forbidden).toBeGreaterThan(0);
    expect(refusedLines().map((l) => l['read'])).toContain('list of widgets.sa-probe.tg.example.com (namespace sweep)');
    // The caches (the base ClusterRole) are untouched: still synced.
    expect(services!.view.readiness().current).toBe(true);
  });
});
