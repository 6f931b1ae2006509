// Whether the controller that removes a finalizer is alive, and will still be alive once the
// request being reviewed has taken effect. A controller about to go away counts as gone.
import type { ClusterView, ReleaseRecordMeta } from '../cluster/view.ts';
import type { KubeObject } from '../k8s/types.ts';
import { matchesLabelSelector, parseLabelSelector } from '../k8s/labelSelector.ts';
import type { ControllerSpec } from './settings.ts';
import { latestRecord } from './releaseRecords.ts';

/** What the request under review removes, so liveness is judged as of after it. */
export interface PendingRemoval {
  /**
   * Judge only whether the controller runs right now: a Helm release that is `uninstalling`
   * does not count against it (it has not been removed yet).
   */
  currentOnly?: boolean;
  namespace?: string;
  deployment?: { namespace: string; name: string };
  clusterRoleBinding?: string;
  clusterRole?: string;
}

export interface ControllerInstance {
  namespace: string;
  name: string;
  /** Empty when alive; otherwise every reason it is not. */
  deadReasons: string[];
}

export interface ControllerLiveness {
  alive: boolean;
  instances: ControllerInstance[];
  /** One sentence: why the controller counts as gone (empty when alive). */
  whyGone: string;
}

const HELM_RELEASE_NAME = 'meta.helm.sh/release-name';
const HELM_RELEASE_NAMESPACE = 'meta.helm.sh/release-namespace';

function deploymentDeadReasons(
  d: KubeObject, spec: ControllerSpec, view: ClusterView, removal: PendingRemoval,
  records: (release: string) => ReleaseRecordMeta[],
): string[] {
  const meta = d.metadata ?? {};
  const ns = meta.namespace ?? '';
  const name = meta.name ?? '';
  const ref = `Deployment ${ns}/${name}`;
  const reasons: string[] = [];
  if (meta.deletionTimestamp) reasons.push(`${ref} is being deleted`);
  if (removal.deployment && removal.deployment.namespace === ns && removal.deployment.name === name) {
    reasons.push(`this request deletes ${ref}`);
  }
  if (removal.namespace === ns) reasons.push(`${ref} lives in namespace ${ns}, which this request deletes`);
  const nsState = view.getNamespace(ns);
  if (nsState?.deletionTimestamp) reasons.push(`the namespace of ${ref} is Terminating`);
  const status = (d['status'] ?? {}) as { availableReplicas?: number };
  if (!((status.availableReplicas ?? 0) >= 1)) reasons.push(`${ref} has no available replicas`);
  const release = meta.annotations?.[HELM_RELEASE_NAME];
  const releaseNs = meta.annotations?.[HELM_RELEASE_NAMESPACE];
  if (release && releaseNs && !removal.currentOnly) {
    const latest = latestRecord(records(release), releaseNs);
    if (latest?.status === 'uninstalling') reasons.push(`${ref} belongs to Helm release ${releaseNs}/${release}, which is being uninstalled`);
  }
  if (spec.requireClusterRoleBinding) {
    const tpl = (d['spec'] as { template?: { spec?: { serviceAccountName?: string } } } | undefined)?.template?.spec;
    const sa = tpl?.serviceAccountName || 'default';
    const bindings = view.clusterRoleBindingsFor(ns, sa).filter((b) => b.metadata?.name !== removal.clusterRoleBinding);
    const granted = bindings.some((b) => {
      const roleRef = b['roleRef'] as { kind?: string; name?: string } | undefined;
      return roleRef?.kind === 'ClusterRole' && roleRef.name !== undefined &&
        roleRef.name !== removal.clusterRole && view.clusterRoleExists(roleRef.name);
    });
    if (!granted) reasons.push(`no ClusterRoleBinding grants ServiceAccount ${ns}/${sa} of ${ref} an existing ClusterRole`);
  }
  return reasons;
}

function summarize(spec: ControllerSpec, instances: ControllerInstance[]): string {
  if (instances.length === 0) return `no Deployment matching ${spec.deploymentSelector} (${spec.displayName}) exists`;
  return instances.map((i) => i.deadReasons.join('; ')).join('; ');
}

function assess(spec: ControllerSpec, deployments: KubeObject[], view: ClusterView, removal: PendingRemoval,
  records: (release: string) => ReleaseRecordMeta[]): ControllerLiveness {
  const instances = deployments.map((d) => ({
    namespace: d.metadata?.namespace ?? '',
    name: d.metadata?.name ?? '',
    deadReasons: deploymentDeadReasons(d, spec, view, removal, records),
  }));
  const alive = instances.some((i) => i.deadReasons.length === 0);
  return { alive, instances, whyGone: alive ? '' : summarize(spec, instances) };
}

/**
 * Cache first. A cache that says "alive" may be milliseconds stale (Helm marks its release
 * `uninstalling` and deletes the Deployment back to back), and "alive" turns a deny into an
 * allow, so that answer is confirmed with live reads of the alive Deployments and their releases,
 * stopping at the first one confirmed alive (the others keep their cached assessment).
 */
export async function controllerLiveness(spec: ControllerSpec, view: ClusterView, removal: PendingRemoval): Promise<ControllerLiveness> {
  const cached = assess(spec, view.listDeployments(spec.deploymentSelector), view, removal, (r) => view.releaseRecords(r));
  if (!cached.alive) return cached;

  const selector = parseLabelSelector(spec.deploymentSelector);
  const live: KubeObject[] = [];
  const liveRecords = new Map<string, ReleaseRecordMeta[]>();
  for (const inst of cached.instances.filter((i) => i.deadReasons.length === 0)) {
    const d = await view.liveDeployment(inst.namespace, inst.name);
    if (!d || !matchesLabelSelector(selector, d.metadata?.labels)) continue;
    const release = d.metadata?.annotations?.[HELM_RELEASE_NAME];
    if (release && !liveRecords.has(release)) liveRecords.set(release, await view.liveReleaseRecords(release));
    live.push(d);
    // One instance confirmed alive is enough: confirming every replica of the controller would
    // cost one sequential live GET each per review (200 olm-operators: 200 GETs, ~1 s).
    const one = assess(spec, [d], view, removal, (r) => liveRecords.get(r) ?? view.releaseRecords(r));
    if (one.alive) {
      const instances = cached.instances.map((i) => (i.namespace === inst.namespace && i.name === inst.name ? (one.instances[0] ?? i) : i));
      return { alive: true, instances, whyGone: '' };
    }
  }
  const confirmed = assess(spec, live, view, removal, (r) => liveRecords.get(r) ?? view.releaseRecords(r));
  if (confirmed.alive) return confirmed;
  // Report what the cache believed too, so the message explains a just-vanished controller.
  const vanished = cached.instances
    .filter((i) => i.deadReasons.length === 0 && !live.some((d) => d.metadata?.namespace === i.namespace && d.metadata?.name === i.name))
    .map((i) => ({ ...i, deadReasons: [`Deployment ${i.namespace}/${i.name} no longer exists`] }));
  const instances = [...confirmed.instances, ...vanished];
  return { alive: false, instances, whyGone: summarize(spec, instances) };
}
