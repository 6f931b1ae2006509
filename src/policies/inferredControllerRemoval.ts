// The removal of an inferred (or remembered) finalizer's controller (policy inferred-finalizers,
// ARCHITECTURE.md §1C, §1E): deleting its workload, its ServiceAccount, or a binding or role that
// gives it the rights to update its objects. Judged as of after the request: the controller of a
// finalizer runs before it and not after it, while objects carry that finalizer:
// - objects already being deleted (or in a Terminating namespace) wait for it now: violation;
// - objects a Helm uninstall running now is about to delete (their CRD in the chart's templates,
//   or their namespace, is in its manifest; Helm deletes workloads and RBAC before CRDs and
//   Namespaces) would hang: the controller's removal is held back, so the same uninstall deletes
//   them while the controller finalizes them, and run again it removes the controller: violation;
//   every binding or role of that uninstall that grants the held-back controller anything is held
//   back with it (below);
// - objects that merely exist are left with nobody to remove their finalizer: risk.
import type { AdmissionRequest } from '../k8s/admissionReview.ts';
import { isDelete, targetName } from '../k8s/admissionReview.ts';
import type { ClusterView, FinalizedObject, ServiceAccountGrant } from '../cluster/view.ts';
import { grantHolder, updatableTypes, workloadServiceAccount, type RequestEffect } from '../finalizers/inferController.ts';
import type { KubeObject } from '../k8s/types.ts';
import { memoByObject } from '../memoByObject.ts';
import { finalizerControllers, grantsFor, type FinalizerController } from './finalizerControllers.ts';
import { controllerNames, listing, refOf, typeName, what } from './inferredText.ts';
import { DEFAULT_STALE_UNINSTALLING_AFTER_MS } from './releaseActivity.ts';
import type { Finding, PolicyInput } from './types.ts';
import { uninstallInProgress, type ReleaseOwner, type UninstallInProgress } from './uninstallInProgress.ts';

const NAME = 'inferred-finalizers';
/**
 * Most resource types one removal lists cluster-wide; beyond it inference is unsure and silent.
 * Only types of named API groups count (below): a batch scheduler's manager (Kueue's) may update
 * some 40 types of a dozen groups, most of which are not served where it runs, and a type that is
 * not served costs no request (LiveReader.finalizedObjectsOfType).
 */
const MAX_TYPES = 48;
/**
 * Types a controller's grants reach that are never listed for its removal: groups without a dot
 * are the built-in ones (a CRD's group must contain a dot), and the built-in dotted groups below
 * hold what controllers update as a matter of course (events, leader-election leases, endpoint
 * slices, their own webhook configurations and CRDs), in numbers a cluster-wide list per removal
 * should not pay for. Their objects in a
 * namespace are still swept when the namespace is deleted.
 */
const UNLISTED_GROUPS: ReadonlySet<string> = new Set([
  'events.k8s.io',
  'coordination.k8s.io',
  'discovery.k8s.io',
  'metrics.k8s.io',
  // Operators patch their own webhook configurations, APIServices and CRDs (CA bundles, conversion):
  // finalizers on those are the control plane's.
  'admissionregistration.k8s.io',
  'apiregistration.k8s.io',
  'apiextensions.k8s.io',
]);
const listedOnRemoval = (group: string): boolean => group.includes('.') && !UNLISTED_GROUPS.has(group);

const WORKLOAD_KINDS: Record<string, string> = { deployments: 'Deployment', statefulsets: 'StatefulSet', daemonsets: 'DaemonSet' };
const RBAC = 'rbac.authorization.k8s.io';

/** What the request removes, read off the request alone. */
export interface ControllerRemoval {
  /** `Deleting Deployment ops/op`. */
  text: string;
  /** The namespace of the object deleted (namespaced objects). */
  namespace?: string;
  effect: RequestEffect;
  /** Grants the request takes away (a binding or role deleted). */
  withoutGrant?: (g: ServiceAccountGrant) => boolean;
  /** The ServiceAccounts whose controllers the request may remove, as `namespace/name`, given the grants. */
  serviceAccounts: (grants: readonly ServiceAccountGrant[]) => Set<string>;
  /** The Helm release the deleted object belongs to (its ownership annotations). */
  owner?: ReleaseOwner;
}

function ownerOf(obj: KubeObject | undefined): ReleaseOwner | undefined {
  const name = obj?.metadata?.annotations?.['meta.helm.sh/release-name'];
  const namespace = obj?.metadata?.annotations?.['meta.helm.sh/release-namespace'];
  return name && namespace ? { name, namespace } : undefined;
}

function subjectServiceAccounts(binding: KubeObject | undefined, bindingNamespace: string | undefined): Set<string> {
  const subjects = (binding as { subjects?: Array<{ kind?: string; namespace?: string; name?: string }> } | undefined)?.subjects ?? [];
  return new Set(subjects.flatMap((s) => (s.kind === 'ServiceAccount' && s.name ? [`${s.namespace || bindingNamespace || ''}/${s.name}`] : [])));
}

/** The controller removal a request is, if it is one. */
export function removalOf(request: AdmissionRequest): ControllerRemoval | undefined {
  if (request.operation !== 'DELETE' || request.subResource) return undefined;
  const old = request.oldObject ?? undefined;
  const name = targetName(request);
  const ns = request.namespace ?? '';
  const owner = ownerOf(old);
  const withOwner = (r: ControllerRemoval): ControllerRemoval => (owner ? { ...r, owner } : r);
  const kind = request.resource.group === 'apps' ? WORKLOAD_KINDS[request.resource.resource] : undefined;
  if (kind) {
    const text = `Deleting ${kind} ${ns}/${name}`;
    const sa = old ? workloadServiceAccount(old) : 'default';
    return withOwner({
      text,
      namespace: ns,
      effect: {
        removesWorkload: (w) => w.kind === kind && w.metadata?.namespace === ns && w.metadata?.name === name,
        removalText: `this request deletes ${kind} ${ns}/${name}`,
      },
      serviceAccounts: () => new Set([`${ns}/${sa}`]),
    });
  }
  if (isDelete(request, '', 'serviceaccounts')) {
    return withOwner({
      text: `Deleting ServiceAccount ${ns}/${name}`,
      namespace: ns,
      effect: {
        removesWorkload: (w) => w.metadata?.namespace === ns && workloadServiceAccount(w) === name,
        removalText: `this request deletes its ServiceAccount ${ns}/${name}`,
      },
      serviceAccounts: () => new Set([`${ns}/${name}`]),
    });
  }
  if (isDelete(request, RBAC, 'clusterrolebindings') || isDelete(request, RBAC, 'rolebindings')) {
    const cluster = request.resource.resource === 'clusterrolebindings';
    const bindingNs = cluster ? undefined : ns;
    const takes = (g: ServiceAccountGrant): boolean =>
      g.binding?.kind === (cluster ? 'ClusterRoleBinding' : 'RoleBinding') && g.binding.name === name && (cluster || g.binding.namespace === ns);
    return withOwner({
      text: `Deleting ${cluster ? 'ClusterRoleBinding' : 'RoleBinding'} ${cluster ? name : `${ns}/${name}`}`,
      ...(bindingNs ? { namespace: bindingNs } : {}),
      effect: {},
      withoutGrant: takes,
      serviceAccounts: (grants) =>
        new Set([...subjectServiceAccounts(old, bindingNs), ...grants.filter(takes).map((g) => `${g.serviceAccount.namespace}/${g.serviceAccount.name}`)]),
    });
  }
  if (isDelete(request, RBAC, 'clusterroles') || isDelete(request, RBAC, 'roles')) {
    const cluster = request.resource.resource === 'clusterroles';
    const takes = (g: ServiceAccountGrant): boolean =>
      g.role?.kind === (cluster ? 'ClusterRole' : 'Role') && g.role.name === name && (cluster || g.binding?.namespace === ns);
    return withOwner({
      text: `Deleting ${cluster ? 'ClusterRole' : 'Role'} ${cluster ? name : `${ns}/${name}`}`,
      ...(cluster ? {} : { namespace: ns }),
      effect: {},
      withoutGrant: takes,
      serviceAccounts: (grants) => new Set(grants.filter(takes).map((g) => `${g.serviceAccount.namespace}/${g.serviceAccount.name}`)),
    });
  }
  return undefined;
}

/**
 * A ServiceAccount's grants, filtered out of a grants array once per array and ServiceAccount asked
 * for: a namespace without RoleBindings of its own hands over the cluster's array review after
 * review, so a workload deletion there gets the same array back and updatableTypes works its types
 * out once; an array made for one review costs one filter, as before.
 */
const grantsByHolder = memoByObject((_grants: readonly ServiceAccountGrant[]) => new Map<string, readonly ServiceAccountGrant[]>());

/** The grants of the ServiceAccounts at stake. */
function grantsOf(stake: Set<string>, grants: readonly ServiceAccountGrant[]): readonly ServiceAccountGrant[] {
  if (stake.size !== 1) return grants.filter((g) => stake.has(grantHolder(g)));
  const sa = stake.values().next().value as string;
  const byHolder = grantsByHolder(grants);
  let own = byHolder.get(sa);
  if (!own) {
    own = grants.filter((g) => grantHolder(g) === sa);
    byHolder.set(sa, own);
  }
  return own;
}

/** The types whose objects the affected ServiceAccounts' controllers may finalize: updatable by them, or remembered as theirs. */
function typesAt(stake: Set<string>, grants: readonly ServiceAccountGrant[], view: ClusterView): Array<{ group: string; resource: string }> {
  const own = grantsOf(stake, grants);
  const updatable = updatableTypes(own);
  const types = new Map<string, { group: string; resource: string }>();
  for (const g of own) {
    for (const rule of g.rules) {
      for (const group of rule.apiGroups ?? []) {
        for (const resource of rule.resources ?? []) {
          // `*` within a named group (Flux grants its controllers their groups so) lists the
          // group's every type; `*` groups name nothing (ARCHITECTURE.md §1E); built-in groups
          // are not listed (UNLISTED_GROUPS).
          if (group === '*' || resource.includes('/') || !listedOnRemoval(group)) continue;
          if (resource === '*' ? group !== '' && updatable({ group, resource: '*' }) : updatable({ group, resource }))
            types.set(`${group}\n${resource}`, { group, resource });
        }
      }
    }
  }
  for (const e of view.rememberedControllers?.() ?? []) {
    if (e.controllers.some((c) => stake.has(`${c.namespace}/${c.serviceAccount}`)))
      types.set(`${e.group}\n${e.resource}`, { group: e.group, resource: e.resource });
  }
  return [...types.values()];
}

function removedHere(fc: FinalizerController): boolean {
  return fc.before.verdict === 'alive' && fc.inference.verdict !== 'alive' && fc.inference.verdict !== 'removed-by-request';
}

/**
 * A controller the request leaves running but takes rights from, when the same uninstall deletes
 * it too (so holds it back): the rights it runs with, not only those to update its objects. A
 * controller-runtime manager that can no longer renew its leader-election Lease exits ("leader
 * election lost", 10 s by default), and restarted without that Role it never leads again: the
 * objects it was held back to finalize would hang all the same (Kueue's chart binds its Lease
 * rights through a RoleBinding of their own, deleted before the CRDs).
 */
function keptRunningWithFewerRights(fc: FinalizerController, stake: Set<string>, release: ReleaseOwner): boolean {
  if (fc.before.verdict !== 'alive' || fc.inference.verdict !== 'alive') return false;
  return fc.inference.controllers.some(
    (c) => stake.has(`${c.namespace}/${c.serviceAccount ?? ''}`) && c.helmRelease?.name === release.name && c.helmRelease.namespace === release.namespace,
  );
}

const RUNS_WITH_RIGHTS =
  'This deletion takes rights the controller runs with (its leader-election Lease, events, its Secrets): a controller that cannot renew its Lease stops, and restarted without them it never leads again.';

function heldBack(removal: ControllerRemoval, fc: FinalizerController, uninstall: UninstallInProgress, doomed: FinalizedObject[], why?: string): Finding {
  const { u } = fc;
  const controllers = fc.before.verdict === 'alive' ? controllerNames(fc.before.controllers) : 'its controller';
  const rel = `${uninstall.release.namespace}/${uninstall.release.name}`;
  return {
    policy: NAME,
    severity: 'violation',
    code: 'uninstall-removes-controller-first',
    summary: `held back: ${what(u, doomed)} must be finalized while ${controllers} runs; run the uninstall again once they are gone`,
    summaryIfAllowed: `not held back: ${what(u, doomed)} may hang in Terminating, as this uninstall removes ${controllers} first`,
    detail: [
      `Release ${rel} is being uninstalled. It deletes ${controllers}, the controller that removes finalizer ${u.finalizer}, and also the CRDs or namespaces of these objects:`,
      listing(u, doomed),
      'Helm deletes workloads and RBAC before CustomResourceDefinitions and Namespaces, so these objects would wait for a controller that is already gone, and stay Terminating forever (with their CRD and namespaces).',
      `${removal.text} is held back; the same uninstall goes on to delete them while the controller still runs, and it removes the finalizer.`,
      ...(why ? [why] : []),
      'The uninstall therefore ends with an error this time. Run it again once they are gone: it then removes the controller too.',
    ].join('\n'),
    remedy: [`Wait until they are gone: kubectl get ${typeName(u)} -A`, `Then run the uninstall again: ${uninstall.command}`],
    objects: doomed.map(refOf),
  };
}

function whileFinalizing(removal: ControllerRemoval, fc: FinalizerController, deleting: FinalizedObject[], why?: string): Finding {
  const { u } = fc;
  const controllers = fc.before.verdict === 'alive' ? controllerNames(fc.before.controllers) : 'its controller';
  const removes = why ? `takes rights from ${controllers}` : `removes ${controllers}`;
  return {
    policy: NAME,
    severity: 'violation',
    code: 'controller-removed-while-finalizing',
    summary: `${removal.text} ${removes} while ${what(u, deleting)} wait for it to remove ${u.finalizer}`,
    detail: [
      why
        ? `${removal.text} takes rights from ${controllers}, the running controller of finalizer ${u.finalizer}, while these objects are being deleted (or their namespace is Terminating) and wait for it:`
        : `${removal.text} would leave no running controller for finalizer ${u.finalizer}, but these objects are being deleted (or their namespace is Terminating) and wait for it:`,
      listing(u, deleting),
      ...(why ? [why] : []),
      'They would hang in Terminating (and with them their namespaces and CRD).',
    ].join('\n'),
    remedy: [`Wait until those objects are gone, then remove the controller: kubectl get ${typeName(u)} -A`],
    objects: deleting.map(refOf),
  };
}

function leavesFinalizers(removal: ControllerRemoval, fc: FinalizerController, existing: FinalizedObject[], staleNote: string | undefined): Finding {
  const { u } = fc;
  const controllers = fc.before.verdict === 'alive' ? controllerNames(fc.before.controllers) : 'its controller';
  return {
    policy: NAME,
    severity: 'risk',
    code: 'controller-removed-leaves-finalizers',
    summary: `${removal.text} leaves ${what(u, existing)} with ${u.finalizer} and no controller (${controllers}); deleting them (or their namespaces or CRD) later will hang`,
    detail: [
      `${removal.text} would leave no running controller for finalizer ${u.finalizer} (${controllers}). These objects carry it:`,
      listing(u, existing),
      `Nothing hangs yet, but deleting them, their namespaces or their CRD later will hang until the finalizer is removed by hand.${staleNote ? ` ${staleNote}` : ''}`,
    ].join('\n'),
    remedy: ['Delete those objects (or their namespaces) first, while the controller runs; then remove the controller.'],
    objects: existing.map(refOf),
  };
}

/** Findings of one controller removal (see the file header). */
export async function controllerRemoval(removal: ControllerRemoval, view: ClusterView, input: PolicyInput): Promise<Finding[]> {
  if (!view.liveFinalizedObjectsOfType) return [];
  const clusterGrants = await grantsFor(view, removal.namespace ? [removal.namespace] : []);
  if (!clusterGrants) return [];
  const stake = removal.serviceAccounts(clusterGrants);
  if (stake.size === 0) return [];
  const types = typesAt(stake, clusterGrants, view);
  // No type its rights reach by name, and none remembered: an ordinary workload, nothing to read.
  if (types.length === 0 || types.length > MAX_TYPES) return [];
  const listType = view.liveFinalizedObjectsOfType.bind(view);
  // A type named and also covered by `*` in its group is listed twice: each object counts once.
  const byKey = new Map((await Promise.all(types.map((t) => listType(t)))).flat().map((o) => [`${o.group}/${o.resource}/${o.namespace}/${o.name}`, o]));
  const objects = [...byKey.values()];
  if (objects.length === 0) return [];
  const nowMs = input.nowMs ?? Date.now();
  const namespaces = [...new Set([...(removal.namespace ? [removal.namespace] : []), ...objects.map((o) => o.namespace).filter((n) => n !== '')])];
  const controllers = await finalizerControllers(view, objects, input.settings.finalizerGuards, {
    grantNamespaces: namespaces,
    effect: removal.effect,
    ...(removal.withoutGrant ? { withoutGrant: removal.withoutGrant } : {}),
    nowMs,
    ...(input.learn ? { learn: input.learn } : {}),
  });
  const removed = controllers.filter(removedHere);
  const owner = removal.owner;
  const withFewerRights = owner && removal.withoutGrant ? controllers.filter((fc) => keptRunningWithFewerRights(fc, stake, owner)) : [];
  if (removed.length === 0 && withFewerRights.length === 0) return [];
  const staleAfterMs = input.settings.staleUninstallingAfterMs ?? DEFAULT_STALE_UNINSTALLING_AFTER_MS;
  const uninstall = owner ? await uninstallInProgress([owner], view, nowMs, staleAfterMs) : undefined;
  const terminating = (ns: string): boolean => ns !== '' && view.getNamespace(ns)?.deletionTimestamp !== undefined;
  const findings: Finding[] = [];
  const doomedBy = (o: FinalizedObject): boolean =>
    uninstall?.active === true && uninstall.deletes({ group: o.group, kind: o.kind, resource: o.resource, namespace: o.namespace, name: o.name });
  const isDeleting = (o: FinalizedObject): boolean => o.deletionTimestamp !== undefined || terminating(o.namespace);
  for (const fc of removed) {
    const objectsOf = fc.u.objects;
    const deleting = objectsOf.filter(isDeleting);
    const rest = objectsOf.filter((o) => !deleting.includes(o));
    const doomed = rest.filter(doomedBy);
    const existing = rest.filter((o) => !doomedBy(o));
    if (deleting.length > 0) findings.push(whileFinalizing(removal, fc, deleting));
    if (uninstall?.active && doomed.length > 0) findings.push(heldBack(removal, fc, uninstall, doomed));
    if (existing.length > 0) findings.push(leavesFinalizers(removal, fc, existing, uninstall?.staleNote));
  }
  // Inside its own uninstall only: run again before its objects are gone (they are Terminating
  // then), the uninstall would take those rights while the controller still finalizes them.
  if (uninstall?.active) {
    for (const fc of withFewerRights) {
      const deleting = fc.u.objects.filter(isDeleting);
      const doomed = fc.u.objects.filter((o) => !isDeleting(o) && doomedBy(o));
      if (deleting.length > 0) findings.push(whileFinalizing(removal, fc, deleting, RUNS_WITH_RIGHTS));
      if (doomed.length > 0) findings.push(heldBack(removal, fc, uninstall, doomed, RUNS_WITH_RIGHTS));
    }
  }
  return findings;
}
