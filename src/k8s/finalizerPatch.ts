// The kubectl command that removes exactly one finalizer from one object: a JSON patch that first
// tests the value at that index, so it fails, rather than remove another controller's finalizer,
// if the list changed since it was read (another finalizer removed first shifts the indexes).

/** `resource` is `plural.group` (or `plural` for the core group), as kubectl takes it; no namespace for a cluster-scoped object. */
export function removeFinalizerCommand(
  resource: string,
  namespace: string | undefined,
  name: string,
  finalizers: readonly string[],
  finalizer: string,
): string {
  const path = `/metadata/finalizers/${finalizers.indexOf(finalizer)}`;
  const ops = JSON.stringify([
    { op: 'test', path, value: finalizer },
    { op: 'remove', path },
  ]);
  return `kubectl patch ${resource} ${name}${namespace ? ` -n ${namespace}` : ''} --type=json -p '${ops}'`;
}
