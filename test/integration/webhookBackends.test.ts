// Policy webhook-backends on the real control plane (issue 14, item 3): a ConfigMap carrying a
// finalizer, and a validating webhook that fails closed on ConfigMap updates in that namespace.
//   - its Service missing: the API server really refuses removing the finalizer (shown first), so
//     deleting the namespace would hang; the guard denies it (enforce) and names the webhook;
//   - its Service in the namespace being deleted: a warning that the namespace may hang;
//   - the webhook gone: silent.
// The webhook's namespaceSelector limits it to the test namespace, so nothing else is affected.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ControlPlane } from '../cluster/controlPlane.ts';
import { controlPlaneForFile } from '../cluster/fileCluster.ts';
import { waitFor } from '../cluster/proc.ts';
import { startGuard, type Guard } from '../scenarios/guard.ts';
import { markGuardPath, type GuardPathMark } from '../scenarios/guardInPath.ts';
import { DENIED_TEXT, output } from '../scenarios/harness.ts';

const NS = 'wh-app';
const HOOK = 'configmap-policy';

function webhook(service: { namespace: string; name: string }): object {
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingWebhookConfiguration',
    metadata: { name: HOOK },
    webhooks: [
      {
        name: 'configmaps.policy.example.io',
        failurePolicy: 'Fail',
        sideEffects: 'None',
        admissionReviewVersions: ['v1'],
        clientConfig: { service: { ...service, path: '/validate' } },
        namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': NS } },
        rules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['UPDATE'], resources: ['configmaps'] }],
      },
    ],
  };
}

let cp: ControlPlane;
let guard: Guard;

async function kubectlOk(args: string[], input?: string): Promise<void> {
  const r = await cp.kubectl(args, input === undefined ? {} : { input });
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed:\n${output(r)}`);
}

beforeAll(async () => {
  cp = await controlPlaneForFile({ olm: 'crds', log: () => {} });
  guard = await startGuard(cp, { modes: { 'webhook-backends': 'enforce' }, log: () => {} });
  await guard.register();
  await kubectlOk(['create', 'namespace', NS]);
  await kubectlOk(
    ['apply', '-f', '-'],
    JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'state', namespace: NS, finalizers: ['example.io/keep'] } }),
  );
}, 120_000);

afterAll(async () => {
  await guard?.stop();
  await cp?.stop();
});

const dryRunDelete = () => cp.kubectl(['delete', 'namespace', NS, '--dry-run=server']);

// Every case runs with the guard: it must have answered each of the case's requests.
let inPath: GuardPathMark;
beforeEach(async () => {
  inPath = await markGuardPath(cp, guard);
});
afterEach(async () => {
  await inPath.verify();
});

describe('webhook-backends on a real control plane', () => {
  it('denies deleting a namespace whose finalizers a webhook with no backend keeps in place, and names the webhook', async () => {
    await kubectlOk(['apply', '-f', '-'], JSON.stringify(webhook({ namespace: 'wh-operator', name: 'missing' })));
    // The API server really refuses removing the finalizer (once it has loaded the configuration).
    await waitFor(
      'the API server refusing the finalizer removal',
      30_000,
      async () => {
        const p = await cp.kubectl(['patch', 'configmap', 'state', '-n', NS, '--type=merge', '-p', '{"metadata":{"finalizers":null}}', '--dry-run=server']);
        return p.code !== 0 && output(p).includes('failed calling webhook') ? true : undefined;
      },
      500,
    );
    const r = await dryRunDelete();
    expect(r.code).not.toBe(0);
    expect(output(r)).toMatch(DENIED_TEXT);
    expect(output(r)).toContain(`ValidatingWebhookConfiguration ${HOOK}`);
    expect(output(r)).toContain(`kubectl delete validatingwebhookconfiguration ${HOOK}`);
  });

  it('warns when the webhook backend lives in the namespace being deleted', async () => {
    await kubectlOk(['apply', '-f', '-'], JSON.stringify(webhook({ namespace: NS, name: 'hook' })));
    await kubectlOk(['create', 'service', 'clusterip', 'hook', '-n', NS, '--tcp=443:8443']);
    const r = await dryRunDelete();
    expect(r.code, output(r)).toBe(0);
    expect(r.stderr).toMatch(/Warning: teardown-guard \[webhook-backends\]/);
    expect(r.stderr).toContain(`deletes Service ${NS}/hook`);
  });

  it('is silent once the webhook configuration is gone, and the namespace goes', async () => {
    await kubectlOk(['delete', 'validatingwebhookconfiguration', HOOK]);
    const r = await dryRunDelete();
    expect(r.code, output(r)).toBe(0);
    expect(r.stderr).not.toMatch(/webhook-backends/);
    // The API server drops the deleted configuration from its webhook cache within moments.
    await waitFor(
      'the finalizer removed',
      30_000,
      async () =>
        (await cp.kubectl(['patch', 'configmap', 'state', '-n', NS, '--type=merge', '-p', '{"metadata":{"finalizers":null}}'])).code === 0 ? true : undefined,
      500,
    );
    await kubectlOk(['delete', 'namespace', NS, '--timeout=60s']);
  });
});
