// The webhooks several policies' requests come through, and the rules they are declared with
// (policies/declaration.ts). A webhook only one policy uses is declared in that policy's file. The
// parts that follow from the finalizer guards (a webhook per controller selector, the guarded
// objects' rules and CEL) are functions of the guards, built in and configured alike.
import type { Operation } from '../k8s/admissionReview.ts';
import { canonicalLabelSelector, parseLabelSelector, type Requirement } from '../k8s/labelSelector.ts';
import type { ResourceType } from '../k8s/types.ts';
import type { FinalizerGuard } from '../finalizers/guard.ts';
import type { Judged, LabelSelectorSpec, Precheck, RequestRule, WebhookDeclaration } from './declaration.ts';

export function rule(
  apiGroup: string,
  resources: readonly string[],
  scope: RequestRule['scope'],
  o: { operations?: Operation[]; versions?: string[] } = {},
): RequestRule {
  return { apiGroups: [apiGroup], apiVersions: o.versions ?? ['v1'], operations: o.operations ?? ['DELETE'], resources, scope };
}

/** The prechecks of a namespace DELETE: not an exempt namespace, not one already Terminating. */
export const NAMESPACE_PRECHECKS: readonly Precheck[] = ['exempt-namespace', 'target-deleting', 'namespace-terminating'];
/** The prechecks of a namespaced object's DELETE whose namespace matters: not exempt, not Terminating. */
export const IN_NAMESPACE_PRECHECKS: readonly Precheck[] = ['exempt-namespace', 'namespace-terminating'];

export const NAMESPACES_WEBHOOK: WebhookDeclaration = {
  name: 'namespaces',
  why: [
    'DELETE Namespace: every policy that judges what a namespace deletion would leave hanging. For a',
    "Namespace object the namespaceSelector matches the namespace's own labels, so kube-system and the",
    "guard's namespace are never sent.",
  ],
  skipsNamespaces: 'exempt',
};

/** A namespace DELETE, through the namespaces webhook. */
export const NAMESPACE_DELETE: Judged = { via: NAMESPACES_WEBHOOK, rule: rule('', ['namespaces'], 'Cluster'), prechecks: NAMESPACE_PRECHECKS };

const cel = (s: string): string => `'${s}'`;

/** CEL that is true when the old object's labels satisfy one requirement. */
function requirementCel(r: Requirement): string {
  const has = `has(oldObject.metadata.labels) && ${cel(r.key)} in oldObject.metadata.labels`;
  const value = `oldObject.metadata.labels[${cel(r.key)}]`;
  switch (r.op) {
    case 'exists':
      return has;
    case 'notexists':
      return `!(${has})`;
    case 'in':
      return r.values.length === 1 ? `${has} && ${value} == ${cel(r.values[0] ?? '')}` : `${has} && ${value} in [${r.values.map(cel).join(', ')}]`;
    case 'notin':
      return `!(${has} && ${value} in [${r.values.map(cel).join(', ')}])`;
  }
}

/** Each controller Deployment selector of the guards once, in its canonical spelling, in guard order. */
export function controllerSelectors(guards: readonly FinalizerGuard[]): string[] {
  return [...new Set(guards.map((g) => canonicalLabelSelector(g.controller.deploymentSelector)))];
}

/** Each guarded resource type once (by group and plural), in guard order. */
export function guardedResources(guards: readonly FinalizerGuard[]): ResourceType[] {
  const seen = new Map<string, ResourceType>();
  for (const g of guards) if (!seen.has(`${g.resource.group}/${g.resource.resource}`)) seen.set(`${g.resource.group}/${g.resource.resource}`, g.resource);
  return [...seen.values()];
}

/** CEL true for the old object of a guarded controller's Deployment (any controller selector). */
function guardedControllerCel(guards: readonly FinalizerGuard[]): string {
  const selectors = controllerSelectors(guards).map((s) => parseLabelSelector(s).map(requirementCel).join(' && '));
  return selectors.length === 1 ? (selectors[0] ?? '') : `(${selectors.map((s) => `(${s})`).join(' || ')})`;
}

/** A webhook objectSelector for a label selector string. */
function objectSelectorOf(selector: string): LabelSelectorSpec {
  const reqs = parseLabelSelector(selector);
  const labels = reqs.filter((r) => r.op === 'in' && r.values.length === 1);
  const exprs = reqs.filter((r) => !(r.op === 'in' && r.values.length === 1));
  const operator = { in: 'In', notin: 'NotIn', exists: 'Exists', notexists: 'DoesNotExist' } as const;
  return {
    ...(labels.length > 0 ? { matchLabels: Object.fromEntries(labels.map((r) => [r.key, r.op === 'in' ? (r.values[0] ?? '') : ''])) } : {}),
    ...(exprs.length > 0
      ? { matchExpressions: exprs.map((r) => ({ key: r.key, operator: operator[r.op], ...(r.op === 'in' || r.op === 'notin' ? { values: r.values } : {}) })) }
      : {}),
  };
}

/**
 * Helm-owned objects' DELETEs. Namespaces, CRDs, cluster RBAC and guarded controllers' Deployments
 * are left to the webhooks that send them whoever owns them, so no request is reviewed twice.
 */
export function helmOwnedWebhook(guards: readonly FinalizerGuard[]): WebhookDeclaration {
  return {
    name: 'helm-owned',
    why: [
      'DELETE of any Helm-owned object (label app.kubernetes.io/managed-by=Helm), namespaced or',
      'cluster-scoped (scope "*": a chart\'s ClusterRoles and CRDs are released objects too; for',
      'cluster-scoped objects the namespaceSelector never skips). resources "*" matches every',
      'resource but no subresource. What another webhook sends whoever owns it (namespaces, CRDs,',
      'cluster RBAC, guarded controllers) is left to it, so no request is reviewed twice.',
    ],
    objectSelector: { matchLabels: { 'app.kubernetes.io/managed-by': 'Helm' } },
    skipsNamespaces: 'guard',
    leavesToOthers: {
      name: 'reviewed-by-another-webhook',
      alsoExcept: ["!(request.resource.group == 'apps' && request.resource.resource == 'deployments' &&", `  ${guardedControllerCel(guards)})`],
    },
  };
}

/** One webhook per controller selector of the guards (a webhook has one objectSelector). */
export function controllerWebhooks(guards: readonly FinalizerGuard[]): WebhookDeclaration[] {
  return controllerSelectors(guards).map((selector, i) => ({
    name: i === 0 ? 'controllers' : `controllers-${i + 1}`,
    why: [
      `DELETE of a guarded finalizer's controller Deployment (${selector}): deny while objects carrying`,
      'its finalizer are already being deleted, warn while they merely exist.',
    ],
    objectSelector: objectSelectorOf(selector),
    skipsNamespaces: 'exempt',
  }));
}

export const CONTROLLER_RBAC_WEBHOOK: WebhookDeclaration = {
  name: 'controller-rbac',
  why: [
    'DELETE of a ClusterRole or ClusterRoleBinding: a controller is alive only while its',
    'ServiceAccount is bound to an existing ClusterRole, so deleting those is deleting the controller.',
    "OLM's (system:controller:operator-lifecycle-manager, olm-operator-binding-<ns>) carry no label",
    'to select on, so every ClusterRole/Binding DELETE is sent; they are few and answered from cache.',
  ],
};

/** DELETE of an object that carries a guarded finalizer, not already being deleted. */
export function guardedObjectsWebhook(guards: readonly FinalizerGuard[]): WebhookDeclaration {
  const carries = guards.flatMap((g, i) => {
    const ignore = g.ignoreLabel ? ` &&\n   !(has(oldObject.metadata.labels) && ${cel(g.ignoreLabel)} in oldObject.metadata.labels)` : '';
    const line =
      `  (request.resource.group == ${cel(g.resource.group)} && request.resource.resource == ${cel(g.resource.resource)} &&\n` +
      `   ${cel(g.finalizer)} in oldObject.metadata.finalizers${ignore})${i < guards.length - 1 ? ' ||' : ''}`;
    return line.split('\n');
  });
  return {
    name: 'guarded-objects',
    why: [
      'DELETE of an object that carries a guarded finalizer (a CSV with operators.coreos.com/csv-cleanup',
      'whose olm-operator is gone would hang in Terminating forever). CEL sends only objects that carry',
      "a guarded finalizer, are not copies (the guard's ignoreLabel), and are not already deleting.",
    ],
    skipsNamespaces: 'exempt',
    matchConditions: [
      {
        name: 'carries-guarded-finalizer',
        expression: ['has(oldObject.metadata.finalizers) && !has(oldObject.metadata.deletionTimestamp) && (', ...carries, ')'],
      },
    ],
  };
}

/** Rules for the guarded resource types, by API group then scope (one webhook rule has one scope). */
export function guardedObjectRules(guards: readonly FinalizerGuard[]): RequestRule[] {
  const out: RequestRule[] = [];
  for (const r of guardedResources(guards)) {
    const scope = r.namespaced ? 'Namespaced' : 'Cluster';
    const found = out.find((o) => o.apiGroups[0] === r.group && o.scope === scope);
    if (found) (found.resources as string[]).push(r.resource);
    else out.push(rule(r.group, [r.resource], scope, { versions: ['*'] }));
  }
  return out;
}

export function inferredControllersWebhook(guards: readonly FinalizerGuard[]): WebhookDeclaration {
  return {
    name: 'controllers-inferred',
    why: [
      'DELETE of a workload, a ServiceAccount, a Role or a RoleBinding that Helm does not own (operators',
      "installed with kubectl or by another tool; helm-owned sends Helm's): removing the controller of a",
      'finalizer, or its rights, while objects carry that finalizer. Answered without a live read unless',
      "the workload's ServiceAccount may update a resource type of an organization's API group.",
    ],
    objectSelector: { matchExpressions: [{ key: 'app.kubernetes.io/managed-by', operator: 'NotIn', values: ['Helm'] }] },
    skipsNamespaces: 'exempt',
    matchConditions: [
      {
        name: 'not-a-guarded-controller',
        expression: ["!(request.resource.group == 'apps' && request.resource.resource == 'deployments' &&", `  ${guardedControllerCel(guards)})`],
      },
    ],
  };
}
