// Inferring which controller removes a finalizer no guard knows (src/ARCHITECTURE.md §1E). Pure:
// every fact comes from the caller (a sweep of the namespace, RBAC grants, workloads).
//
// A controller removes its finalizer by updating or patching the object, so it must hold update or
// patch on that resource. Many ServiceAccounts do (leader election on ConfigMaps, admin tools), so
// a candidate must also belong with the finalizer: the finalizer's domain shares its organization
// (last two labels, `apps.victoriametrics.com` ~ `operator.victoriametrics.com`) with the resource's
// API group or with an API group the same ServiceAccount is granted by name. Grants through
// `apiGroups: ["*"]` (cluster-admin and the like) name nothing and never make a candidate. When nothing qualifies,
// inference is not sure and says nothing.
import type { FinalizedObject, RbacRule, ServiceAccountGrant } from '../k8s/rbac.ts';
import type { KubeObject } from '../k8s/types.ts';
import { kubernetesProjectDomain, kubernetesProjectFinalizer, removedByControlPlane } from './controlPlaneFinalizers.ts';
import type { FinalizerGuard } from './guard.ts';

/** One finalizer on objects of one type, in the namespace swept. */
export interface UnknownFinalizer {
  finalizer: string;
  group: string;
  resource: string;
  kind: string;
  objects: FinalizedObject[];
}

export interface ServiceAccountRef {
  namespace: string;
  name: string;
}

export interface CandidateController {
  serviceAccount: ServiceAccountRef;
  /** The bindings that grant update or patch on the resource. */
  via: string[];
}

/**
 * The domain of `example.com/finalizer`, or of a finalizer that is a domain itself
 * (`finalizers.fluxcd.io`); undefined for one without (`cleanup`).
 */
export function finalizerDomain(finalizer: string): string | undefined {
  const slash = finalizer.indexOf('/');
  const domain = slash >= 0 ? finalizer.slice(0, slash) : finalizer;
  return domain.includes('.') ? domain.toLowerCase() : undefined;
}

function organization(domain: string): string {
  return domain.toLowerCase().split('.').slice(-2).join('.');
}

/** Whether an API group and a finalizer domain belong to one organization (core group: never). */
export function sameOrganization(domain: string, apiGroup: string): boolean {
  return apiGroup.includes('.') && organization(domain) === organization(apiGroup);
}

/**
 * A rule that lets its holder update or patch every object of group/resource and names the group:
 * `resources: ["*"]` counts within a named API group (Flux grants its controllers its own groups
 * so), never in the core group nor under `apiGroups: ["*"]`, which name nothing in particular.
 */
export function grantsUpdateByName(rule: RbacRule, group: string, resource: string): boolean {
  if (!updatesByName(rule)) return false;
  const resources = rule.resources ?? [];
  const namesResource = resources.includes(resource) || (group !== '' && resources.includes('*'));
  return (rule.apiGroups ?? []).includes(group) && namesResource;
}

/** A rule for update or patch on any object of its resources (no resourceNames). */
function updatesByName(rule: RbacRule): boolean {
  return !(rule.resourceNames && rule.resourceNames.length > 0) && (rule.verbs ?? []).some((v) => v === 'update' || v === 'patch' || v === '*');
}

/**
 * A group a finalizer's domain can belong with (sameOrganization): named, dotted, and outside the
 * Kubernetes project, whose finalizers inference never takes (kubernetesProjectFinalizer).
 */
function organizationGroup(group: string): boolean {
  return group !== '*' && group.includes('.') && !kubernetesProjectDomain(group);
}

/**
 * The types whose finalizers can have a candidate controller (candidateControllers), so the only
 * ones a namespace sweep for inference needs to list. A candidate may update the type by name and
 * belongs with the finalizer through the type's own group or another group it is granted; either
 * is an organization group. So a ServiceAccount granted nothing but core and Kubernetes-project
 * groups (kube-controller-manager's controllers, most admin tools) adds only the types of such a
 * group it may update, and the many core types they update are not listed at all.
 */
export function updatableTypes(grants: readonly ServiceAccountGrant[]): (type: { group: string; resource: string }) => boolean {
  const rulesBySa = new Map<string, RbacRule[]>();
  for (const g of grants) {
    const k = saKey(g.serviceAccount);
    rulesBySa.set(k, [...(rulesBySa.get(k) ?? []), ...g.rules]);
  }
  const named = new Set<string>();
  for (const rules of rulesBySa.values()) {
    const belongsAnywhere = rules.some((r) => (r.apiGroups ?? []).some(organizationGroup));
    for (const rule of rules) {
      if (!updatesByName(rule)) continue;
      for (const group of rule.apiGroups ?? []) {
        if (!belongsAnywhere && !organizationGroup(group)) continue;
        for (const resource of rule.resources ?? []) named.add(`${group}\n${resource}`);
      }
    }
  }
  return ({ group, resource }) => named.has(`${group}\n${resource}`) || (group !== '' && named.has(`${group}\n*`));
}

/**
 * The finalizers of swept objects that inference is for: not removed by the control plane, not
 * covered by a guard (those are judged exactly), grouped by finalizer and type. `unsure` holds
 * those whose controller cannot be told from a domain (none, or a Kubernetes project add-on).
 */
export function unknownFinalizers(
  objects: readonly FinalizedObject[],
  guards: readonly FinalizerGuard[],
): { known: UnknownFinalizer[]; unsure: UnknownFinalizer[] } {
  const byKey = new Map<string, UnknownFinalizer>();
  for (const o of objects) {
    for (const finalizer of o.finalizers) {
      if (removedByControlPlane(finalizer)) continue;
      if (guards.some((g) => g.finalizer === finalizer && g.resource.group === o.group && g.resource.resource === o.resource)) continue;
      const key = `${finalizer}\n${o.group}\n${o.resource}`;
      let entry = byKey.get(key);
      if (!entry) {
        entry = { finalizer, group: o.group, resource: o.resource, kind: o.kind, objects: [] };
        byKey.set(key, entry);
      }
      entry.objects.push(o);
    }
  }
  const known: UnknownFinalizer[] = [];
  const unsure: UnknownFinalizer[] = [];
  for (const u of byKey.values()) (finalizerDomain(u.finalizer) === undefined || kubernetesProjectFinalizer(u.finalizer) ? unsure : known).push(u);
  return { known, unsure };
}

function saKey(sa: ServiceAccountRef): string {
  return `${sa.namespace}/${sa.name}`;
}

/** ServiceAccounts that can remove `u.finalizer` and belong with it (see the file header). */
export function candidateControllers(u: UnknownFinalizer, grants: readonly ServiceAccountGrant[]): CandidateController[] {
  const domain = finalizerDomain(u.finalizer);
  if (!domain) return [];
  const bySa = new Map<string, ServiceAccountGrant[]>();
  for (const g of grants) {
    const k = saKey(g.serviceAccount);
    bySa.set(k, [...(bySa.get(k) ?? []), g]);
  }
  const candidates: CandidateController[] = [];
  for (const saGrants of bySa.values()) {
    const updating = saGrants.filter((g) => g.rules.some((r) => grantsUpdateByName(r, u.group, u.resource)));
    if (updating.length === 0) continue;
    const belongs =
      sameOrganization(domain, u.group) ||
      saGrants.some((g) => g.rules.some((r) => (r.apiGroups ?? []).some((group) => group !== '*' && sameOrganization(domain, group))));
    if (!belongs) continue;
    candidates.push({ serviceAccount: (updating[0] as ServiceAccountGrant).serviceAccount, via: [...new Set(updating.map((g) => g.via))] });
  }
  return candidates;
}

/** How one workload running as a candidate stands, as of after the request under review. */
export interface WorkloadAssessment {
  kind: string;
  namespace: string;
  name: string;
  /** `Deployment ns/name`. */
  ref: string;
  alive: boolean;
  /** It lives in the namespace the request deletes: it may go before the finalizers are removed. */
  removedByRequest: boolean;
  /** Why it is not alive (empty when alive). */
  deadReasons: string[];
  helmRelease?: { name: string; namespace: string };
}

interface WorkloadShape {
  kind?: string;
  spec?: { replicas?: number; template?: { spec?: { serviceAccountName?: string; serviceAccount?: string } } };
  status?: {
    availableReplicas?: number;
    numberAvailable?: number;
    desiredNumberScheduled?: number;
    conditions?: Array<{ type?: string; status?: string; reason?: string }>;
  };
}

export function workloadServiceAccount(w: KubeObject): string {
  const tpl = (w as WorkloadShape).spec?.template?.spec;
  return tpl?.serviceAccountName || tpl?.serviceAccount || 'default';
}

function available(w: WorkloadShape): number {
  return (w.kind === 'DaemonSet' ? w.status?.numberAvailable : w.status?.availableReplicas) ?? 0;
}

/** No replica available yet, but it wants some and is not stuck (a rollout, Pods rescheduled). */
function comingBack(w: WorkloadShape): boolean {
  const wanted = w.kind === 'DaemonSet' ? (w.status?.desiredNumberScheduled ?? 0) : (w.spec?.replicas ?? 1);
  if (wanted < 1) return false;
  const progressing = w.status?.conditions?.find((c) => c.type === 'Progressing');
  return !(progressing?.status === 'False' || progressing?.reason === 'ProgressDeadlineExceeded');
}

export function assessWorkload(w: KubeObject, deletedNamespace: string, isTerminating: (namespace: string) => boolean): WorkloadAssessment {
  const shape = w as WorkloadShape;
  const ns = w.metadata?.namespace ?? '';
  const kind = w.kind ?? 'Workload';
  const name = w.metadata?.name ?? '';
  const ref = `${kind} ${ns}/${name}`;
  const deadReasons: string[] = [];
  if (w.metadata?.deletionTimestamp) deadReasons.push(`${ref} is being deleted`);
  if (ns !== deletedNamespace && isTerminating(ns)) deadReasons.push(`the namespace of ${ref} is Terminating`);
  if (available(shape) < 1 && !comingBack(shape)) deadReasons.push(`${ref} has no available replicas`);
  const assessment: WorkloadAssessment = {
    kind,
    namespace: ns,
    name,
    ref,
    alive: deadReasons.length === 0,
    removedByRequest: ns === deletedNamespace,
    deadReasons,
  };
  const release = w.metadata?.annotations?.['meta.helm.sh/release-name'];
  const releaseNs = w.metadata?.annotations?.['meta.helm.sh/release-namespace'];
  if (release && releaseNs) assessment.helmRelease = { name: release, namespace: releaseNs };
  return assessment;
}

/** What inference concludes for one unknown finalizer. */
export type Inference =
  | { verdict: 'unsure'; why: string }
  | { verdict: 'alive'; controllers: WorkloadAssessment[] }
  /** Candidates hold the rights, but no workload runs as any of them. */
  | { verdict: 'not-running'; candidates: CandidateController[] }
  /** The only live controllers are in the namespace the request deletes. */
  | { verdict: 'removed-by-request'; candidates: CandidateController[]; controllers: WorkloadAssessment[] }
  | { verdict: 'dead'; candidates: CandidateController[]; controllers: WorkloadAssessment[] };

export function inferController(
  u: UnknownFinalizer,
  grants: readonly ServiceAccountGrant[],
  workloadsOf: (namespace: string) => readonly KubeObject[],
  deletedNamespace: string,
  isTerminating: (namespace: string) => boolean,
): Inference {
  const candidates = candidateControllers(u, grants);
  if (candidates.length === 0)
    return {
      verdict: 'unsure',
      why: `no ServiceAccount is granted update on ${u.resource} by name alongside an API group of ${finalizerDomain(u.finalizer) ?? 'its domain'}`,
    };
  const names = new Set(candidates.map((c) => saKey(c.serviceAccount)));
  const controllers = [...new Set(candidates.map((c) => c.serviceAccount.namespace))]
    .flatMap((ns) => workloadsOf(ns).filter((w) => names.has(`${w.metadata?.namespace ?? ''}/${workloadServiceAccount(w)}`)))
    .map((w) => assessWorkload(w, deletedNamespace, isTerminating));
  if (controllers.length === 0) return { verdict: 'not-running', candidates };
  const alive = controllers.filter((c) => c.alive);
  if (alive.some((c) => !c.removedByRequest)) return { verdict: 'alive', controllers: alive };
  if (alive.length > 0) return { verdict: 'removed-by-request', candidates, controllers: alive };
  return { verdict: 'dead', candidates, controllers };
}
