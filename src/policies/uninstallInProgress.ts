// Whether the controller being removed is removed by a Helm uninstall that is running now, and
// what else that uninstall deletes. Helm deletes in its uninstall order (helm.sh/helm v3.21.4
// pkg/releaseutil/kind_sorter.go UninstallOrder, the same in v4.3.1: Deployments and StatefulSets,
// RBAC, then CustomResourceDefinitions, ServiceAccounts, Namespaces; kinds it does not list, such
// as custom resources and CSVs, last), so a chart that ships both an operator's controller and the
// CRDs or namespaces holding its finalizer-bearing objects removes the controller first: the case
// the guard holds back (ARCHITECTURE.md §1B, §1C).
import type { ClusterView, ReleaseRecordMeta } from '../cluster/view.ts';
import { groupOf } from '../k8s/types.ts';
import type { DecodedRelease } from '../helm/releaseRecord.ts';
import { activityOf, formatAge } from './releaseActivity.ts';
import { livePayload, manifestOrUndecided } from './releasePayload.ts';
import { latestByNamespace } from './releaseRecords.ts';

/** An object an uninstall may delete, by type and name (`namespace` '' when cluster-scoped). */
export interface DoomedCandidate {
  group: string;
  kind: string;
  /** The plural, as a CRD's name has it (`widgets` of `widgets.example.com`); optional for built-in kinds. */
  resource?: string;
  namespace: string;
  name: string;
}

export interface UninstallInProgress {
  /** True when the uninstall runs now; false when its record is stale (a failed uninstall). */
  active: boolean;
  /** Where the release lives (its payload namespace) and its name. */
  release: { namespace: string; name: string };
  /** How to run the same uninstall again. */
  command: string;
  /**
   * Whether that uninstall deletes the object: its namespace is in the manifest, or its CRD (a CRD
   * in templates/; those in crds/ Helm never deletes), or the object itself.
   */
  deletes(obj: DoomedCandidate): boolean;
  /** For a stale record: how long it has said `uninstalling`. */
  staleNote?: string;
}

/** The Helm release an object's ownership annotations name (`meta.helm.sh/release-*`). */
export interface ReleaseOwner {
  name: string;
  namespace: string;
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

const CRD_GROUP = 'apiextensions.k8s.io';

/** The first of `owners` whose release is being uninstalled now (or, failing that, a stale uninstall). */
export async function uninstallInProgress(
  owners: readonly ReleaseOwner[],
  view: ClusterView,
  nowMs: number,
  staleAfterMs: number,
): Promise<UninstallInProgress | undefined> {
  for (const owner of owners) {
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
    const crds = new Set<string>();
    const objects = new Set<string>();
    for (const o of manifestOrUndecided(payload)) {
      if (o.keep) continue;
      const group = groupOf(o.apiVersion);
      if (o.kind === 'Namespace' && group === '') namespaces.add(o.name);
      else if (o.kind === 'CustomResourceDefinition' && group === CRD_GROUP) crds.add(o.name);
      // A namespaced object without an explicit namespace lands in the release's; a cluster-scoped
      // one is keyed by its name alone below, so both spellings are kept.
      objects.add(`${group}/${o.kind}/${o.explicitNamespace ?? payload.namespace}/${o.name}`);
      objects.add(`${group}/${o.kind}//${o.name}`);
    }
    return {
      active: true,
      release,
      command,
      deletes: (obj) =>
        namespaces.has(obj.namespace) ||
        (obj.resource !== undefined && crds.has(`${obj.resource}.${obj.group}`)) ||
        objects.has(`${obj.group}/${obj.kind}/${obj.namespace}/${obj.name}`),
    };
  }
  return undefined;
}
