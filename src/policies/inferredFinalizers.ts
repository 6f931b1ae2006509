// Policy `inferred-finalizers` (ARCHITECTURE.md §1E, §1F): finalizers no guard knows, whose
// controller is inferred (RBAC grants, workloads, field managers) or remembered.
//
// - A namespace DELETE whose objects carry such a finalizer, whose controller is gone or goes with
//   the namespace (the sweep: namespaceStrandsFinalizers below).
// - The removal of such a controller (its Deployment, StatefulSet or DaemonSet, its ServiceAccount,
//   or the binding or role that gives it its rights) while objects carry its finalizer
//   (policies/inferredControllerRemoval.ts): objects already being deleted hang at once; objects a
//   Helm uninstall running now is about to delete (their CRD or namespace is in its manifest) are
//   held back for, as OLM's are; objects that merely exist are left with nobody to finalize them.
//
// Inference is never sure enough to block on what it cannot see: when it cannot name a controller,
// or a read fails, it says nothing; when a controller it inferred is merely not running, or lives in
// the namespace being deleted, it warns (risk). A controller it found (or remembers) and that is
// gone is a violation, denied in enforce; the default mode is warn.
import { isDelete, targetName } from '../k8s/admissionReview.ts';
import type { ClusterView, SweepTypes } from '../cluster/view.ts';
import { updatableTypes } from '../finalizers/inferController.ts';
import type { RememberedController } from '../finalizers/memory.ts';
import { memoByObject } from '../memoByObject.ts';
import { confirmedFindings } from './confirmedFindings.ts';
import { finalizerControllers, grantsFor, type FinalizerController } from './finalizerControllers.ts';
import { controllerRemoval, removalOf } from './inferredControllerRemoval.ts';
import { bringBack, controllerNames, listing, manualWayOut, refOf, rememberedText, typeName, what, why } from './inferredText.ts';
import type { Finding, PolicyInput } from './types.ts';
import { definePolicy } from './declaration.ts';
import { CONTROLLER_RBAC_WEBHOOK, IN_NAMESPACE_PRECHECKS, inferredControllersWebhook, NAMESPACE_DELETE, rule } from './webhooks.ts';

const NAME = 'inferred-finalizers';

function namespaceFinding(ns: string, fc: FinalizerController): Finding | undefined {
  const { u, inference, remembered } = fc;
  const objects = u.objects.map(refOf);
  const base = { policy: NAME, objects } as const;
  if (remembered) {
    return {
      ...base,
      severity: 'violation',
      code: 'namespace-strands-uninstalled-controller',
      summary: `deleting namespace ${ns} would leave it Terminating: ${what(u)} carry finalizer ${u.finalizer}, and its controller ${controllerNames(remembered.controllers)} was uninstalled`,
      detail: [`These objects carry a finalizer whose controller is gone:`, listing(u), rememberedText(remembered)].join('\n'),
      remedy: [bringBack(remembered), ...manualWayOut(u)],
    };
  }
  if (inference.verdict === 'removed-by-request') {
    return {
      ...base,
      severity: 'risk',
      code: 'namespace-deletes-inferred-controller',
      summary: `namespace ${ns} holds ${what(u)} with finalizer ${u.finalizer}, and the controller that removes it (${controllerNames(inference.controllers)}) is deleted with the namespace: it may go first, and ${ns} would hang`,
      detail: [
        `Deleting namespace ${ns} deletes these objects and, at the same time, the controller inferred to remove their finalizer:`,
        listing(u),
        `Inferred controller: ${controllerNames(inference.controllers)}, because ${why(inference.candidates, inference.basis)}.`,
      ].join('\n'),
      remedy: [
        `Delete the objects first and wait until they are gone: kubectl delete ${typeName(u)} --all -n ${ns} --wait; then delete the namespace.`,
        ...manualWayOut(u),
      ],
    };
  }
  if (inference.verdict === 'not-running') {
    return {
      ...base,
      severity: 'risk',
      code: 'namespace-inferred-controller-not-running',
      summary: `namespace ${ns} holds ${what(u)} with finalizer ${u.finalizer}; no workload runs as the ServiceAccount that may remove it, so ${ns} may hang in Terminating`,
      detail: [
        `These objects carry a finalizer no guard knows:`,
        listing(u),
        `${why(inference.candidates, { by: 'rbac' })}; but no Deployment, StatefulSet or DaemonSet runs as it. If its controller was uninstalled, nothing will remove the finalizer. Not sure: the controller may run elsewhere.`,
      ].join('\n'),
      remedy: ['Make sure the controller of that finalizer runs (reinstall it if it was removed), then delete the namespace.', ...manualWayOut(u)],
    };
  }
  if (inference.verdict !== 'dead') return undefined;
  const reasons = inference.controllers.flatMap((c) => c.deadReasons).join('; ');
  return {
    ...base,
    severity: 'violation',
    code: 'namespace-strands-inferred-finalizers',
    summary: `deleting namespace ${ns} would leave it Terminating: ${what(u)} carry finalizer ${u.finalizer}, and its controller ${controllerNames(inference.controllers)} is not running`,
    detail: [
      `These objects carry a finalizer no guard knows:`,
      listing(u),
      `Inferred controller: ${controllerNames(inference.controllers)}, because ${why(inference.candidates, inference.basis)}.`,
      `It is not running: ${reasons}.`,
    ].join('\n'),
    remedy: [`Bring ${controllerNames(inference.controllers)} back (scale it up, or reinstall its release), then delete the namespace.`, ...manualWayOut(u)],
  };
}

type TypePredicate = (type: { group: string; resource: string }) => boolean;

/** Types the memory knows a controller for: swept even once no ServiceAccount may update them. */
const rememberedTypes = memoByObject((entries: readonly RememberedController[]): TypePredicate => {
  const keys = new Set(entries.map((e) => `${e.group}\n${e.resource}`));
  return ({ group, resource }) => keys.has(`${group}\n${resource}`);
});
const NOTHING_REMEMBERED: readonly RememberedController[] = [];

/**
 * What the sweep lists, one object per (grants, memory) pair: while neither changes, every
 * namespace DELETE hands the sweep the same object, and the sweep filters the cluster's types for
 * it once (LiveReader.finalizedObjects), not once per review.
 */
const sweepTypes = memoByObject((updatable: TypePredicate) =>
  memoByObject((remembered: TypePredicate): SweepTypes => ({ key: 'updatable-or-remembered', wanted: (type) => updatable(type) || remembered(type) })),
);

async function namespaceStrandsFinalizers(ns: string, view: ClusterView, input: PolicyInput): Promise<Finding[]> {
  if (!view.liveFinalizedObjects) return [];
  const grants = await grantsFor(view, [ns]);
  if (!grants) return [];
  // A finalizer on a type no ServiceAccount may update, and that no memory names, has no
  // controller to tell: such types are not listed at all (most of a cluster's types).
  const types = sweepTypes(updatableTypes(grants))(rememberedTypes(view.rememberedControllers?.() ?? NOTHING_REMEMBERED));
  const sweep = await view.liveFinalizedObjects(ns, types);
  const controllers = await finalizerControllers(view, sweep.objects, input.settings.finalizerGuards, {
    grantNamespaces: [ns],
    grants,
    effect: { deletedNamespace: ns },
    nowMs: input.nowMs ?? Date.now(),
    ...(input.learn ? { learn: input.learn } : {}),
  });
  return controllers.flatMap((fc) => namespaceFinding(ns, fc) ?? []);
}

async function evaluate(input: PolicyInput): Promise<Finding[]> {
  const { request } = input;
  if (isDelete(request, '', 'namespaces')) return confirmedFindings(input, (v) => namespaceStrandsFinalizers(targetName(request), v, input));
  const removal = removalOf(request);
  return removal ? confirmedFindings(input, (v) => controllerRemoval(removal, v, input)) : [];
}

const RBAC = 'rbac.authorization.k8s.io';

export const inferredFinalizers = definePolicy({
  name: NAME,
  defaultMode: 'warn',
  summary:
    'For finalizers no guard knows, the controller inferred from RBAC, workloads and field managers (or remembered): warns, or denies in enforce, deleting a namespace whose objects it would leave hanging, or removing that controller while objects carry its finalizer.',
  judges: (guards) => {
    const via = inferredControllersWebhook(guards);
    return [
      NAMESPACE_DELETE,
      { via, rule: rule('apps', ['deployments', 'statefulsets', 'daemonsets'], 'Namespaced'), prechecks: IN_NAMESPACE_PRECHECKS },
      { via, rule: rule('', ['serviceaccounts'], 'Namespaced'), prechecks: IN_NAMESPACE_PRECHECKS },
      { via, rule: rule(RBAC, ['roles', 'rolebindings'], 'Namespaced'), prechecks: IN_NAMESPACE_PRECHECKS },
      { via: CONTROLLER_RBAC_WEBHOOK, rule: rule(RBAC, ['clusterroles', 'clusterrolebindings'], 'Cluster'), prechecks: [] },
    ];
  },
  // A read that failed or ran out of time leaves inference unsure: never undecided, never a denial.
  whenUndecided: 'silent',
  evaluate,
});
