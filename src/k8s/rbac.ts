// What inference of an unknown finalizer's controller reads (src/ARCHITECTURE.md §1E): objects
// carrying finalizers, and RBAC read as which ServiceAccounts hold which rules through which binding.
import type { KubeObject } from './types.ts';

/** An object that carries finalizers, as a sweep found it (metadata only). */
export interface FinalizedObject {
  group: string;
  version: string;
  resource: string;
  kind: string;
  /** '' for a cluster-scoped object. */
  namespace: string;
  name: string;
  finalizers: string[];
  /** Set when the object is being deleted (since then): it waits for its finalizers now. */
  deletionTimestamp?: string;
  /**
   * Field managers (managedFields) that wrote the object's status, and per finalizer those that
   * added it: who reconciles the object (k8s/managedFields.ts). Absent when unknown.
   */
  statusManagers?: string[];
  finalizerManagers?: Record<string, string[]>;
}

/** What a sweep of one namespace found. */
export interface NamespaceSweep {
  objects: FinalizedObject[];
  /** `resource.group` of types the guard may not list (403): the sweep says nothing about them. */
  unlisted: string[];
}

/** One rule of a Role or ClusterRole. */
export interface RbacRule {
  apiGroups?: string[];
  resources?: string[];
  verbs?: string[];
  resourceNames?: string[];
}

/** Rules a ServiceAccount holds through one binding. */
export interface ServiceAccountGrant {
  serviceAccount: { namespace: string; name: string };
  /** `ClusterRoleBinding b -> ClusterRole r` or `RoleBinding ns/b -> Role r`. */
  via: string;
  rules: RbacRule[];
  /** The binding and the role it grants through (a request deleting either takes the grant away). */
  binding?: { kind: 'ClusterRoleBinding' | 'RoleBinding'; namespace?: string; name: string };
  role?: { kind: 'ClusterRole' | 'Role'; name: string };
}

interface BindingShape {
  roleRef?: { kind?: string; name?: string };
  subjects?: Array<{ kind?: string; namespace?: string; name?: string }>;
}

function rulesOf(role: KubeObject | undefined): RbacRule[] {
  const rules = (role as { rules?: unknown } | undefined)?.rules;
  if (!Array.isArray(rules)) return [];
  const strings = (v: unknown): string[] | undefined => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : undefined);
  return rules.flatMap((r: unknown) => {
    if (r === null || typeof r !== 'object') return [];
    const o = r as Record<string, unknown>;
    const rule: RbacRule = {};
    const apiGroups = strings(o['apiGroups']);
    const resources = strings(o['resources']);
    const verbs = strings(o['verbs']);
    const resourceNames = strings(o['resourceNames']);
    if (apiGroups) rule.apiGroups = apiGroups;
    if (resources) rule.resources = resources;
    if (verbs) rule.verbs = verbs;
    if (resourceNames) rule.resourceNames = resourceNames;
    return [rule];
  });
}

/**
 * One grant per ServiceAccount subject of each binding whose role exists. A RoleBinding's
 * ServiceAccount subject without a namespace is in the binding's namespace; a ClusterRoleBinding's
 * has none to fall back to and is skipped, as the API server would never match it.
 */
export function serviceAccountGrants(
  bindings: readonly KubeObject[],
  roleOf: (kind: 'ClusterRole' | 'Role', name: string, bindingNamespace: string | undefined) => KubeObject | undefined,
): ServiceAccountGrant[] {
  const grants: ServiceAccountGrant[] = [];
  for (const binding of bindings) {
    const { roleRef, subjects } = binding as BindingShape;
    const bindingNs = binding.metadata?.namespace;
    const roleKind = roleRef?.kind === 'Role' ? 'Role' : roleRef?.kind === 'ClusterRole' ? 'ClusterRole' : undefined;
    if (!roleKind || !roleRef?.name || !Array.isArray(subjects)) continue;
    const role = roleOf(roleKind, roleRef.name, bindingNs);
    if (!role) continue;
    const rules = rulesOf(role);
    const via = bindingNs
      ? `RoleBinding ${bindingNs}/${binding.metadata?.name ?? ''} -> ${roleKind} ${roleRef.name}`
      : `ClusterRoleBinding ${binding.metadata?.name ?? ''} -> ClusterRole ${roleRef.name}`;
    for (const s of subjects) {
      if (s?.kind !== 'ServiceAccount' || typeof s.name !== 'string') continue;
      const namespace = typeof s.namespace === 'string' && s.namespace !== '' ? s.namespace : bindingNs;
      if (!namespace) continue;
      const bindingName = binding.metadata?.name ?? '';
      grants.push({
        serviceAccount: { namespace, name: s.name },
        via,
        rules,
        binding: bindingNs ? { kind: 'RoleBinding', namespace: bindingNs, name: bindingName } : { kind: 'ClusterRoleBinding', name: bindingName },
        role: { kind: roleKind, name: roleRef.name },
      });
    }
  }
  return grants;
}

/** The identity a cached RBAC object keeps: enough to key it and to diff a relist. */
function slimMeta(o: KubeObject): KubeObject['metadata'] {
  const { name, namespace, resourceVersion } = o.metadata ?? {};
  return {
    ...(name !== undefined ? { name } : {}),
    ...(namespace !== undefined ? { namespace } : {}),
    ...(resourceVersion !== undefined ? { resourceVersion } : {}),
  };
}

/**
 * What serviceAccountGrants reads of a RoleBinding: its roleRef and ServiceAccount subjects. A
 * cluster holds many bindings of users and groups, which grant no ServiceAccount anything.
 */
export function slimBinding(binding: KubeObject): KubeObject {
  const { roleRef, subjects } = binding as BindingShape;
  const accounts = Array.isArray(subjects) ? subjects.filter((s) => s?.kind === 'ServiceAccount') : [];
  return { metadata: slimMeta(binding), ...(roleRef ? { roleRef } : {}), subjects: accounts };
}

/** What serviceAccountGrants reads of a Role: its rules, normalized as rulesOf reads them. */
export function slimRole(role: KubeObject): KubeObject {
  return { metadata: slimMeta(role), rules: rulesOf(role) };
}
