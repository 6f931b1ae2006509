// Policy `olm-orphaned-finalizers` (ARCHITECTURE.md §1A, §2): deny deletions that would leave objects carrying a
// finalizer whose controller is gone, so the namespace (or object) would hang in Terminating.
import { isDelete, targetName } from '../k8s/admissionReview.ts';
import type { ClusterView } from '../cluster/view.ts';
import { apiVersionOf, formatRef, type ObjectRef, type PartialObjectMetadata } from '../k8s/types.ts';
import { matchesLabelSelector, parsedLabelSelector } from '../k8s/labelSelector.ts';
import { controllerLiveness, serviceAccountOf, type ControllerLiveness, type PendingRemoval } from './controllerLiveness.ts';
import { DEFAULT_STALE_UNINSTALLING_AFTER_MS } from './releaseActivity.ts';
import type { FinalizerGuard } from './settings.ts';
import { carriesGuardedFinalizer } from '../finalizers/guard.ts';
import type { Finding, PolicyInput } from './types.ts';
import { definePolicy } from './declaration.ts';
import {
  CONTROLLER_RBAC_WEBHOOK,
  controllerWebhooks,
  guardedObjectRules,
  guardedObjectsWebhook,
  IN_NAMESPACE_PRECHECKS,
  inferredControllersWebhook,
  NAMESPACE_DELETE,
  rule,
} from './webhooks.ts';
import { uninstallInProgress, type UninstallInProgress } from './uninstallInProgress.ts';

const NAME = 'olm-orphaned-finalizers';

function refOf(obj: PartialObjectMetadata, guard: FinalizerGuard): ObjectRef {
  const ref: ObjectRef = {
    apiVersion: apiVersionOf(guard.resource.group, guard.resource.version),
    kind: guard.resource.kind,
    name: obj.metadata.name ?? '',
  };
  if (obj.metadata.namespace) ref.namespace = obj.metadata.namespace;
  return ref;
}

/** The manual way out, as sub-steps of an "Or:" alternative. */
function manualRemedy(guard: FinalizerGuard, stuck: ObjectRef[]): string[] {
  const lines: string[] = [];
  for (const ref of stuck) {
    const nsFlag = ref.namespace ? ` -n ${ref.namespace}` : '';
    lines.push(`  kubectl patch ${guard.resource.resource}.${guard.resource.group} ${ref.name}${nsFlag} --type=merge -p '{"metadata":{"finalizers":null}}'`);
    if (guard.cleanupHint && ref.namespace) lines.push(...guard.cleanupHint(ref.namespace, ref.name).map((l) => `  ${l}`));
  }
  return lines;
}

function listing(refs: ObjectRef[], guard: FinalizerGuard): string {
  return refs.map((r) => `  - ${formatRef(r)} (finalizer ${guard.finalizer})`).join('\n');
}

/** DELETE Namespace N that holds finalizer-carrying objects whose controller will not be alive. */
async function namespaceStrandsFinalizers(ns: string, guard: FinalizerGuard, view: ClusterView): Promise<Finding | undefined> {
  const stuck = view
    .listObjectMeta(guard.resource, ns)
    .filter((o) => carriesGuardedFinalizer(o, guard))
    .map((o) => refOf(o, guard));
  if (stuck.length === 0) return undefined;
  const liveness = await controllerLiveness(guard.controller, view, { namespace: ns });
  const what = stuck.length === 1 ? formatRef(stuck[0] as ObjectRef) : `${stuck.length} ${guard.resource.kind}s`;
  if (liveness.waitingFor) return waitsForController(ns, what, stuck, guard, liveness);
  if (liveness.alive) return undefined;
  return {
    policy: NAME,
    severity: 'violation',
    code: 'namespace-strands-finalizers',
    summary: `deleting namespace ${ns} would leave it Terminating forever: ${what} carries ${guard.finalizer} and ${guard.controller.displayName} is gone`,
    detail: [
      `Namespace ${ns} holds objects whose finalizer only ${guard.controller.displayName} removes:`,
      listing(stuck, guard),
      `${guard.controller.displayName} counts as gone: ${liveness.whyGone}.`,
      `If ${ns} were deleted now, the namespace would stay Terminating until someone removes the finalizer by hand.`,
    ].join('\n'),
    remedy: [
      `Bring ${guard.controller.displayName} back (scale it up, or roll back/reinstall the release that removed it), then delete namespace ${ns} again and let it remove the finalizer.`,
      `Or, if it is never coming back: remove the finalizer by hand, clean up what it would have cleaned, then delete the namespace:`,
      ...manualRemedy(guard, stuck),
      `  kubectl delete namespace ${ns}`,
    ],
    objects: [{ apiVersion: 'v1', kind: 'Namespace', name: ns }, ...stuck],
  };
}

/**
 * The controller has no available replica but is coming back (rollout, Pods rescheduled after a
 * drain): the namespace would not hang, it would wait in Terminating until the controller is
 * available and removes the finalizer. That is allowed, with a warning that says so.
 */
function waitsForController(ns: string, what: string, stuck: ObjectRef[], guard: FinalizerGuard, liveness: ControllerLiveness): Finding {
  return {
    policy: NAME,
    severity: 'risk',
    code: 'namespace-waits-for-controller',
    summary: `namespace ${ns} will stay Terminating until ${guard.controller.displayName} is available again: ${what} carries ${guard.finalizer}`,
    detail: [
      `Namespace ${ns} holds objects whose finalizer only ${guard.controller.displayName} removes:`,
      listing(stuck, guard),
      `${liveness.waitingFor ?? ''}. Once it is available it removes the finalizer and the deletion completes; until then ${ns} stays Terminating.`,
    ].join('\n'),
    remedy: [`Watch the controller come back: kubectl get deployment -A -l ${guard.controller.deploymentSelector}`],
    objects: [{ apiVersion: 'v1', kind: 'Namespace', name: ns }, ...stuck],
  };
}

/** DELETE of one object carrying the finalizer (Helm deletes unknown kinds like CSVs last). */
async function objectStrandsFinalizer(ref: ObjectRef, guard: FinalizerGuard, view: ClusterView): Promise<Finding | undefined> {
  const liveness = await controllerLiveness(guard.controller, view, {});
  if (liveness.alive) return undefined;
  return {
    policy: NAME,
    severity: 'violation',
    code: 'object-strands-finalizer',
    summary: `deleting ${formatRef(ref)} would leave it Terminating forever: it carries ${guard.finalizer} and ${guard.controller.displayName} is gone`,
    detail: [
      `${formatRef(ref)} carries ${guard.finalizer}, which only ${guard.controller.displayName} removes.`,
      `${guard.controller.displayName} counts as gone: ${liveness.whyGone}.`,
    ].join('\n'),
    remedy: [
      `Bring ${guard.controller.displayName} back, then delete ${formatRef(ref)} again.`,
      'Or, if it is never coming back: remove the finalizer by hand and clean up what it would have cleaned:',
      ...manualRemedy(guard, [ref]),
    ],
    objects: [ref],
  };
}

/** Namespaces among `names` that are Terminating; the cache, confirmed live for a few it says are not. */
async function terminatingNamespaces(names: string[], view: ClusterView): Promise<Set<string>> {
  const out = new Set<string>();
  const unconfirmed: string[] = [];
  for (const n of names) {
    if (view.getNamespace(n)?.deletionTimestamp) out.add(n);
    else unconfirmed.push(n);
  }
  // `kubectl delete namespace A B` sends B's DELETE right after A's answer, before the cache may
  // have seen A go Terminating; a stale "not terminating" would turn a deny into a warning. A few
  // namespaces are confirmed live (one GET each); past that the cache's answer stands.
  if (unconfirmed.length > 0 && unconfirmed.length <= LIVE_NAMESPACE_CONFIRMS) {
    const states = await view.liveObjectsState(unconfirmed.map((name) => ({ apiVersion: 'v1', kind: 'Namespace', name })));
    unconfirmed.forEach((n, i) => {
      if (states[i] === 'deleting') out.add(n);
    });
  }
  return out;
}

const LIVE_NAMESPACE_CONFIRMS = 16;

function heldBackForUninstall(removed: string, guard: FinalizerGuard, uninstall: UninstallInProgress, doomed: ObjectRef[]): Finding {
  const namespaces = [...new Set(doomed.map((r) => r.namespace ?? ''))].filter((n) => n !== '').sort();
  const nsText = namespaces.join(', ');
  const rel = `${uninstall.release.namespace}/${uninstall.release.name}`;
  return {
    policy: NAME,
    severity: 'violation',
    code: 'uninstall-removes-controller-first',
    summary: `held back: ${nsText} must finish while ${guard.controller.displayName} runs; run the uninstall again once ${nsText} is gone`,
    summaryIfAllowed: `not held back: ${nsText} may hang in Terminating, as this uninstall removes ${guard.controller.displayName} first`,
    detail: [
      `Release ${rel} is being uninstalled. It deletes ${guard.controller.displayName} and also namespace(s) ${nsText}, which hold objects whose finalizer only that controller removes:`,
      listing(doomed, guard),
      `Helm deletes the controller first (Deployments, RBAC and ServiceAccounts come before Namespaces in its uninstall order), so ${nsText} would stay Terminating forever.`,
      `${removed} is held back; the same uninstall goes on to delete ${nsText} while the controller still runs, and the controller removes the finalizer.`,
      'The uninstall therefore ends with an error this time. Run it again once those namespaces are gone: it then removes the controller too.',
    ].join('\n'),
    remedy: [
      `Wait until the namespaces are gone: kubectl wait --for=delete ${namespaces.map((n) => `namespace/${n}`).join(' ')} --timeout=5m`,
      `Then run the uninstall again: ${uninstall.command}`,
    ],
    objects: doomed,
  };
}

/**
 * The request removes a controller (its Deployment, namespace, RBAC or ServiceAccount). Objects
 * already being deleted (or in a Terminating namespace) will hang at once: violation. Objects the
 * uninstall in progress is about to delete (their namespace is in its manifest): violation, held
 * back so the namespaces go first. Objects that merely exist hang the day they are deleted: risk.
 * Objects inside a namespace this request deletes are covered by the namespace check.
 */
async function controllerRemoval(
  guard: FinalizerGuard,
  view: ClusterView,
  removal: PendingRemoval,
  removed: string,
  staleAfterMs: number,
  nowMs: number,
): Promise<Finding[]> {
  const before = await controllerLiveness(guard.controller, view, {});
  if (!before.alive) return []; // not running already: removing the rest changes nothing
  const after = await controllerLiveness(guard.controller, view, removal);
  if (after.alive) return [];
  const carrying = view.listObjectMeta(guard.resource).filter((o) => carriesGuardedFinalizer(o, guard) && o.metadata.namespace !== removal.namespace);
  if (carrying.length === 0) return [];
  const terminating = await terminatingNamespaces(
    [...new Set(carrying.map((o) => o.metadata.namespace ?? ''))].filter((n) => n !== ''),
    view,
  );
  const pending = (o: PartialObjectMetadata): boolean => o.metadata.deletionTimestamp !== undefined || terminating.has(o.metadata.namespace ?? '');
  const deleting = carrying.filter(pending).map((o) => refOf(o, guard));
  const rest = carrying.filter((o) => !pending(o));

  const removedNow = before.instances.filter(
    (b) => b.deadReasons.length === 0 && after.instances.some((a) => a.namespace === b.namespace && a.name === b.name && a.deadReasons.length > 0),
  );
  const owners = removedNow.flatMap((i) => (i.helmRelease ? [i.helmRelease] : []));
  const uninstall = rest.length > 0 ? await uninstallInProgress(owners, view, nowMs, staleAfterMs) : undefined;
  const candidate = (o: PartialObjectMetadata) => ({
    group: guard.resource.group,
    kind: guard.resource.kind,
    resource: guard.resource.resource,
    namespace: o.metadata.namespace ?? '',
    name: o.metadata.name ?? '',
  });
  const doomed = uninstall?.active ? rest.filter((o) => uninstall.deletes(candidate(o))).map((o) => refOf(o, guard)) : [];
  const existing = rest.filter((o) => !(uninstall?.active && uninstall.deletes(candidate(o)))).map((o) => refOf(o, guard));

  const findings: Finding[] = [];
  if (deleting.length > 0) {
    findings.push({
      policy: NAME,
      severity: 'violation',
      code: 'controller-removed-while-finalizing',
      summary: `${removed} removes ${guard.controller.displayName} while ${deleting.length} object(s) wait for it to remove ${guard.finalizer}`,
      detail: [
        `${removed} would leave no live ${guard.controller.displayName}, but these objects are being deleted (or their namespace is Terminating) and wait for it:`,
        listing(deleting, guard),
        'They would hang in Terminating (and with them their namespaces).',
      ].join('\n'),
      remedy: [
        `Wait until those objects are gone, then remove the controller: kubectl wait --for=delete ${deleting
          .slice(0, 5)
          .map((r) => `${guard.resource.resource}.${guard.resource.group}/${r.name}${r.namespace ? ` -n ${r.namespace}` : ''}`)
          .join(' ')} --timeout=5m`,
      ],
      objects: deleting,
    });
  }
  if (uninstall?.active && doomed.length > 0) findings.push(heldBackForUninstall(removed, guard, uninstall, doomed));
  if (existing.length > 0) {
    const sample = existing.slice(0, 3).map(formatRef).join(', ');
    const staleNote = uninstall?.staleNote ? ` ${uninstall.staleNote}` : '';
    findings.push({
      policy: NAME,
      severity: 'risk',
      code: 'controller-removed-leaves-finalizers',
      summary: `${removed} leaves ${existing.length} object(s) with ${guard.finalizer} and no controller (e.g. ${sample}); deleting them later will hang`,
      detail: [
        `${removed} would leave no live ${guard.controller.displayName}. These objects carry ${guard.finalizer}:`,
        listing(existing, guard),
        `Nothing hangs yet, but deleting them (or their namespaces) later will hang until the finalizer is removed by hand.${staleNote}`,
      ].join('\n'),
      remedy: ['Delete those objects (or their namespaces) first, while the controller runs; then remove the controller.'],
      objects: existing,
    });
  }
  return findings;
}

async function evaluate({ request, view, settings, nowMs = Date.now() }: PolicyInput): Promise<Finding[]> {
  const findings: Finding[] = [];
  const guards = settings.finalizerGuards;
  const staleAfterMs = settings.staleUninstallingAfterMs ?? DEFAULT_STALE_UNINSTALLING_AFTER_MS;
  const removal = (guard: FinalizerGuard, what: PendingRemoval, text: string): Promise<Finding[]> =>
    controllerRemoval(guard, view, what, text, staleAfterMs, nowMs);
  if (isDelete(request, '', 'namespaces')) {
    const ns = targetName(request);
    for (const guard of guards) {
      const stranded = await namespaceStrandsFinalizers(ns, guard, view);
      if (stranded) findings.push(stranded);
      const hostsController = view.listDeployments(guard.controller.deploymentSelector, ns).length > 0;
      if (hostsController) findings.push(...(await removal(guard, { namespace: ns }, `Deleting namespace ${ns}`)));
    }
    return findings;
  }
  if (isDelete(request, 'apps', 'deployments')) {
    const ns = request.namespace ?? '';
    const name = targetName(request);
    const labels = request.oldObject?.metadata?.labels;
    for (const guard of guards) {
      if (!matchesLabelSelector(parsedLabelSelector(guard.controller.deploymentSelector), labels)) continue;
      findings.push(...(await removal(guard, { deployment: { namespace: ns, name } }, `Deleting Deployment ${ns}/${name}`)));
    }
    return findings;
  }
  const guarded = guards.filter((g) => isDelete(request, g.resource.group, g.resource.resource));
  if (guarded.length > 0) {
    for (const guard of guarded) {
      const obj: PartialObjectMetadata = { metadata: request.oldObject?.metadata ?? {} };
      if (!carriesGuardedFinalizer(obj, guard)) continue;
      const stranded = await objectStrandsFinalizer(refOf(obj, guard), guard, view);
      if (stranded) findings.push(stranded);
    }
    return findings;
  }
  if (isDelete(request, '', 'serviceaccounts')) {
    const ns = request.namespace ?? '';
    const name = targetName(request);
    for (const guard of guards) {
      const runsAs = view.listDeployments(guard.controller.deploymentSelector, ns).some((d) => serviceAccountOf(d) === name);
      if (runsAs) findings.push(...(await removal(guard, { serviceAccount: { namespace: ns, name } }, `Deleting ServiceAccount ${ns}/${name}`)));
    }
    return findings;
  }
  if (isDelete(request, 'rbac.authorization.k8s.io', 'clusterrolebindings')) {
    const name = targetName(request);
    for (const guard of guards.filter((g) => g.controller.requireClusterRoleBinding)) {
      findings.push(...(await removal(guard, { clusterRoleBinding: name }, `Deleting ClusterRoleBinding ${name}`)));
    }
    return findings;
  }
  if (isDelete(request, 'rbac.authorization.k8s.io', 'clusterroles')) {
    const name = targetName(request);
    for (const guard of guards.filter((g) => g.controller.requireClusterRoleBinding)) {
      findings.push(...(await removal(guard, { clusterRole: name }, `Deleting ClusterRole ${name}`)));
    }
    return findings;
  }
  return findings;
}

export const olmOrphanedFinalizers = definePolicy({
  name: NAME,
  defaultMode: 'enforce',
  summary:
    'Denies deleting a namespace (or object) whose objects carry a guarded finalizer (OLM csv-cleanup) while its controller is gone, or removing that controller while such objects are being deleted; holds back a Helm uninstall that would remove the controller first.',
  judges: (guards) => [
    NAMESPACE_DELETE,
    ...controllerWebhooks(guards).map((via) => ({ via, rule: rule('apps', ['deployments'], 'Namespaced'), prechecks: IN_NAMESPACE_PRECHECKS })),
    ...guardedObjectRules(guards).map((r) => ({ via: guardedObjectsWebhook(guards), rule: r, prechecks: ['target-deleting'] as const })),
    { via: inferredControllersWebhook(guards), rule: rule('', ['serviceaccounts'], 'Namespaced'), prechecks: IN_NAMESPACE_PRECHECKS },
    { via: CONTROLLER_RBAC_WEBHOOK, rule: rule('rbac.authorization.k8s.io', ['clusterroles', 'clusterrolebindings'], 'Cluster'), prechecks: [] },
  ],
  whenUndecided: 'undecided',
  evaluate,
});
