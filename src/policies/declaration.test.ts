// definePolicy: appliesTo follows from the declared rules, the shared prechecks run before evaluate
// in their order, inference stays silent where exact policies are undecided; and a new
// declaration reaches every place derived from the declarations (webhook configuration, README
// table, chart values) with no other edit.
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { review } from '../../test/support/admissionRequests.ts';
import { bareCluster, namespace } from '../../test/support/clusterState.ts';
import { TEST_SETTINGS } from '../../test/support/decide.ts';
import { createSnapshotView } from '../../test/support/snapshotView.ts';
import { UndecidedError } from '../cluster/view.ts';
import type { AdmissionRequest } from '../k8s/admissionReview.ts';
import type { KubeObject } from '../k8s/types.ts';
import { BUILTIN_FINALIZER_GUARDS } from '../registry/finalizerRegistry.ts';
import { renderChartValues } from '../render/chartValues.ts';
import { policyTable } from '../render/policyTable.ts';
import { declaredWebhooks, renderWebhookConfiguration } from '../render/webhookConfiguration.ts';
import { definePolicy, type PolicyDeclaration, type WhenUndecided } from './declaration.ts';
import { BUILTIN_POLICIES } from './index.ts';
import type { Finding, PolicyInput } from './types.ts';
import { NAMESPACE_DELETE, rule } from './webhooks.ts';

const FOUND: Finding = { policy: 'probe', severity: 'violation', code: 'probe', summary: 'found', detail: '', remedy: [], objects: [] };

/** A policy that records what reached evaluate and answers one finding (or throws what it is given). */
function probe(whenUndecided: WhenUndecided = 'undecided', throws?: Error) {
  const reached: string[] = [];
  const declaration: PolicyDeclaration<'probe'> = {
    name: 'probe',
    defaultMode: 'warn',
    summary: 'A policy for the test.',
    judges: () => [
      NAMESPACE_DELETE,
      {
        via: { name: 'probes', why: ['Probe DELETEs.'] },
        rule: rule('example.io', ['widgets'], 'Namespaced'),
        prechecks: ['exempt-user', 'namespace-terminating'],
      },
    ],
    whenUndecided,
    async evaluate({ request }: PolicyInput) {
      reached.push(`${request.resource.resource}/${request.name ?? ''}`);
      if (throws) throw throws;
      return [FOUND];
    },
  };
  return { policy: definePolicy(declaration), reached };
}

const widget = (ns: string, name: string): KubeObject => ({ apiVersion: 'example.io/v1', kind: 'Widget', metadata: { namespace: ns, name } });
function widgetDelete(ns: string, name: string, user?: string): AdmissionRequest {
  const body = review('DELETE', namespace(ns));
  const request = body.request!;
  return {
    ...request,
    kind: { group: 'example.io', version: 'v1', kind: 'Widget' },
    resource: { group: 'example.io', version: 'v1', resource: 'widgets' },
    name,
    namespace: ns,
    oldObject: widget(ns, name),
    ...(user ? { userInfo: { username: user } } : {}),
  };
}

describe('definePolicy', () => {
  const view = createSnapshotView(bareCluster(['apps', 'kube-system']));
  const terminating = createSnapshotView({ ...bareCluster(['apps']), namespaces: [namespace('apps', true)] });

  it('applies to the requests its rules name, never to a subresource or another operation', () => {
    const { policy } = probe();
    expect(policy.appliesTo(review('DELETE', namespace('apps')).request!, TEST_SETTINGS)).toBe(true);
    expect(policy.appliesTo(widgetDelete('apps', 'w'), TEST_SETTINGS)).toBe(true);
    expect(policy.appliesTo({ ...widgetDelete('apps', 'w'), subResource: 'status' }, TEST_SETTINGS)).toBe(false);
    expect(policy.appliesTo({ ...widgetDelete('apps', 'w'), operation: 'UPDATE' }, TEST_SETTINGS)).toBe(false);
    expect(policy.appliesTo({ ...widgetDelete('apps', 'w'), resource: { group: 'example.io', version: 'v1', resource: 'gadgets' } }, TEST_SETTINGS)).toBe(
      false,
    );
  });

  it('runs the prechecks of the rule the request matched, and evaluate only when none holds', async () => {
    const { policy, reached } = probe();
    const evaluate = (request: AdmissionRequest, v = view) => policy.evaluate({ request, view: v, settings: TEST_SETTINGS });
    // Namespace DELETE: exempt namespace, already deleting, already Terminating.
    expect(await evaluate(review('DELETE', namespace('kube-system')).request!)).toEqual([]);
    expect(await evaluate(review('DELETE', namespace('apps', true)).request!)).toEqual([]);
    expect(await evaluate(review('DELETE', namespace('apps')).request!, terminating)).toEqual([]);
    expect(await evaluate(review('DELETE', namespace('apps')).request!)).toEqual([FOUND]);
    // The widget rule asks for exempt-user and namespace-terminating only: its namespace being exempt does not matter.
    expect(await evaluate(widgetDelete('kube-system', 'w1'))).toEqual([FOUND]);
    expect(await evaluate(widgetDelete('apps', 'w2', TEST_SETTINGS.exemptUsers[0]))).toEqual([]);
    expect(await evaluate(widgetDelete('apps', 'w3'), terminating)).toEqual([]);
    expect(reached).toEqual(['namespaces/apps', 'widgets/w1']);
  });

  it('an UndecidedError is undecided for an exact policy and silence for inference; any other error is a bug either way', async () => {
    const undecided = new UndecidedError('timeout', 'slow');
    const request = review('DELETE', namespace('apps')).request!;
    await expect(probe('undecided', undecided).policy.evaluate({ request, view, settings: TEST_SETTINGS })).rejects.toBe(undecided);
    expect(await probe('silent', undecided).policy.evaluate({ request, view, settings: TEST_SETTINGS })).toEqual([]);
    await expect(probe('silent', new Error('bug')).policy.evaluate({ request, view, settings: TEST_SETTINGS })).rejects.toThrow('bug');
    // A precheck that cannot answer (the namespace cache not synced) is the same.
    const unsynced = createSnapshotView(bareCluster(['apps']), {}, false);
    await expect(probe('undecided').policy.evaluate({ request, view: unsynced, settings: TEST_SETTINGS })).rejects.toBeInstanceOf(UndecidedError);
    expect(await probe('silent').policy.evaluate({ request, view: unsynced, settings: TEST_SETTINGS })).toEqual([]);
  });
});

describe('a new declaration reaches every derived place', () => {
  const { policy } = probe();
  const policies = [...BUILTIN_POLICIES, policy];

  it('the webhook configuration: its own webhook with its rule and comment, and its rule of a shared webhook merged', () => {
    const text = renderWebhookConfiguration(policies, BUILTIN_FINALIZER_GUARDS);
    expect(text).toContain('  # Probe DELETEs.\n  # Judged by: probe.\n  - name: probes.teardown-guard.io');
    const hooks = (parse(text) as { webhooks: Array<{ name: string; rules: Array<{ apiGroups: string[]; resources: string[] }> }> }).webhooks;
    expect(hooks.find((h) => h.name === 'probes.teardown-guard.io')?.rules).toEqual([
      expect.objectContaining({ apiGroups: ['example.io'], resources: ['widgets'] }),
    ]);
    // Helm-owned widgets are left to it, as namespaces and CRDs are, so none is reviewed twice.
    const helmOwned = (parse(text) as { webhooks: Array<{ name: string; matchConditions: Array<{ name: string; expression: string }> }> }).webhooks
      .find((h) => h.name === 'helm-owned.teardown-guard.io')
      ?.matchConditions.find((c) => c.name === 'reviewed-by-another-webhook')?.expression;
    expect(helmOwned).toContain("!(request.resource.group == 'example.io' && request.resource.resource == 'widgets') &&");
    expect(renderWebhookConfiguration(BUILTIN_POLICIES, BUILTIN_FINALIZER_GUARDS)).not.toContain("'widgets'");
    // Shared: the namespaces webhook keeps one rule, and names the new policy among its judges.
    expect(declaredWebhooks(policies, BUILTIN_FINALIZER_GUARDS).find((w) => w.webhook.name === 'namespaces')).toMatchObject({
      policies: expect.arrayContaining(['probe']),
      rules: [expect.objectContaining({ resources: ['namespaces'] })],
    });
  });

  it("the README's policy table and the chart's values", () => {
    expect(policyTable(policies)).toContain('| `probe` | `warn` | DELETE of namespaces, widgets | A policy for the test. |');
    const chart = renderChartValues(
      (file) => (file === 'values.yaml' ? 'policies:\n  # BEGIN generated: policy-modes\n  # END generated: policy-modes\n' : SCHEMA),
      policies,
    );
    expect(chart.get('values.yaml')).toContain('  probe:\n    mode: warn\n');
    expect(chart.get('values.schema.json')).toContain('"probe": { "$ref": "#/definitions/policy" }');
  });
});

const SCHEMA = `{
  "properties": {
    "policies": {
      "type": "object",
      "additionalProperties": false,
      "properties": {
        "old": { "$ref": "#/definitions/policy" }
      }
    },
  }
}
`;
