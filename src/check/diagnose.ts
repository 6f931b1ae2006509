// `teardown-guard diagnose namespace NAME`: for a namespace stuck in Terminating, which objects and
// finalizers hold it, whether each finalizer's controller is alive, and the exact remedy commands.
import { UndecidedError, type ClusterView } from '../cluster/view.ts';
import type { Inference } from '../finalizers/inferController.ts';
import { finalizerControllers } from '../policies/finalizerControllers.ts';
import type { FinalizedObject } from '../k8s/rbac.ts';
import { removeFinalizerCommand } from '../k8s/finalizerPatch.ts';
import type { FailClosedWebhook } from '../k8s/webhooks.ts';
import { removedByControlPlane } from '../finalizers/controlPlaneFinalizers.ts';
import { formatRef, type KubeObject, type ObjectRef } from '../k8s/types.ts';
import { controllerLiveness } from '../policies/controllerLiveness.ts';
import type { PolicySettings } from '../policies/settings.ts';

/** An object in the namespace that still carries finalizers, with the resource it is served under. */
export interface Holder {
  ref: ObjectRef;
  /** `plural.group` (or `plural` for the core group), as kubectl takes it. */
  resource: string;
  finalizers: string[];
  deletionTimestamp?: string;
  /** Who writes it (managedFields), when the listing had them: names its controller. */
  statusManagers?: string[];
  finalizerManagers?: Record<string, string[]>;
}

export interface FinalizerDiagnosis {
  finalizer: string;
  holders: ObjectRef[];
  /** The registered controller, when the finalizer is in the registry. */
  controller?: { displayName: string; alive: boolean; whyGone: string };
  /** Set when the control plane removes this finalizer itself (src/finalizers/controlPlaneFinalizers.ts). */
  controlPlane?: boolean;
  remedy: string[];
}

/** An aggregated APIService that is not Available: the namespace controller cannot discover its resources. */
export interface UnavailableApiService {
  name: string;
  /** The Service it proxies to (absent: served locally). */
  service?: { namespace: string; name: string };
  /** The Available condition's reason and message (e.g. ServiceNotFound). */
  reason: string;
}

/**
 * Why discovery fails while the namespace is deleted: kube-controller-manager's namespace deleter
 * records NamespaceDeletionDiscoveryFailure and, while any group fails discovery, never finalizes
 * the namespace (pkg/controller/namespace/deletion: deleteAllContent returns the discovery error).
 */
export interface DiscoveryDiagnosis {
  condition: string;
  apiServices: UnavailableApiService[];
  remedy: string[];
}

export interface NamespaceDiagnosis {
  namespace: string;
  terminating: boolean;
  /** The namespace controller's own account, from status.conditions. */
  conditions: string[];
  finalizers: FinalizerDiagnosis[];
  /** Set when the namespace controller reports NamespaceDeletionDiscoveryFailure. */
  discovery?: DiscoveryDiagnosis;
  /** Webhooks that would refuse every update of the holders (so no finalizer can be removed); delete them first. */
  blockingWebhooks: FailClosedWebhook[];
  /** Summary lines for the report's end. */
  notes: string[];
}

/** Resource types named in the namespace's NamespaceContentRemaining/FinalizersRemaining conditions. */
export function remainingResourceTypes(namespace: KubeObject): string[] {
  const conditions = (namespace['status'] as { conditions?: Array<{ type?: string; status?: string; message?: string }> } | undefined)?.conditions ?? [];
  const types = new Set<string>();
  for (const c of conditions) {
    if (c.type !== 'NamespaceContentRemaining' || c.status !== 'True' || !c.message) continue;
    // "Some resources are remaining: clusterserviceversions.operators.coreos.com has 1 resource instances, ..."
    for (const m of c.message.matchAll(/([a-z0-9.-]+) has \d+ resource instances/g)) if (m[1]) types.add(m[1]);
  }
  return [...types];
}

function trueCondition(namespace: KubeObject, type: string): { message?: string } | undefined {
  const conditions = (namespace['status'] as { conditions?: Array<{ type?: string; status?: string; message?: string }> } | undefined)?.conditions ?? [];
  return conditions.find((c) => c.type === type && c.status === 'True');
}

/** APIServices whose Available condition is not True, from a list of APIService objects. */
export function unavailableApiServices(apiServices: KubeObject[]): UnavailableApiService[] {
  return apiServices.flatMap((a): UnavailableApiService[] => {
    const status = a['status'] as { conditions?: Array<{ type?: string; status?: string; reason?: string; message?: string }> } | undefined;
    const available = status?.conditions?.find((c) => c.type === 'Available');
    if (available?.status === 'True') return [];
    const spec = a['spec'] as { service?: { namespace?: string; name?: string } | null } | undefined;
    const out: UnavailableApiService = {
      name: a.metadata?.name ?? '',
      reason: available ? `${available.reason ?? 'not Available'}${available.message ? `: ${available.message}` : ''}` : 'no Available condition yet',
    };
    if (spec?.service?.namespace && spec.service.name) out.service = { namespace: spec.service.namespace, name: spec.service.name };
    return [out];
  });
}

function discoveryDiagnosis(condition: string, apiServices: UnavailableApiService[]): DiscoveryDiagnosis {
  const remedy =
    apiServices.length > 0
      ? [
          'Bring each backend back (reinstall or scale up what serves it), or, if that API is gone for good, delete its APIService; the namespace controller then retries by itself:',
          ...apiServices.map((a) => `kubectl delete apiservice ${a.name}`),
        ]
      : ['No APIService is unavailable now: the failure was transient; the namespace controller retries by itself (kubectl get apiservice to check again).'];
  return { condition, apiServices, remedy };
}

export function conditionLines(namespace: KubeObject): string[] {
  const conditions = (namespace['status'] as { conditions?: Array<{ type?: string; status?: string; message?: string }> } | undefined)?.conditions ?? [];
  return conditions.filter((c) => c.status === 'True' && c.message).map((c) => `${c.type}: ${c.message}`);
}

/** `helmreleases.helm.toolkit.fluxcd.io` -> group and resource (`pods` -> core). */
function splitResource(resource: string): { group: string; resource: string } {
  const dot = resource.indexOf('.');
  return dot < 0 ? { group: '', resource } : { group: resource.slice(dot + 1), resource: resource.slice(0, dot) };
}

function whyGone(inference: Inference): string {
  if (inference.verdict === 'not-running')
    return `no workload runs as ${inference.candidates.map((c) => `ServiceAccount ${c.serviceAccount.namespace}/${c.serviceAccount.name}`).join(', ')}`;
  if (inference.verdict === 'removed-by-request') return `it lived in the namespace being deleted (${inference.controllers.map((c) => c.ref).join(', ')})`;
  if (inference.verdict === 'dead') return inference.controllers.flatMap((c) => c.deadReasons).join('; ');
  return '';
}

/**
 * The controller inferred (or remembered) for a finalizer no guard knows (ARCHITECTURE.md §1E,
 * §1F), read as the policies read it; undefined when it cannot tell.
 */
async function inferredController(
  finalizer: string,
  holders: Holder[],
  view: ClusterView,
  namespace: string,
): Promise<{ displayName: string; whyGone: string; alive: boolean; logs: string[] } | undefined> {
  // One finalizer may sit on objects of several types (an operator's CRs and the ConfigMaps it
  // made): each type is inferred on its own, and the first that names a controller is reported.
  const objects: FinalizedObject[] = holders.map((h) => ({
    ...splitResource(h.resource),
    version: '',
    kind: h.ref.kind,
    namespace,
    name: h.ref.name,
    finalizers: h.finalizers,
    ...(h.statusManagers ? { statusManagers: h.statusManagers } : {}),
    ...(h.finalizerManagers ? { finalizerManagers: h.finalizerManagers } : {}),
  }));
  try {
    const read = await finalizerControllers(view, objects, [], { grantNamespaces: [namespace], effect: { deletedNamespace: namespace }, nowMs: Date.now() });
    for (const { u, inference, remembered } of read) {
      if (u.finalizer !== finalizer) continue;
      if (remembered) {
        return {
          displayName: `${remembered.controllers.map((c) => c.ref).join(', ')} (remembered by teardown-guard)`,
          alive: false,
          whyGone: remembered.controllers.flatMap((c) => c.deadReasons).join('; '),
          logs: [],
        };
      }
      if (inference.verdict === 'unsure') continue;
      const named =
        'controllers' in inference
          ? inference.controllers.map((c) => c.ref)
          : inference.candidates.map((c) => `ServiceAccount ${c.serviceAccount.namespace}/${c.serviceAccount.name}`);
      const basis = 'basis' in inference && inference.basis.by === 'field-manager' ? `its field manager ${inference.basis.manager}` : 'RBAC';
      const alive = inference.verdict === 'alive';
      const guess =
        inference.verdict === 'alive' && inference.ambiguous
          ? `; not sure: RBAC alone names several workloads (${inference.controllers.map((c) => c.ref).join(', ')}${inference.others.length > 0 ? `; not running: ${inference.others.map((c) => c.ref).join(', ')}` : ''}), and the one running may be a bystander`
          : '';
      return {
        displayName: `${named.join(', ')} (inferred from ${basis}${guess})`,
        alive,
        whyGone: alive ? '' : whyGone(inference),
        logs: alive ? inference.controllers.map((c) => `kubectl logs -n ${c.namespace} ${c.kind.toLowerCase()}/${c.name}`) : [],
      };
    }
    return undefined;
  } catch (err) {
    if (err instanceof UndecidedError) return undefined;
    throw err;
  }
}

export async function diagnoseNamespace(
  namespace: KubeObject,
  holders: Holder[],
  view: ClusterView,
  settings: PolicySettings,
  apiServices: UnavailableApiService[] = [],
  webhooks: FailClosedWebhook[] = [],
): Promise<NamespaceDiagnosis> {
  const name = namespace.metadata?.name ?? '';
  const terminating = Boolean(namespace.metadata?.deletionTimestamp);
  const byFinalizer = new Map<string, Holder[]>();
  for (const h of holders) for (const f of h.finalizers) byFinalizer.set(f, [...(byFinalizer.get(f) ?? []), h]);
  const finalizers: FinalizerDiagnosis[] = [];
  for (const [finalizer, hs] of byFinalizer) {
    const patch = hs.map((h) => removeFinalizerCommand(h.resource, name, h.ref.name, h.finalizers, finalizer));
    if (removedByControlPlane(finalizer)) {
      finalizers.push({
        finalizer,
        holders: hs.map((h) => h.ref),
        controlPlane: true,
        remedy: [
          `The control plane removes ${finalizer} itself once what it protects is released (a PVC no Pod uses, dependents deleted, a Job's Pod accounted for). Nothing to patch; if it stays, look at what still uses these objects.`,
        ],
      });
      continue;
    }
    const guard = settings.finalizerGuards.find((g) => g.finalizer === finalizer);
    const inferred = guard ? undefined : await inferredController(finalizer, hs, view, name);
    if (inferred) {
      const { displayName, alive } = inferred;
      finalizers.push({
        finalizer,
        holders: hs.map((h) => h.ref),
        controller: { displayName, alive, whyGone: inferred.whyGone },
        remedy: alive
          ? [`${displayName} is alive: it should remove ${finalizer} shortly. If it does not, read its logs:`, ...inferred.logs]
          : [
              `Either bring ${displayName} back (it then removes the finalizer and cleans up), or remove the finalizer by hand (its cleanup will not happen):`,
              ...patch,
            ],
      });
      continue;
    }
    if (!guard) {
      finalizers.push({
        finalizer,
        holders: hs.map((h) => h.ref),
        remedy: [
          `No controller is registered for ${finalizer}: find the operator that owns it (prefix ${finalizer.split('/')[0]}) and check that it runs.`,
          `If it is gone for good, remove the finalizer by hand (its cleanup will not happen):`,
          ...patch,
        ],
      });
      continue;
    }
    const liveness = await controllerLiveness(guard.controller, view, {});
    const cleanup = guard.cleanupHint ? hs.flatMap((h) => guard.cleanupHint?.(name, h.ref.name) ?? []) : [];
    finalizers.push({
      finalizer,
      holders: hs.map((h) => h.ref),
      controller: { displayName: guard.controller.displayName, alive: liveness.alive, whyGone: liveness.whyGone },
      remedy: liveness.alive
        ? [
            `${guard.controller.displayName} is alive: it should remove ${finalizer} shortly. If it does not, read its logs:`,
            ...liveness.instances.filter((i) => i.deadReasons.length === 0).map((i) => `kubectl logs -n ${i.namespace} deployment/${i.name}`),
          ]
        : [
            `Either bring ${guard.controller.displayName} back (it then removes the finalizer and cleans up), or remove the finalizer by hand and clean up what it would have:`,
            ...patch,
            ...cleanup,
          ],
    });
  }
  const discoveryFailure = terminating ? trueCondition(namespace, 'NamespaceDeletionDiscoveryFailure') : undefined;
  const discovery = discoveryFailure ? discoveryDiagnosis(discoveryFailure.message ?? 'discovery failed', apiServices) : undefined;
  const notes: string[] = [];
  if (!terminating) notes.push(`namespace ${name} is not Terminating; to see what deleting it would do, run: teardown-guard check namespace ${name}`);
  if (discovery) {
    notes.push(
      `${name} cannot finish while API discovery fails` +
        (discovery.apiServices.length > 0
          ? `: ${discovery.apiServices.length} APIService(s) unavailable (${discovery.apiServices.map((a) => a.name).join(', ')})`
          : ''),
    );
  }
  if (terminating && finalizers.length > 0) {
    const gone = finalizers.filter((f) => f.controller && !f.controller.alive).length;
    const unknown = finalizers.filter((f) => !f.controller && !f.controlPlane).length;
    notes.push(
      `${name} is held by ${finalizers.length} finalizer(s) on ${new Set(holders.map((h) => formatRef(h.ref))).size} object(s)` +
        (gone ? `; ${gone} of them have no live controller and will never be removed without action` : '') +
        (unknown ? `; ${unknown} belong to controllers teardown-guard does not know` : ''),
    );
  } else if (terminating && !discovery) {
    notes.push(`no object in ${name} carries a finalizer any more; the namespace controller should finish shortly (see the conditions above)`);
  }
  if (webhooks.length > 0) {
    notes.push(
      `${webhooks.length} webhook(s) that fail closed have no backend and refuse every update of these objects: delete their configuration first (printed first above), or no finalizer can be removed, by its controller or by hand`,
    );
  }
  const result: NamespaceDiagnosis = { namespace: name, terminating, conditions: conditionLines(namespace), finalizers, notes, blockingWebhooks: webhooks };
  if (discovery) result.discovery = discovery;
  return result;
}
