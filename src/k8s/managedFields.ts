// Who writes an object, read from its metadata.managedFields (server-side field tracking, on for
// every write since Kubernetes 1.18). The manager of a field set is the client's field manager:
// for client-go programs without an explicit one, the program's name (the first part of its
// User-Agent, e.g. `manager` for a kubebuilder binary, `argocd-application-controller`).
// A controller that reconciles an object writes its status, and usually its own finalizer; that
// is the evidence, beyond RBAC, of which workload removes a finalizer (ARCHITECTURE.md §1E).

interface ManagedFieldsEntry {
  manager?: unknown;
  subresource?: unknown;
  fieldsV1?: unknown;
}

function entries(managedFields: unknown): ManagedFieldsEntry[] {
  return Array.isArray(managedFields) ? managedFields.filter((e): e is ManagedFieldsEntry => e !== null && typeof e === 'object') : [];
}

function child(fields: unknown, key: string): unknown {
  return fields !== null && typeof fields === 'object' ? (fields as Record<string, unknown>)[key] : undefined;
}

function managerOf(e: ManagedFieldsEntry): string | undefined {
  return typeof e.manager === 'string' && e.manager !== '' ? e.manager : undefined;
}

/** Managers that own `finalizer` in metadata.finalizers (a set: key `v:"<finalizer>"`). */
export function finalizerManagers(managedFields: unknown, finalizer: string): string[] {
  const key = `v:${JSON.stringify(finalizer)}`;
  const out = new Set<string>();
  for (const e of entries(managedFields)) {
    const manager = managerOf(e);
    if (manager && child(child(child(e.fieldsV1, 'f:metadata'), 'f:finalizers'), key) !== undefined) out.add(manager);
  }
  return [...out];
}

/** Managers that wrote the object's status (through the status subresource or the object). */
export function statusManagers(managedFields: unknown): string[] {
  const out = new Set<string>();
  for (const e of entries(managedFields)) {
    const manager = managerOf(e);
    if (manager && (e.subresource === 'status' || child(e.fieldsV1, 'f:status') !== undefined)) out.add(manager);
  }
  return [...out];
}

/**
 * Field managers that are people's tools, not controllers: what they wrote says who created or
 * edited the object, never who reconciles it.
 */
export function isClientToolManager(manager: string): boolean {
  // kubectl-client-side-apply, kubectl-create, kubectl-edit...; helm (3 and 4, its manager is the
  // binary's name); before-first-apply is the server's placeholder for fields set before
  // server-side apply tracked them.
  return /^kubectl(-|$)/.test(manager) || manager === 'helm' || manager === 'before-first-apply';
}
