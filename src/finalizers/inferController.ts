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
//
// RBAC says who *may* update an object, not who removes its finalizer: a GitOps controller granted
// `*` on `*` is no candidate, while another component of its chart granted update on the resource
// by name is one. So the objects' managedFields are read too: the field manager that writes their
// status (or added the finalizer) names the workload that reconciles them. A workload that answers
// to that name and runs as a ServiceAccount that may update the resource (by name or through a
// wildcard) is the controller, and the others are bystanders whose liveness says nothing.
import { isClientToolManager } from '../k8s/managedFields.ts';
import type { FinalizedObject, RbacRule, ServiceAccountGrant } from '../k8s/rbac.ts';
import type { KubeObject } from '../k8s/types.ts';
import { memoByObject } from '../memoByObject.ts';
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

/** A rule that lets its holder update or patch every object of group/resource, wildcards included. */
export function grantsUpdate(rule: RbacRule, group: string, resource: string): boolean {
  if (!updatesByName(rule)) return false;
  const groups = rule.apiGroups ?? [];
  const resources = rule.resources ?? [];
  return (groups.includes(group) || groups.includes('*')) && (resources.includes(resource) || resources.includes('*'));
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
export const updatableTypes = memoByObject(updatableTypesOf);

/** updatableTypes, worked out anew (once per grants array: a namespace DELETE usually hands over the cluster's own). */
function updatableTypesOf(grants: readonly ServiceAccountGrant[]): (type: { group: string; resource: string }) => boolean {
  const bySa = new Map<string, GrantTypes[]>();
  for (const g of grants) {
    const types = typesOfGrant(g);
    const all = bySa.get(types.sa);
    if (all) all.push(types);
    else bySa.set(types.sa, [types]);
  }
  const named = new Set<string>();
  for (const all of bySa.values()) {
    const belongsAnywhere = all.some((t) => t.namesOrganization);
    for (const t of all) for (const key of belongsAnywhere ? t.updated : t.updatedInOrganization) named.add(key);
  }
  return ({ group, resource }) => named.has(`${group}\n${resource}`) || (group !== '' && named.has(`${group}\n*`));
}

/** What one grant contributes to updatableTypes, keyed `group\nresource`. */
interface GrantTypes {
  sa: string;
  /** Some rule names an organization group: the ServiceAccount belongs with finalizers of one. */
  namesOrganization: boolean;
  /** Types its rules update by name, in any group, and in organization groups only. */
  updated: string[];
  updatedInOrganization: string[];
}

/**
 * Worked out once per grant: the view hands the cluster's grants over as the same objects review
 * after review (they change only with its RBAC), and rebuilding these keys for every one of them
 * was a measurable share of a namespace DELETE's CPU.
 */
const typesOfGrant = memoByObject((g: ServiceAccountGrant): GrantTypes => {
  const types: GrantTypes = {
    sa: grantHolder(g),
    namesOrganization: g.rules.some((r) => (r.apiGroups ?? []).some(organizationGroup)),
    updated: [],
    updatedInOrganization: [],
  };
  for (const rule of g.rules) {
    if (!updatesByName(rule)) continue;
    for (const group of rule.apiGroups ?? []) {
      for (const resource of rule.resources ?? []) {
        const key = `${group}\n${resource}`;
        types.updated.push(key);
        if (organizationGroup(group)) types.updatedInOrganization.push(key);
      }
    }
  }
  return types;
});

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

/**
 * `namespace/name` of the ServiceAccount a grant is to, built once per grant: the view hands the
 * cluster's grants over as the same objects review after review.
 */
export const grantHolder = memoByObject((g: ServiceAccountGrant): string => saKey(g.serviceAccount));

/** ServiceAccounts that can remove `u.finalizer` and belong with it (see the file header). */
export function candidateControllers(u: UnknownFinalizer, grants: readonly ServiceAccountGrant[]): CandidateController[] {
  const domain = finalizerDomain(u.finalizer);
  if (!domain) return [];
  const bySa = new Map<string, ServiceAccountGrant[]>();
  for (const g of grants) {
    const k = grantHolder(g);
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
  /** The ServiceAccount it runs as (absent when it no longer exists). */
  serviceAccount?: string;
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

/**
 * What the request under review removes, so inference judges as of after it: a namespace being
 * deleted takes its workloads along (they may go first); a workload deleted, or whose
 * ServiceAccount is deleted, is dead once the request runs.
 */
export interface RequestEffect {
  deletedNamespace?: string;
  removesWorkload?: (w: KubeObject) => boolean;
  /** How the request reads in a reason, e.g. `this request deletes Deployment ops/op`. */
  removalText?: string;
}

export function assessWorkload(w: KubeObject, effect: RequestEffect, isTerminating: (namespace: string) => boolean): WorkloadAssessment {
  const deletedNamespace = effect.deletedNamespace;
  const shape = w as WorkloadShape;
  const ns = w.metadata?.namespace ?? '';
  const kind = w.kind ?? 'Workload';
  const name = w.metadata?.name ?? '';
  const ref = `${kind} ${ns}/${name}`;
  const deadReasons: string[] = [];
  if (w.metadata?.deletionTimestamp) deadReasons.push(`${ref} is being deleted`);
  if (effect.removesWorkload?.(w)) deadReasons.push(effect.removalText ?? `this request removes ${ref}`);
  if (ns !== deletedNamespace && isTerminating(ns)) deadReasons.push(`the namespace of ${ref} is Terminating`);
  if (available(shape) < 1 && !comingBack(shape)) deadReasons.push(`${ref} has no available replicas`);
  const assessment: WorkloadAssessment = {
    kind,
    namespace: ns,
    name,
    ref,
    serviceAccount: workloadServiceAccount(w),
    alive: deadReasons.length === 0,
    removedByRequest: ns === deletedNamespace,
    deadReasons,
  };
  const release = w.metadata?.annotations?.['meta.helm.sh/release-name'];
  const releaseNs = w.metadata?.annotations?.['meta.helm.sh/release-namespace'];
  if (release && releaseNs) assessment.helmRelease = { name: release, namespace: releaseNs };
  return assessment;
}

/**
 * The field managers that may name the controller of `u`'s objects: those that wrote their status,
 * then those (other than people's tools) that added the finalizer; each the most frequent first.
 */
export function reconcilerManagers(u: Pick<UnknownFinalizer, 'finalizer' | 'objects'>): string[] {
  // Status first: whoever writes the status reconciles the object; the finalizer may have come
  // with the object from whatever applied it (a GitOps tool, a chart).
  const ranked = (pick: (o: FinalizedObject) => readonly string[]): string[] => {
    const counts = new Map<string, number>();
    for (const o of u.objects) for (const m of new Set(pick(o))) if (!isClientToolManager(m)) counts.set(m, (counts.get(m) ?? 0) + 1);
    return [...counts.entries()].sort((a, b) => b[1] - a[1]).map(([m]) => m);
  };
  const status = ranked((o) => o.statusManagers ?? []);
  return [...new Set([...status, ...ranked((o) => o.finalizerManagers?.[u.finalizer] ?? [])])];
}

function basename(path: unknown): string | undefined {
  return typeof path === 'string' && path !== '' ? path.slice(path.lastIndexOf('/') + 1) : undefined;
}

/**
 * Whether a workload is the program a field manager names: client-go's default manager is the
 * program's file name, which is also what its container runs, and often its name.
 */
export function workloadAnswersTo(w: KubeObject, manager: string): boolean {
  if (w.metadata?.name === manager) return true;
  const containers = (w as { spec?: { template?: { spec?: { containers?: unknown } } } }).spec?.template?.spec?.containers;
  if (!Array.isArray(containers)) return false;
  return containers.some((c: { name?: unknown; command?: unknown; args?: unknown }) => {
    const program = Array.isArray(c.command) && c.command.length > 0 ? c.command[0] : Array.isArray(c.args) ? c.args[0] : undefined;
    return c.name === manager || basename(program) === manager;
  });
}

/**
 * ServiceAccounts that may update the resource only through wildcards (not candidates by name),
 * kept when their name relates to a manager of the objects (`argocd-application-controller`,
 * `manager` ~ `x-controller-manager`): a controller granted `*` is found only through evidence.
 */
export function wildcardCandidates(u: UnknownFinalizer, grants: readonly ServiceAccountGrant[], managers: readonly string[]): CandidateController[] {
  if (managers.length === 0) return [];
  const named = new Set(candidateControllers(u, grants).map((c) => saKey(c.serviceAccount)));
  const related = (sa: string): boolean => managers.some((m) => sa === m || sa.includes(m) || m.includes(sa));
  const bySa = new Map<string, CandidateController>();
  for (const g of grants) {
    const key = grantHolder(g);
    if (named.has(key) || !related(g.serviceAccount.name)) continue;
    if (!g.rules.some((r) => grantsUpdate(r, u.group, u.resource))) continue;
    const entry = bySa.get(key) ?? { serviceAccount: g.serviceAccount, via: [] };
    if (!entry.via.includes(g.via)) entry.via.push(g.via);
    bySa.set(key, entry);
  }
  return [...bySa.values()];
}

/** The namespaces whose workloads inference reads for `u`: those of every candidate ServiceAccount. */
export function controllerNamespaces(u: UnknownFinalizer, grants: readonly ServiceAccountGrant[]): string[] {
  const candidates = [...candidateControllers(u, grants), ...wildcardCandidates(u, grants, reconcilerManagers(u))];
  return [...new Set(candidates.map((c) => c.serviceAccount.namespace))];
}

/** How inference told the controller: the objects' field managers name it, or RBAC alone. */
export type InferenceBasis = { by: 'field-manager'; manager: string } | { by: 'rbac' };

/** What inference concludes for one unknown finalizer. */
export type Inference =
  | { verdict: 'unsure'; why: string }
  /**
   * A controller runs. `basis` says how it was told; `others` are chosen workloads that do not run.
   * `ambiguous`: told by RBAC alone among several workloads, so the one that runs may be a
   * bystander (admission stays silent; check and diagnose say so instead of SAFE).
   */
  | {
      verdict: 'alive';
      controllers: WorkloadAssessment[];
      basis: InferenceBasis;
      candidates: CandidateController[];
      others: WorkloadAssessment[];
      ambiguous: boolean;
    }
  /** Candidates hold the rights, but no workload runs as any of them. */
  | { verdict: 'not-running'; candidates: CandidateController[] }
  /** The only live controllers are in the namespace the request deletes. */
  | { verdict: 'removed-by-request'; candidates: CandidateController[]; controllers: WorkloadAssessment[]; basis: InferenceBasis }
  | { verdict: 'dead'; candidates: CandidateController[]; controllers: WorkloadAssessment[]; basis: InferenceBasis };

export function inferController(
  u: UnknownFinalizer,
  grants: readonly ServiceAccountGrant[],
  workloadsOf: (namespace: string) => readonly KubeObject[],
  effect: RequestEffect,
  isTerminating: (namespace: string) => boolean,
): Inference {
  const named = candidateControllers(u, grants);
  const managers = reconcilerManagers(u);
  const candidates = [...named, ...wildcardCandidates(u, grants, managers)];
  if (candidates.length === 0)
    return {
      verdict: 'unsure',
      why: `no ServiceAccount is granted update on ${u.resource} by name alongside an API group of ${finalizerDomain(u.finalizer) ?? 'its domain'}`,
    };
  const runAs = (set: readonly CandidateController[]) => new Set(set.map((c) => saKey(c.serviceAccount)));
  const all = runAs(candidates);
  const workloads = [...new Set(candidates.map((c) => c.serviceAccount.namespace))].flatMap((ns) =>
    workloadsOf(ns).filter((w) => all.has(`${w.metadata?.namespace ?? ''}/${workloadServiceAccount(w)}`)),
  );
  // The field manager that writes the objects names their controller among the candidates' workloads.
  let basis: InferenceBasis = { by: 'rbac' };
  let chosen: KubeObject[] = [];
  for (const manager of managers) {
    chosen = workloads.filter((w) => workloadAnswersTo(w, manager));
    if (chosen.length > 0) {
      basis = { by: 'field-manager', manager };
      break;
    }
  }
  if (chosen.length === 0) {
    // Without evidence only candidates by name count: a wildcard grant names no controller.
    if (named.length === 0) return { verdict: 'unsure', why: `no workload answers to the field managers of these objects (${managers.join(', ')})` };
    const byName = runAs(named);
    chosen = workloads.filter((w) => byName.has(`${w.metadata?.namespace ?? ''}/${workloadServiceAccount(w)}`));
  }
  const shownCandidates = basis.by === 'rbac' ? named : candidates;
  const controllers = chosen.map((w) => assessWorkload(w, effect, isTerminating));
  if (controllers.length === 0) return { verdict: 'not-running', candidates: shownCandidates };
  const alive = controllers.filter((c) => c.alive);
  if (alive.some((c) => !c.removedByRequest)) {
    const others = controllers.filter((c) => !c.alive);
    const ambiguous = basis.by === 'rbac' && new Set(controllers.map((c) => c.ref)).size > 1;
    return { verdict: 'alive', controllers: alive, basis, candidates: shownCandidates, others, ambiguous };
  }
  if (alive.length > 0) return { verdict: 'removed-by-request', candidates: shownCandidates, controllers: alive, basis };
  return { verdict: 'dead', candidates: shownCandidates, controllers, basis };
}

/** How the controller was told, for messages: `` or ` (its status is written by field manager M)`. */
export function basisText(basis: InferenceBasis): string {
  return basis.by === 'field-manager' ? ` (the objects' status and finalizers are written by field manager ${basis.manager})` : '';
}
