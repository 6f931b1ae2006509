// `teardown-guard check`: what deleting a namespace, or uninstalling a release, would do, answered
// by the same policies the webhook runs, against a read-only view of a live cluster.
import type { AdmissionRequest } from '../k8s/admissionReview.ts';
import { UndecidedError, type ClusterView } from '../cluster/view.ts';
import { finalizerControllers } from '../policies/finalizerControllers.ts';
import type { DecodedRelease } from '../helm/releaseRecord.ts';
import { manifestObjects } from '../helm/manifest.ts';
import { apiVersionOf, formatRef, type KubeObject, type ObjectRef } from '../k8s/types.ts';
import { crdOrphanedFinalizers } from '../policies/crdOrphanedFinalizers.ts';
import { inferredFinalizers } from '../policies/inferredFinalizers.ts';
import { olmOrphanedFinalizers } from '../policies/olmOrphanedFinalizers.ts';
import type { PolicySettings } from '../policies/settings.ts';
import type { Finding, PolicyInput } from '../policies/types.ts';
import { removedByControlPlane } from '../finalizers/controlPlaneFinalizers.ts';
import { simulateUninstall } from './simulatedView.ts';
import { sortForUninstall } from './uninstallOrder.ts';

/** What the guard's teardown policies find on one DELETE: guarded finalizers, inferred ones, and a CRD's objects. */
async function teardownFindings(input: PolicyInput): Promise<Finding[]> {
  const findings: Finding[] = [];
  for (const policy of [olmOrphanedFinalizers, inferredFinalizers, crdOrphanedFinalizers]) {
    if (policy.appliesTo(input.request, input.settings)) findings.push(...(await policy.evaluate(input)));
  }
  return findings;
}

export interface CheckStep {
  object: ObjectRef;
  findings: Finding[];
}

export interface CheckReport {
  target: string;
  /** safe: nothing would be denied or hang; unsafe: something would; the notes say why. */
  safe: boolean;
  steps: CheckStep[];
  notes: string[];
}

const CHECK_USER = { username: 'teardown-guard-check' };
const WORKLOAD_KINDS = new Set(['Deployment', 'StatefulSet', 'DaemonSet']);

function deleteRequest(ref: ObjectRef, resource: string, oldObject: KubeObject): AdmissionRequest {
  const [group, version] = ref.apiVersion.includes('/') ? (ref.apiVersion.split('/') as [string, string]) : ['', ref.apiVersion];
  const req: AdmissionRequest = {
    uid: 'teardown-guard-check',
    kind: { group, version, kind: ref.kind },
    resource: { group, version, resource },
    name: ref.name,
    operation: 'DELETE',
    userInfo: CHECK_USER,
    oldObject,
    object: null,
    dryRun: true,
  };
  if (ref.namespace) req.namespace = ref.namespace;
  return req;
}

/** Lower-case plural the way the built-in kinds the OLM policy looks at are served. */
function resourceOf(kind: string, settings: PolicySettings): string {
  const guard = settings.finalizerGuards.find((g) => g.resource.kind === kind);
  if (guard) return guard.resource.resource;
  const known: Record<string, string> = {
    Namespace: 'namespaces',
    Deployment: 'deployments',
    StatefulSet: 'statefulsets',
    DaemonSet: 'daemonsets',
    ServiceAccount: 'serviceaccounts',
    Role: 'roles',
    RoleBinding: 'rolebindings',
    ClusterRole: 'clusterroles',
    ClusterRoleBinding: 'clusterrolebindings',
    CustomResourceDefinition: 'customresourcedefinitions',
  };
  return known[kind] ?? `${kind.toLowerCase()}s`;
}

export async function checkNamespace(name: string, view: ClusterView, settings: PolicySettings): Promise<CheckReport> {
  const target = `namespace ${name}`;
  const ns = view.getNamespace(name);
  if (!ns) throw new Error(`namespace ${name} not found`);
  if (ns.deletionTimestamp) {
    return { target, safe: false, steps: [], notes: [`namespace ${name} is already Terminating; run: teardown-guard diagnose namespace ${name}`] };
  }
  const ref: ObjectRef = { apiVersion: 'v1', kind: 'Namespace', name };
  const oldObject: KubeObject = { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels: ns.labels } };
  const findings = await teardownFindings({ request: deleteRequest(ref, 'namespaces', oldObject), view, settings });
  const stuck = await alreadyStuck(name, view);
  const guesses = await guessedControllers(name, view, settings);
  const safe = !findings.some((f) => f.severity === 'violation') && stuck.length === 0 && guesses.length === 0;
  const notes = [
    ...(stuck.length > 0
      ? [
          `already stuck in ${name}: ${stuck.join('; ')}; deleting the namespace would wait on them (teardown-guard diagnose can say why once it is Terminating)`,
        ]
      : []),
    ...guesses,
  ];
  return { target, safe, steps: [{ object: ref, findings }], notes: safe ? [`deleting namespace ${name} is safe`] : notes };
}

/**
 * Finalizers whose running controller RBAC alone names among several workloads, while nothing the
 * objects' field managers say confirms it: the one running may be a bystander, so `check` does not
 * answer SAFE on that guess (the webhook stays silent on it: a guess is no reason to deny).
 */
async function guessedControllers(namespace: string, view: ClusterView, settings: PolicySettings): Promise<string[]> {
  if (!view.liveFinalizedObjects || !view.liveServiceAccountGrants) return [];
  try {
    const sweep = await view.liveFinalizedObjects(namespace);
    const read = await finalizerControllers(view, sweep.objects, settings.finalizerGuards, {
      grantNamespaces: [namespace],
      effect: { deletedNamespace: namespace },
      nowMs: Date.now(),
    });
    return read.flatMap(({ u, inference }) => {
      if (inference.verdict !== 'alive' || !inference.ambiguous) return [];
      const candidates = inference.candidates.map((c) => `ServiceAccount ${c.serviceAccount.namespace}/${c.serviceAccount.name}`).join(', ');
      const stopped = inference.others.length > 0 ? `; not running: ${inference.others.map((c) => c.ref).join(', ')}` : '';
      return [
        `not sure who removes ${u.finalizer} from ${u.objects.length} ${u.kind}(s): RBAC alone names ${candidates}; running: ${inference.controllers.map((c) => c.ref).join(', ')}${stopped} (no field manager of these objects names one of them)`,
      ];
    });
  } catch (err) {
    if (err instanceof UndecidedError) return [];
    throw err;
  }
}

/** How long an object may wait on its finalizers, being deleted, before `check` calls it stuck. */
const STUCK_AFTER_MS = 60_000;

/**
 * Objects of the namespace already being deleted for a while that still carry a finalizer the
 * control plane does not remove itself (a CRD deleted while its controller was gone): whatever
 * inference can tell about their controller, deleting the namespace would wait on them.
 */
async function alreadyStuck(namespace: string, view: ClusterView, nowMs = Date.now()): Promise<string[]> {
  if (!view.liveFinalizedObjects) return [];
  const sweep = await view.liveFinalizedObjects(namespace);
  return sweep.objects
    .filter((o) => o.deletionTimestamp !== undefined && nowMs - Date.parse(o.deletionTimestamp) > STUCK_AFTER_MS)
    .flatMap((o) => {
      const waiting = o.finalizers.filter((f) => !removedByControlPlane(f));
      return waiting.length > 0 ? [`${o.kind} ${o.name} deleting since ${o.deletionTimestamp ?? ''}, waiting for ${waiting.join(', ')}`] : [];
    });
}

/**
 * Replays `helm uninstall` of `release` in Helm's order against a simulated view in which the
 * release is `uninstalling` and each object deleted so far is gone, and reports every deletion the
 * guard would deny (each of which, without the guard, would hang).
 */
export async function checkRelease(release: DecodedRelease, view: ClusterView, settings: PolicySettings): Promise<CheckReport> {
  const target = `release ${release.namespace}/${release.name}`;
  const sim = simulateUninstall(view, release);
  const steps: CheckStep[] = [];
  const skipped: string[] = [];
  for (const obj of sortForUninstall(manifestObjects(release.manifest))) {
    if (obj.keep) {
      skipped.push(`${obj.kind} ${obj.name}`);
      continue;
    }
    const namespaced = view.isNamespaced(obj.apiVersion, obj.kind) ?? true;
    const ref: ObjectRef = { apiVersion: obj.apiVersion, kind: obj.kind, name: obj.name };
    if (namespaced) ref.namespace = obj.explicitNamespace ?? release.namespace;
    const oldObject: KubeObject = {
      apiVersion: obj.apiVersion,
      kind: obj.kind,
      metadata: {
        name: obj.name,
        ...(ref.namespace ? { namespace: ref.namespace } : {}),
        labels: { ...obj.labels, 'app.kubernetes.io/managed-by': 'Helm' },
        annotations: { 'meta.helm.sh/release-name': release.name, 'meta.helm.sh/release-namespace': release.namespace },
      },
    };
    // A workload's ServiceAccount says which controller it is: take the live object (the manifest's
    // metadata alone does not say it).
    if (WORKLOAD_KINDS.has(obj.kind) && ref.namespace && view.liveWorkloads) {
      const live = (await view.liveWorkloads(ref.namespace)).find((w) => w.kind === obj.kind && w.metadata?.name === obj.name);
      if (live) Object.assign(oldObject, { spec: live['spec'] });
    }
    // The live object's finalizers decide the per-object check; take them from the cache.
    const guard = settings.finalizerGuards.find((g) => g.resource.kind === obj.kind && apiVersionOf(g.resource.group, g.resource.version) === obj.apiVersion);
    if (guard && oldObject.metadata) {
      const cached = view.listObjectMeta(guard.resource, ref.namespace).find((o) => o.metadata.name === obj.name);
      if (cached?.metadata.finalizers) oldObject.metadata.finalizers = cached.metadata.finalizers;
      if (cached?.metadata.labels) oldObject.metadata.labels = { ...oldObject.metadata.labels, ...cached.metadata.labels };
    }
    const request = deleteRequest(ref, resourceOf(obj.kind, settings), oldObject);
    const findings = await teardownFindings({ request, view: sim, settings });
    steps.push({ object: ref, findings });
    sim.remove(obj.kind, ref.namespace, obj.name);
  }
  const violations = steps.filter((s) => s.findings.some((f) => f.severity === 'violation'));
  const notes =
    violations.length === 0
      ? [`uninstalling ${target} is safe: no deletion would strand a finalizer`]
      : [
          `uninstalling ${target} would hang on: ${violations.map((s) => formatRef(s.object)).join(', ')} (the guard denies these; without it they stay Terminating)`,
        ];
  if (skipped.length > 0) notes.push(`kept by helm.sh/resource-policy: keep: ${skipped.join(', ')}`);
  return { target, safe: violations.length === 0, steps, notes };
}
