// Whether the controller that removes a finalizer is alive, and will still be alive once the
// request being reviewed has taken effect. A controller about to go away counts as gone.
//
// A Helm release record saying `uninstalling` does not count against it: Helm writes that status
// before the pre-delete hooks run (which may well be deleting the controller's namespaces while it
// runs: Pixie's fix), and a failed uninstall leaves it for days. What an uninstall in progress
// will remove is judged where it is removed (the controller's own DELETE), not here.
import type { ControllerReader } from '../cluster/view.ts';
import type { KubeObject } from '../k8s/types.ts';
import { matchesLabelSelector, parsedLabelSelector } from '../k8s/labelSelector.ts';
import type { ControllerSpec } from './settings.ts';

/** What the request under review removes, so liveness is judged as of after it. */
export interface PendingRemoval {
  namespace?: string;
  deployment?: { namespace: string; name: string };
  clusterRoleBinding?: string;
  clusterRole?: string;
  serviceAccount?: { namespace: string; name: string };
}

export interface ControllerInstance {
  namespace: string;
  name: string;
  /** Empty when alive; otherwise every reason it is not. */
  deadReasons: string[];
  /**
   * Set when it has no available replica but is coming back (rollout, restart after a drain):
   * nothing would hang, but a deletion waits until it is available again.
   */
  startingReason?: string;
  /** The Helm release its ownership annotations name. */
  helmRelease?: { name: string; namespace: string };
}

export interface ControllerLiveness {
  alive: boolean;
  instances: ControllerInstance[];
  /** One sentence: why the controller counts as gone (empty when alive). */
  whyGone: string;
  /** Alive only through instances that are coming back: why a deletion will wait (else undefined). */
  waitingFor?: string;
}

const HELM_RELEASE_NAME = 'meta.helm.sh/release-name';
const HELM_RELEASE_NAMESPACE = 'meta.helm.sh/release-namespace';

interface DeploymentShape {
  spec?: { replicas?: number; template?: { spec?: { serviceAccountName?: string; serviceAccount?: string } } };
  status?: { availableReplicas?: number; conditions?: Array<{ type?: string; status?: string; reason?: string }> };
}

export function serviceAccountOf(d: KubeObject): string {
  const tpl = (d as DeploymentShape).spec?.template?.spec;
  return tpl?.serviceAccountName || tpl?.serviceAccount || 'default';
}

/**
 * No replica available, yet the Deployment wants one and is not stuck: a rollout (Recreate or
 * RollingUpdate) or Pods rescheduled after a drain. ProgressDeadlineExceeded means it is stuck.
 */
function comingBack(d: KubeObject, ref: string): string | undefined {
  const shape = d as DeploymentShape;
  const wanted = shape.spec?.replicas ?? 1;
  if (wanted < 1) return undefined;
  const progressing = shape.status?.conditions?.find((c) => c.type === 'Progressing');
  if (progressing?.status === 'False' || progressing?.reason === 'ProgressDeadlineExceeded') return undefined;
  return `${ref} has no available replica yet but wants ${wanted} and is progressing`;
}

function assessDeployment(d: KubeObject, spec: ControllerSpec, view: ControllerReader, removal: PendingRemoval): ControllerInstance {
  const meta = d.metadata ?? {};
  const ns = meta.namespace ?? '';
  const name = meta.name ?? '';
  const ref = `Deployment ${ns}/${name}`;
  const reasons: string[] = [];
  let startingReason: string | undefined;
  if (meta.deletionTimestamp) reasons.push(`${ref} is being deleted`);
  if (removal.deployment && removal.deployment.namespace === ns && removal.deployment.name === name) {
    reasons.push(`this request deletes ${ref}`);
  }
  if (removal.namespace === ns) reasons.push(`${ref} lives in namespace ${ns}, which this request deletes`);
  if (view.getNamespace(ns)?.deletionTimestamp) reasons.push(`the namespace of ${ref} is Terminating`);
  const sa = serviceAccountOf(d);
  if (removal.serviceAccount && removal.serviceAccount.namespace === ns && removal.serviceAccount.name === sa) {
    reasons.push(`this request deletes ServiceAccount ${ns}/${sa}, which ${ref} runs as`);
  }
  if (!(((d as DeploymentShape).status?.availableReplicas ?? 0) >= 1)) {
    const starting = reasons.length === 0 ? comingBack(d, ref) : undefined;
    if (starting) startingReason = starting;
    else reasons.push(`${ref} has no available replicas`);
  }
  if (spec.requireClusterRoleBinding) {
    const bindings = view.clusterRoleBindingsFor(ns, sa).filter((b) => b.metadata?.name !== removal.clusterRoleBinding);
    const granted = bindings.some((b) => {
      const roleRef = b['roleRef'] as { kind?: string; name?: string } | undefined;
      return roleRef?.kind === 'ClusterRole' && roleRef.name !== undefined && roleRef.name !== removal.clusterRole && view.clusterRoleExists(roleRef.name);
    });
    if (!granted) reasons.push(`no ClusterRoleBinding grants ServiceAccount ${ns}/${sa} of ${ref} an existing ClusterRole`);
  }
  const instance: ControllerInstance = { namespace: ns, name, deadReasons: reasons };
  if (startingReason) instance.startingReason = startingReason;
  const release = meta.annotations?.[HELM_RELEASE_NAME];
  const releaseNs = meta.annotations?.[HELM_RELEASE_NAMESPACE];
  if (release && releaseNs) instance.helmRelease = { name: release, namespace: releaseNs };
  return instance;
}

function summarize(spec: ControllerSpec, instances: ControllerInstance[]): string {
  if (instances.length === 0) return `no Deployment matching ${spec.deploymentSelector} (${spec.displayName}) exists`;
  return instances.map((i) => i.deadReasons.join('; ')).join('; ');
}

function livenessOf(spec: ControllerSpec, instances: ControllerInstance[]): ControllerLiveness {
  const living = instances.filter((i) => i.deadReasons.length === 0);
  const alive = living.length > 0;
  const result: ControllerLiveness = { alive, instances, whyGone: alive ? '' : summarize(spec, instances) };
  if (alive && living.every((i) => i.startingReason !== undefined)) result.waitingFor = living.map((i) => i.startingReason).join('; ');
  return result;
}

function assess(spec: ControllerSpec, deployments: KubeObject[], view: ControllerReader, removal: PendingRemoval): ControllerLiveness {
  return livenessOf(
    spec,
    deployments.map((d) => assessDeployment(d, spec, view, removal)),
  );
}

/**
 * Cache first. A cache that says "alive" may be milliseconds stale (Helm deletes the Deployment
 * right after its previous request), and "alive" turns a deny into an allow, so that answer is
 * confirmed with a live read of the alive Deployments, stopping at the first one confirmed alive
 * (the others keep their cached assessment).
 */
export async function controllerLiveness(spec: ControllerSpec, view: ControllerReader, removal: PendingRemoval): Promise<ControllerLiveness> {
  const cached = assess(spec, view.listDeployments(spec.deploymentSelector), view, removal);
  if (!cached.alive) return cached;

  const selector = parsedLabelSelector(spec.deploymentSelector);
  const live: KubeObject[] = [];
  for (const inst of cached.instances.filter((i) => i.deadReasons.length === 0)) {
    const d = await view.liveDeployment(inst.namespace, inst.name);
    if (!d || !matchesLabelSelector(selector, d.metadata?.labels)) continue;
    live.push(d);
    // One instance confirmed alive is enough: confirming every replica of the controller would
    // cost one sequential live GET each per review (200 olm-operators: 200 GETs, ~1 s).
    const one = assess(spec, [d], view, removal);
    if (one.alive) {
      return livenessOf(
        spec,
        cached.instances.map((i) => (i.namespace === inst.namespace && i.name === inst.name ? (one.instances[0] ?? i) : i)),
      );
    }
  }
  const confirmed = assess(spec, live, view, removal);
  if (confirmed.alive) return confirmed;
  // Report what the cache believed too, so the message explains a just-vanished controller.
  const vanished = cached.instances
    .filter((i) => i.deadReasons.length === 0 && !live.some((d) => d.metadata?.namespace === i.namespace && d.metadata?.name === i.name))
    .map((i) => ({ ...i, deadReasons: [`Deployment ${i.namespace}/${i.name} no longer exists`] }));
  return livenessOf(spec, [...confirmed.instances, ...vanished]);
}
