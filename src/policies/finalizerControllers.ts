// Which controller removes each finalizer no guard knows, on a set of objects that carry them, as
// of after the request under review (ARCHITECTURE.md §1E, §1F): the reading shared by every check
// of inferred finalizers (a namespace DELETE, a CRD DELETE, a controller's removal) and by
// `check`/`diagnose`, so they all answer alike.
//
// Inference first (RBAC grants, workloads, field managers). Where it cannot name a controller
// because the operator's RBAC is gone, or finds its rights but no workload, the memory of what was
// learned while it was installed names it: a remembered controller that no longer exists (or runs
// without the rights to remove anything) is an uninstalled controller, not silence. What inference
// finds running is handed to `learn`, so it is remembered for that day.
import type { ClusterView, FinalizedObject, RememberedController, ServiceAccountGrant } from '../cluster/view.ts';
import {
  assessWorkload,
  controllerNamespaces,
  inferController,
  unknownFinalizers,
  workloadServiceAccount,
  type Inference,
  type RequestEffect,
  type UnknownFinalizer,
  type WorkloadAssessment,
} from '../finalizers/inferController.ts';
import type { FinalizerGuard } from '../finalizers/guard.ts';
import type { KubeObject } from '../k8s/types.ts';
import { memoByObject } from '../memoByObject.ts';

/** Most namespaces whose workloads or RoleBindings one reading lists; beyond it inference is unsure. */
export const MAX_READ_NAMESPACES = 8;

/** The memory's verdict on a finalizer inference could not settle. */
export interface RememberedVerdict {
  entry: RememberedController;
  /** Each remembered workload as it stands now: gone, or running without the rights it had. */
  controllers: WorkloadAssessment[];
}

export interface FinalizerController {
  u: UnknownFinalizer;
  /** As of after the request. */
  inference: Inference;
  /** As of before it (the same as `inference` when the request removes nothing). */
  before: Inference;
  /** Set when inference was unsure or found no workload and the memory names a controller that is gone. */
  remembered?: RememberedVerdict;
}

export interface ControllerReading {
  /** The objects' namespaces whose RoleBindings count (ClusterRoleBindings always do). */
  grantNamespaces: string[];
  /** Grants already read for those namespaces (a sweep that needed them first). */
  grants?: ServiceAccountGrant[];
  effect: RequestEffect;
  /** Grants as of after the request (a binding or role it deletes left out). */
  withoutGrant?: (g: ServiceAccountGrant) => boolean;
  nowMs: number;
  learn?: (entry: RememberedController) => void;
}

/** The grants that count for objects in `namespaces`: every ClusterRoleBinding, and their RoleBindings. */
export async function grantsFor(view: ClusterView, namespaces: readonly string[]): Promise<ServiceAccountGrant[] | undefined> {
  if (!view.liveServiceAccountGrants) return undefined;
  const wanted = [...new Set(namespaces)].slice(0, MAX_READ_NAMESPACES);
  // A cluster-scoped object is updated only through ClusterRoleBindings: read them with any namespace's list.
  const lists = await Promise.all((wanted.length > 0 ? wanted : ['default']).map((ns) => view.liveServiceAccountGrants!(ns)));
  return lists.length === 1 ? distinctGrantsOf(lists[0] as readonly ServiceAccountGrant[]) : distinctGrants(lists.flat());
}

function distinctGrants(grants: readonly ServiceAccountGrant[]): ServiceAccountGrant[] {
  const seen = new Set<string>();
  return grants.filter((g) => {
    const key = grantKey(g);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** One namespace's grants are often the cluster's alone, the same array review after review: the same answer. */
const distinctGrantsOf = memoByObject(distinctGrants);

/** Each grant's identity, built once: the cluster's grants come back as the same objects review after review. */
const grantKey = memoByObject((g: ServiceAccountGrant): string => `${g.serviceAccount.namespace}/${g.serviceAccount.name}\n${g.via}`);

function gone(w: RememberedController['controllers'][number], entry: RememberedController): WorkloadAssessment {
  const ref = `${w.kind} ${w.namespace}/${w.name}`;
  const seen = new Date(entry.lastSeenRunningMs).toISOString();
  const assessment: WorkloadAssessment = {
    kind: w.kind,
    namespace: w.namespace,
    name: w.name,
    ref,
    alive: false,
    removedByRequest: false,
    deadReasons: [`${ref} no longer exists (uninstalled; last seen running ${seen})`],
  };
  if (entry.release) assessment.helmRelease = entry.release;
  return assessment;
}

/**
 * What the memory says when inference could not name a running controller: the remembered
 * workloads, each gone or (still there, but its ServiceAccount lost the rights inference saw)
 * unable to remove the finalizer. Undefined when nothing is remembered or one of them still
 * counts as running with its rights (inference would then have found it: a reading, not a guess).
 */
function rememberedVerdict(
  entry: RememberedController,
  workloadsOf: (ns: string) => readonly KubeObject[],
  effect: RequestEffect,
  isTerminating: (ns: string) => boolean,
): RememberedVerdict | undefined {
  const controllers = entry.controllers.map((w) => {
    const found = workloadsOf(w.namespace).find((o) => o.kind === w.kind && o.metadata?.name === w.name);
    if (!found) return gone(w, entry);
    const now = assessWorkload(found, effect, isTerminating);
    const sa = now.serviceAccount ?? workloadServiceAccount(found);
    return {
      ...now,
      alive: false,
      deadReasons: [...now.deadReasons, `its ServiceAccount ${w.namespace}/${sa} no longer holds the rights to update these objects (its RBAC was removed)`],
    };
  });
  return controllers.length > 0 ? { entry, controllers } : undefined;
}

function learned(u: UnknownFinalizer, inference: Inference, nowMs: number): RememberedController | undefined {
  if (inference.verdict !== 'alive' || inference.ambiguous) return undefined;
  const running = inference.controllers;
  const release = running.find((c) => c.helmRelease)?.helmRelease;
  return {
    finalizer: u.finalizer,
    group: u.group,
    resource: u.resource,
    kind: u.kind,
    controllers: running.map((c) => ({ kind: c.kind, namespace: c.namespace, name: c.name, serviceAccount: c.serviceAccount ?? 'default' })),
    ...(release ? { release } : {}),
    basis: inference.basis.by === 'field-manager' ? 'field-manager' : 'rbac',
    firstLearnedMs: nowMs,
    lastSeenRunningMs: nowMs,
  };
}

/**
 * The controller of every unknown finalizer on `objects`, as of after the request. Reads grants
 * and workloads through the view (bounded); a read that fails throws (callers stay silent).
 */
export async function finalizerControllers(
  view: ClusterView,
  objects: readonly FinalizedObject[],
  guards: readonly FinalizerGuard[],
  reading: ControllerReading,
): Promise<FinalizerController[]> {
  const { known } = unknownFinalizers(objects, guards);
  if (known.length === 0 || !view.liveWorkloads) return [];
  const all = reading.grants ?? (await grantsFor(view, reading.grantNamespaces));
  if (!all) return [];
  const grants = reading.withoutGrant ? all.filter((g) => !reading.withoutGrant!(g)) : all;
  const memory = view.rememberedControllers?.() ?? [];
  const remembered = new Map(
    known.map((u) => [u, memory.find((e) => e.finalizer === u.finalizer && e.group === u.group && e.resource === u.resource)] as const),
  );
  const wanted = [...new Set(known.flatMap((u) => [...controllerNamespaces(u, all), ...(remembered.get(u)?.controllers.map((c) => c.namespace) ?? [])]))];
  // Beyond the bound a controller could be in a namespace not read: not sure, so silent.
  if (wanted.length > MAX_READ_NAMESPACES) return [];
  const liveWorkloads = view.liveWorkloads.bind(view);
  const workloads = new Map(await Promise.all(wanted.map(async (n) => [n, await liveWorkloads(n)] as const)));
  const workloadsOf = (n: string): readonly KubeObject[] => workloads.get(n) ?? [];
  const isTerminating = (n: string): boolean => view.getNamespace(n)?.deletionTimestamp !== undefined;
  return known.map((u) => {
    const inference = inferController(u, grants, workloadsOf, reading.effect, isTerminating);
    // What runs before the request is what to remember (the request may be the one removing it).
    const before = reading.withoutGrant || reading.effect.removesWorkload ? inferController(u, all, workloadsOf, {}, isTerminating) : inference;
    const entry = learned(u, before, reading.nowMs);
    if (entry) reading.learn?.(entry);
    const result: FinalizerController = { u, inference, before };
    const memory = remembered.get(u);
    if (memory && (inference.verdict === 'unsure' || inference.verdict === 'not-running')) {
      const verdict = rememberedVerdict(memory, workloadsOf, reading.effect, isTerminating);
      if (verdict) result.remembered = verdict;
    }
    return result;
  });
}
