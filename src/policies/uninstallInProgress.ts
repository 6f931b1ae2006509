// Whether the controller being removed is removed by a Helm uninstall that is running now, and
// what else that uninstall deletes. Helm deletes in its uninstall order (Deployments, RBAC and
// ServiceAccounts before Namespaces; unknown kinds such as CSVs last), so a chart that ships both
// an operator's controller and the namespaces holding its finalizer-bearing objects removes the
// controller first: the case the guard holds back (README.md, "Policies").
import type { ClusterView, ReleaseRecordMeta } from '../cluster/view.ts';
import { groupOf, type PartialObjectMetadata } from '../k8s/types.ts';
import type { DecodedRelease } from '../helm/releaseRecord.ts';
import type { ControllerInstance } from './controllerLiveness.ts';
import { activityOf, formatAge } from './releaseActivity.ts';
import { livePayload, manifestOrUndecided } from './releasePayload.ts';
import { latestByNamespace } from './releaseRecords.ts';
import type { FinalizerGuard } from './settings.ts';

export interface UninstallInProgress {
  /** True when the uninstall runs now; false when its record is stale (a failed uninstall). */
  active: boolean;
  /** Where the release lives (its payload namespace) and its name. */
  release: { namespace: string; name: string };
  /** How to run the same uninstall again. */
  command: string;
  /** Whether that uninstall deletes the object (its namespace, or the object itself, is in the manifest). */
  deletes(obj: PartialObjectMetadata): boolean;
  /** For a stale record: how long it has said `uninstalling`. */
  staleNote?: string;
}

/**
 * The release's latest record: stored in its own namespace, or (Flux) elsewhere with a payload
 * saying so; with that payload when it was read to find the record.
 */
async function latestOf(name: string, home: string, view: ClusterView): Promise<{ record: ReleaseRecordMeta; payload?: DecodedRelease } | undefined> {
  const latest = latestByNamespace(await view.liveReleaseRecords(name));
  const own = latest.get(home);
  if (own) return { record: own };
  for (const record of latest.values()) {
    if (record.status !== 'uninstalling') continue;
    const payload = await livePayload(record, view);
    if (payload?.namespace === home) return { record, payload };
  }
  return undefined;
}

export async function uninstallInProgress(
  removed: ControllerInstance[],
  guard: FinalizerGuard,
  view: ClusterView,
  nowMs: number,
  staleAfterMs: number,
): Promise<UninstallInProgress | undefined> {
  for (const instance of removed) {
    const owner = instance.helmRelease;
    if (!owner) continue;
    const found = await latestOf(owner.name, owner.namespace, view);
    if (!found) continue;
    const { record } = found;
    const activity = activityOf(record, nowMs, staleAfterMs);
    const release = { namespace: owner.namespace, name: owner.name };
    const command =
      record.namespace === owner.namespace
        ? `helm uninstall ${owner.name} -n ${owner.namespace}`
        : `the same uninstall again (release records in namespace ${record.namespace}; Flux's helm-controller retries by itself)`;
    if (activity.kind === 'stale-uninstalling') {
      return {
        active: false,
        release,
        command,
        deletes: () => false,
        staleNote: `Release ${owner.namespace}/${owner.name} has said "uninstalling" for ${formatAge(activity.ageMs)}: a failed uninstall, not one running now.`,
      };
    }
    if (activity.kind !== 'uninstalling') continue;
    const payload = found.payload ?? (await livePayload(record, view));
    if (!payload) continue;
    const namespaces = new Set<string>();
    const objects = new Set<string>();
    for (const o of manifestOrUndecided(payload)) {
      if (o.keep) continue;
      if (o.kind === 'Namespace' && groupOf(o.apiVersion) === '') namespaces.add(o.name);
      else if (o.kind === guard.resource.kind && groupOf(o.apiVersion) === guard.resource.group) {
        objects.add(`${o.explicitNamespace ?? payload.namespace}/${o.name}`);
      }
    }
    return {
      active: true,
      release,
      command,
      deletes: (obj) => namespaces.has(obj.metadata.namespace ?? '') || objects.has(`${obj.metadata.namespace ?? ''}/${obj.metadata.name ?? ''}`),
    };
  }
  return undefined;
}
