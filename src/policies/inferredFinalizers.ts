// Policy `inferred-finalizers` (ARCHITECTURE.md §1E): a namespace DELETE whose objects carry a
// finalizer no guard knows, whose controller (inferred from RBAC and workloads) is gone or goes
// with the namespace. Inference is never sure enough to block on what it cannot see: when it
// cannot name a controller, or a read fails, it says nothing; when a controller it inferred is
// merely not running, or lives in the namespace being deleted, it warns (risk). Only a controller
// it found and that is dead (no available replica and not coming back, being deleted, or its
// namespace Terminating) is a violation, denied in enforce; the default mode is warn.
import { isDelete, targetName } from '../k8s/admissionReview.ts';
import { removeFinalizerCommand } from '../k8s/finalizerPatch.ts';
import { UndecidedError, type ClusterView, type FinalizedObject, type ServiceAccountGrant } from '../cluster/view.ts';
import { apiVersionOf, formatRef, type ObjectRef } from '../k8s/types.ts';
import {
  candidateControllers,
  inferController,
  unknownFinalizers,
  updatableTypes,
  type CandidateController,
  type Inference,
  type UnknownFinalizer,
  type WorkloadAssessment,
} from '../finalizers/inferController.ts';
import { confirmedFindings } from './confirmedFindings.ts';
import type { Finding, Policy, PolicyInput } from './types.ts';

const NAME = 'inferred-finalizers';
/** Most namespaces whose workloads one review reads (candidates' namespaces); beyond it inference is unsure. */
const MAX_CONTROLLER_NAMESPACES = 8;
const LISTED_OBJECTS = 5;

function refOf(o: FinalizedObject): ObjectRef {
  return { apiVersion: apiVersionOf(o.group, o.version), kind: o.kind, namespace: o.namespace, name: o.name };
}

function typeName(u: Pick<UnknownFinalizer, 'group' | 'resource'>): string {
  return u.group === '' ? u.resource : `${u.resource}.${u.group}`;
}

function what(u: UnknownFinalizer): string {
  return u.objects.length === 1 ? formatRef(refOf(u.objects[0] as FinalizedObject)) : `${u.objects.length} ${u.kind}s`;
}

function listing(u: UnknownFinalizer): string {
  const shown = u.objects.slice(0, LISTED_OBJECTS).map((o) => `  - ${formatRef(refOf(o))} (finalizer ${u.finalizer})`);
  const more = u.objects.length - LISTED_OBJECTS;
  return [...shown, ...(more > 0 ? [`  - and ${more} more`] : [])].join('\n');
}

function why(candidates: CandidateController[]): string {
  return candidates.map((c) => `ServiceAccount ${c.serviceAccount.namespace}/${c.serviceAccount.name} may update them (${c.via.join('; ')})`).join('; ');
}

function controllerNames(controllers: WorkloadAssessment[]): string {
  return controllers.map((c) => `${c.ref}${c.helmRelease ? ` (Helm release ${c.helmRelease.namespace}/${c.helmRelease.name})` : ''}`).join(', ');
}

function patchByHand(u: UnknownFinalizer): string[] {
  return u.objects.slice(0, LISTED_OBJECTS).map((o) => `  ${removeFinalizerCommand(typeName(u), o.namespace, o.name, o.finalizers, u.finalizer)}`);
}

function finding(ns: string, u: UnknownFinalizer, inference: Exclude<Inference, { verdict: 'unsure' } | { verdict: 'alive' }>): Finding {
  const objects = u.objects.map(refOf);
  const base = { policy: NAME, objects } as const;
  const manual = ['Or remove the finalizer by hand (this skips whatever cleanup its controller would do):', ...patchByHand(u)];
  if (inference.verdict === 'removed-by-request') {
    return {
      ...base,
      severity: 'risk',
      code: 'namespace-deletes-inferred-controller',
      summary: `namespace ${ns} holds ${what(u)} with finalizer ${u.finalizer}, and the controller that removes it (${controllerNames(inference.controllers)}) is deleted with the namespace: it may go first, and ${ns} would hang`,
      detail: [
        `Deleting namespace ${ns} deletes these objects and, at the same time, the controller inferred to remove their finalizer:`,
        listing(u),
        `Inferred controller: ${controllerNames(inference.controllers)}, because ${why(inference.candidates)}.`,
      ].join('\n'),
      remedy: [
        `Delete the objects first and wait until they are gone: kubectl delete ${typeName(u)} --all -n ${ns} --wait; then delete the namespace.`,
        ...manual,
      ],
    };
  }
  if (inference.verdict === 'not-running') {
    return {
      ...base,
      severity: 'risk',
      code: 'namespace-inferred-controller-not-running',
      summary: `namespace ${ns} holds ${what(u)} with finalizer ${u.finalizer}; no workload runs as the ServiceAccount that may remove it, so ${ns} may hang in Terminating`,
      detail: [
        `These objects carry a finalizer no guard knows:`,
        listing(u),
        `${why(inference.candidates)}; but no Deployment, StatefulSet or DaemonSet runs as it. If its controller was uninstalled, nothing will remove the finalizer. Not sure: the controller may run elsewhere.`,
      ].join('\n'),
      remedy: ['Make sure the controller of that finalizer runs (reinstall it if it was removed), then delete the namespace.', ...manual],
    };
  }
  const reasons = inference.controllers.flatMap((c) => c.deadReasons).join('; ');
  return {
    ...base,
    severity: 'violation',
    code: 'namespace-strands-inferred-finalizers',
    summary: `deleting namespace ${ns} would leave it Terminating: ${what(u)} carry finalizer ${u.finalizer}, and its controller ${controllerNames(inference.controllers)} is not running`,
    detail: [
      `These objects carry a finalizer no guard knows:`,
      listing(u),
      `Inferred controller: ${controllerNames(inference.controllers)}, because ${why(inference.candidates)}.`,
      `It is not running: ${reasons}.`,
    ].join('\n'),
    remedy: [`Bring ${controllerNames(inference.controllers)} back (scale it up, or reinstall its release), then delete the namespace.`, ...manual],
  };
}

async function infer(ns: string, view: ClusterView, input: PolicyInput): Promise<Finding[]> {
  if (!view.liveFinalizedObjects || !view.liveServiceAccountGrants || !view.liveWorkloads) return [];
  const grants: ServiceAccountGrant[] = await view.liveServiceAccountGrants(ns);
  // A finalizer on a type no ServiceAccount may update has no candidate controller: such types
  // are not listed at all (most of a cluster's types, and the cost of a namespace DELETE).
  const sweep = await view.liveFinalizedObjects(ns, { key: 'updatable-by-service-accounts', wanted: updatableTypes(grants) });
  const { known } = unknownFinalizers(sweep.objects, input.settings.finalizerGuards);
  if (known.length === 0) return [];
  // Only the namespaces of candidate ServiceAccounts are read (a Pod runs as a ServiceAccount of its own namespace).
  const wanted = [...new Set(known.flatMap((u) => candidateControllers(u, grants).map((c) => c.serviceAccount.namespace)))];
  // Beyond the bound, a controller could be in a namespace not read: not sure, so silent.
  if (wanted.length > MAX_CONTROLLER_NAMESPACES) return [];
  const liveWorkloads = view.liveWorkloads.bind(view);
  const workloads = new Map(await Promise.all(wanted.map(async (n) => [n, await liveWorkloads(n)] as const)));
  const isTerminating = (n: string): boolean => view.getNamespace(n)?.deletionTimestamp !== undefined;
  const findings: Finding[] = [];
  for (const u of known) {
    const inference = inferController(u, grants, (n) => workloads.get(n) ?? [], ns, isTerminating);
    if (inference.verdict === 'unsure' || inference.verdict === 'alive') continue;
    findings.push(finding(ns, u, inference));
  }
  return findings;
}

async function evaluate(input: PolicyInput): Promise<Finding[]> {
  const { request, view, settings } = input;
  const ns = targetName(request);
  if (settings.exemptNamespaces.includes(ns)) return [];
  // Already Terminating: repeat DELETEs, and the namespace controller's final DELETE.
  if (request.oldObject?.metadata?.deletionTimestamp || view.getNamespace(ns)?.deletionTimestamp) return [];
  try {
    return await confirmedFindings(view, (v) => infer(ns, v, input));
  } catch (err) {
    // A read that failed or ran out of time leaves inference unsure: never undecided, never a denial.
    if (err instanceof UndecidedError) return [];
    throw err;
  }
}

export const inferredFinalizers: Policy = {
  name: NAME,
  appliesTo: (req) => isDelete(req, '', 'namespaces'),
  evaluate,
};
