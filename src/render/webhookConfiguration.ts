// The guard's ValidatingWebhookConfiguration (manifests/base/validatingwebhookconfiguration.yaml),
// rendered whole from the policies' declarations (policies/declaration.ts) and the finalizer
// guards: each webhook a policy declares, with its comment, selectors and conditions, and as rules
// the union of the rules of every policy that judges requests through it. The chart's
// files/webhooks.yaml is written from the rendered base (`npm run chart:rules`).
import type { DeclaredPolicy, LabelSelectorSpec, MatchCondition, RequestRule, WebhookDeclaration } from '../policies/declaration.ts';
import type { FinalizerGuard } from '../finalizers/guard.ts';

const HEADER = `# Generated from the policies' declarations (src/policies/*.ts, definePolicy) and the finalizer
# registry by \`teardown-guard render-manifests\` (\`npm run render:manifests\`); do not edit by hand:
# src/render/webhookConfiguration.test.ts fails when this file differs from what they render.
#
# Narrow rules: the API server calls the guard only for the requests the policies judge.
#
# failurePolicy: Ignore on every webhook (fail open). A guardrail's outage must never wedge the
# cluster, and the guard already fails open when it cannot decide (undecided: allow). With
# Ignore, an unreachable guard means teardowns behave exactly as they would without it; with
# Fail it would turn an outage of two pods into "no namespace can be deleted and no Helm release
# can be uninstalled" cluster-wide. The fail-open moments are visible: the API server counts them
# (apiserver_admission_webhook_fail_open_count) and the guard's /readyz and up{} go red. Sites
# that prefer to block namespace deletion while the guard is down can add
# components/fail-closed-namespaces (kube-system and the guard's own namespace stay exempt, so
# that cannot lock the guard out of its own repair). See manifests/README.md.
#
# Every webhook: sideEffects None (the guard only reads), timeoutSeconds 5 (the guard's live
# look-ups are bounded by liveLookup.timeoutMs = 1.5 s), admissionReviewVersions [v1], and the
# same two matchConditions: the namespace controller and the garbage collector inside
# kube-controller-manager are never sent to the guard (src/ARCHITECTURE.md §4: they are never flagged, and a
# Terminating namespace's content deletion would otherwise flood the webhook).
# matchConditions need Kubernetes >= 1.28 (beta, on by default) / 1.30 (GA).
# Each webhook's comment names the policies that judge the requests it sends.
`;

/** The guard's namespace unless the config says otherwise (guardNamespace): the Service's and the one never sent. */
export const DEFAULT_GUARD_NAMESPACE = 'teardown-guard';

const common = (guardNamespace: string): string[] => [
  '    admissionReviewVersions: ["v1"]',
  '    sideEffects: None',
  '    timeoutSeconds: 5',
  '    failurePolicy: Ignore',
  '    matchPolicy: Equivalent',
  '    clientConfig:',
  `      service: { namespace: ${guardNamespace}, name: teardown-guard, path: /validate, port: 443 }`,
];

const NOT_SYSTEM: MatchCondition[] = [
  { name: 'not-namespace-controller', expression: ["request.userInfo.username != 'system:serviceaccount:kube-system:namespace-controller'"] },
  { name: 'not-garbage-collector', expression: ["request.userInfo.username != 'system:serviceaccount:kube-system:generic-garbage-collector'"] },
];

const skipped = (which: 'exempt' | 'guard', guardNamespace: string): string[] => (which === 'exempt' ? ['kube-system', guardNamespace] : [guardNamespace]);

const q = (s: string): string => JSON.stringify(s);
const list = (xs: readonly string[]): string => `[${xs.map(q).join(', ')}]`;
/** A flow-sequence item that needs no quotes (label keys, operators, namespace names). */
const plainList = (xs: readonly string[]): string => `[${xs.join(', ')}]`;

/** One webhook and the policies that judge its requests, with the union of their rules in first-declared order. */
export interface RenderedWebhook {
  webhook: WebhookDeclaration;
  policies: string[];
  rules: RequestRule[];
}

const ruleKey = (r: RequestRule): string => JSON.stringify([r.apiGroups, r.apiVersions, r.operations, r.scope]);

/** The webhooks the policies declare, in order of first use, each with its merged rules. */
export function declaredWebhooks(policies: readonly DeclaredPolicy[], guards: readonly FinalizerGuard[]): RenderedWebhook[] {
  const out = new Map<string, RenderedWebhook>();
  for (const policy of policies) {
    for (const judged of policy.declaration.judges(guards)) {
      let entry = out.get(judged.via.name);
      if (!entry) {
        entry = { webhook: judged.via, policies: [], rules: [] };
        out.set(judged.via.name, entry);
      }
      if (!entry.policies.includes(policy.name)) entry.policies.push(policy.name);
      const same = entry.rules.find((r) => ruleKey(r) === ruleKey(judged.rule));
      if (!same) entry.rules.push({ ...judged.rule, resources: [...judged.rule.resources] });
      else for (const resource of judged.rule.resources) if (!same.resources.includes(resource)) (same.resources as string[]).push(resource);
    }
  }
  return [...out.values()];
}

function selectorYaml(field: string, s: LabelSelectorSpec): string[] {
  const out = [`    ${field}:`];
  if (s.matchLabels) {
    out.push('      matchLabels:');
    for (const [k, v] of Object.entries(s.matchLabels)) out.push(`        ${k}: ${q(v)}`);
  }
  if (s.matchExpressions) {
    out.push('      matchExpressions:');
    for (const e of s.matchExpressions) out.push(`        - { key: ${e.key}, operator: ${e.operator}${e.values ? `, values: ${plainList(e.values)}` : ''} }`);
  }
  return out;
}

function conditionYaml(c: MatchCondition): string[] {
  if (c.expression.length === 1) return [`      - name: ${c.name}`, `        expression: ${q(c.expression[0] ?? '')}`];
  return [`      - name: ${c.name}`, '        expression: >-', ...c.expression.map((l) => `          ${l}`)];
}

const celString = (s: string): string => `'${s}'`;

/**
 * The condition of a webhook that leaves to the others what they send whoever owns it: one
 * `!(...)` clause per API group of every other webhook without objectSelector or conditions of
 * its own, then the declared extra clauses, joined by `&&`.
 */
function leftToOthers(self: RenderedWebhook, all: readonly RenderedWebhook[]): MatchCondition | undefined {
  const leaves = self.webhook.leavesToOthers;
  if (!leaves) return undefined;
  const unconditional = all.filter((w) => w !== self && !w.webhook.objectSelector && !w.webhook.matchConditions?.length && !w.webhook.leavesToOthers);
  const clauses = unconditional.flatMap((w) =>
    w.rules.flatMap((r) =>
      r.apiGroups.map((g) => {
        const resources = r.resources.length === 1 ? `== ${celString(r.resources[0] ?? '')}` : `in [${r.resources.map(celString).join(', ')}]`;
        return [`!(request.resource.group == ${celString(g)} && request.resource.resource ${resources})`];
      }),
    ),
  );
  // Each clause is one or more lines; every clause but the last ends with `&&`.
  const parts: ReadonlyArray<readonly string[]> = [...clauses, leaves.alsoExcept];
  const expression = parts.flatMap((lines, i) => (i < parts.length - 1 ? [...lines.slice(0, -1), `${lines[lines.length - 1] ?? ''} &&`] : [...lines]));
  return { name: leaves.name, expression };
}

function webhookYaml(rendered: RenderedWebhook, all: readonly RenderedWebhook[], guardNamespace: string): string[] {
  const { webhook, policies, rules } = rendered;
  const leaves = leftToOthers(rendered, all);
  return [
    ...webhook.why.map((l) => `  # ${l}`),
    `  # Judged by: ${policies.join(', ')}.`,
    `  - name: ${webhook.name}.teardown-guard.io`,
    ...common(guardNamespace),
    '    rules:',
    ...rules.flatMap((r) => [
      `      - apiGroups: ${list(r.apiGroups)}`,
      `        apiVersions: ${list(r.apiVersions)}`,
      `        operations: ${list(r.operations)}`,
      `        resources: ${list(r.resources)}`,
      `        scope: ${r.scope === '*' ? '"*"' : r.scope}`,
    ]),
    ...(webhook.objectSelector ? selectorYaml('objectSelector', webhook.objectSelector) : []),
    ...(webhook.skipsNamespaces
      ? selectorYaml('namespaceSelector', {
          matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: skipped(webhook.skipsNamespaces, guardNamespace) }],
        })
      : []),
    '    matchConditions:',
    ...[...NOT_SYSTEM, ...(webhook.matchConditions ?? []), ...(leaves ? [leaves] : [])].flatMap(conditionYaml),
  ];
}

/** The whole file. */
export function renderWebhookConfiguration(
  policies: readonly DeclaredPolicy[],
  guards: readonly FinalizerGuard[],
  guardNamespace: string = DEFAULT_GUARD_NAMESPACE,
): string {
  const declared = declaredWebhooks(policies, guards);
  const webhooks = declared.map((w) => webhookYaml(w, declared, guardNamespace));
  const lines = [
    'apiVersion: admissionregistration.k8s.io/v1',
    'kind: ValidatingWebhookConfiguration',
    'metadata:',
    '  name: teardown-guard',
    'webhooks:',
    ...webhooks.flatMap((w, i) => [...(i > 0 ? [''] : []), ...w]),
  ];
  return `${HEADER}${lines.join('\n')}\n`;
}
