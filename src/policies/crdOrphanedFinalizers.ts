// Policy `crd-orphaned-finalizers` (ARCHITECTURE.md §1C): deleting a CustomResourceDefinition is a
// teardown that can hang. apiextensions-apiserver holds the CRD with the finalizer
// `customresourcecleanup.apiextensions.k8s.io` and deletes every object of it straight from storage
// (no admission request per object: the CRD's DELETE is the only one the guard sees), then polls
// until none is left (k8s.io/apiextensions-apiserver v0.36.3, pkg/controller/finalizer
// crd_finalizer.go deleteInstances: condition Terminating, InstanceDeletionInProgress, then
// InstanceDeletionCheck). Each object waits for its own finalizers: with the controller that
// removes one gone, or its RBAC gone, which is the same, the objects, the CRD, and every namespace
// holding such objects stay Terminating.
//
// On a CRD DELETE: every object of the CRD that carries a finalizer the control plane does not
// remove itself, and its controller: a guarded one (finalizer registry) judged by its guard, an
// unknown one inferred or remembered (policies/finalizerControllers.ts). A controller gone is a
// violation; one whose rights exist but runs nowhere is a risk; a controller running (or held back
// by inferred-finalizers while its uninstall deletes the CRD) is silence.
import type { AdmissionRequest } from '../k8s/admissionReview.ts';
import { targetName } from '../k8s/admissionReview.ts';
import type { ClusterView, FinalizedObject } from '../cluster/view.ts';
import { removedByControlPlane } from '../finalizers/controlPlaneFinalizers.ts';
import type { UnknownFinalizer } from '../finalizers/inferController.ts';
import { confirmedFindings } from './confirmedFindings.ts';
import { controllerLiveness } from './controllerLiveness.ts';
import { finalizerControllers, type FinalizerController } from './finalizerControllers.ts';
import { bringBack, controllerNames, listing, manualWayOut, refOf, rememberedText, what, why } from './inferredText.ts';
import type { FinalizerGuard } from './settings.ts';
import type { Finding, PolicyInput } from './types.ts';
import { definePolicy, type WebhookDeclaration } from './declaration.ts';
import { rule } from './webhooks.ts';

const NAME = 'crd-orphaned-finalizers';

/**
 * The type a CRD serves, from the CRD being deleted (its storage version is always served); from
 * its name (`plural.group`) alone when the request carries no spec (`check release` replays a
 * manifest), version and kind then come from discovery.
 */
export interface CrdType {
  crd: string;
  group: string;
  resource: string;
  kind?: string;
  version?: string;
}

interface CrdShape {
  spec?: { group?: string; names?: { plural?: string; kind?: string }; versions?: Array<{ name?: string; served?: boolean; storage?: boolean }> };
}

export function crdType(request: AdmissionRequest): CrdType | undefined {
  const spec = (request.oldObject as CrdShape | null | undefined)?.spec;
  const group = spec?.group;
  const resource = spec?.names?.plural;
  const kind = spec?.names?.kind;
  const versions = spec?.versions ?? [];
  const version = (versions.find((v) => v.served !== false && v.storage) ?? versions.find((v) => v.served !== false))?.name;
  const crd = targetName(request);
  if (group && resource && kind && version) return { crd, group, resource, kind, version };
  const dot = crd.indexOf('.');
  return dot > 0 ? { crd, group: crd.slice(dot + 1), resource: crd.slice(0, dot) } : undefined;
}

function crdRef(t: CrdType) {
  return { apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', name: t.crd };
}

function crdFinding(t: CrdType, fc: FinalizerController): Finding | undefined {
  const { u, inference, remembered } = fc;
  const kind = t.kind ?? u.kind;
  const objects = [crdRef(t), ...u.objects.map(refOf)];
  const summaryOf = (controller: string, state: string): string =>
    `deleting CRD ${t.crd} would leave ${what(u)} Terminating forever: they carry ${u.finalizer}, and ${controller} ${state}`;
  const hang = `Deleting CRD ${t.crd} deletes every ${kind}; these carry finalizer ${u.finalizer}:`;
  const consequence = `They, the CRD and every namespace holding them would stay Terminating until the finalizer is removed by hand.`;
  const firstObjects = `Or delete the ${kind} objects first, while their controller runs, then the CRD.`;
  if (remembered) {
    return {
      policy: NAME,
      severity: 'violation',
      code: 'crd-strands-finalizers',
      summary: summaryOf(`its controller ${controllerNames(remembered.controllers)}`, 'was uninstalled'),
      detail: [hang, listing(u), rememberedText(remembered), consequence].join('\n'),
      remedy: [bringBack(remembered), firstObjects, ...manualWayOut(u)],
      objects,
    };
  }
  if (inference.verdict === 'dead') {
    return {
      policy: NAME,
      severity: 'violation',
      code: 'crd-strands-finalizers',
      summary: summaryOf(`its controller ${controllerNames(inference.controllers)}`, 'is not running'),
      detail: [
        hang,
        listing(u),
        `Inferred controller: ${controllerNames(inference.controllers)}, because ${why(inference.candidates, inference.basis)}.`,
        `It is not running: ${inference.controllers.flatMap((c) => c.deadReasons).join('; ')}.`,
        consequence,
      ].join('\n'),
      remedy: [
        `Bring ${controllerNames(inference.controllers)} back (scale it up, or reinstall its release), then delete the CRD.`,
        firstObjects,
        ...manualWayOut(u),
      ],
      objects,
    };
  }
  if (inference.verdict === 'not-running') {
    return {
      policy: NAME,
      severity: 'risk',
      code: 'crd-controller-not-running',
      summary: summaryOf('no workload runs as the ServiceAccount that may remove it', '(it may run elsewhere)'),
      detail: [hang, listing(u), `${why(inference.candidates, { by: 'rbac' })}; but no Deployment, StatefulSet or DaemonSet runs as it.`, consequence].join(
        '\n',
      ),
      remedy: ['Make sure the controller of that finalizer runs (reinstall it if it was removed), then delete the CRD.', ...manualWayOut(u)],
      objects,
    };
  }
  return undefined;
}

/** The objects carrying a guarded finalizer (OLM's csv-cleanup on CSVs...), when its controller is gone. */
async function guardedFindings(t: CrdType, objects: readonly FinalizedObject[], guards: readonly FinalizerGuard[], view: ClusterView): Promise<Finding[]> {
  const findings: Finding[] = [];
  for (const guard of guards.filter((g) => g.resource.group === t.group && g.resource.resource === t.resource)) {
    const carrying = objects.filter((o) => o.finalizers.includes(guard.finalizer));
    if (carrying.length === 0) continue;
    const liveness = await controllerLiveness(guard.controller, view, {});
    if (liveness.alive) continue;
    const u: UnknownFinalizer = { finalizer: guard.finalizer, group: t.group, resource: t.resource, kind: t.kind ?? guard.resource.kind, objects: carrying };
    findings.push({
      policy: NAME,
      severity: 'violation',
      code: 'crd-strands-finalizers',
      summary: `deleting CRD ${t.crd} would leave ${what(u)} Terminating forever: they carry ${guard.finalizer} and ${guard.controller.displayName} is gone`,
      detail: [
        `Deleting CRD ${t.crd} deletes every ${u.kind}; these carry finalizer ${guard.finalizer}, which only ${guard.controller.displayName} removes:`,
        listing(u),
        `${guard.controller.displayName} counts as gone: ${liveness.whyGone}.`,
      ].join('\n'),
      remedy: [`Bring ${guard.controller.displayName} back, then delete the CRD.`, ...manualWayOut(u)],
      objects: [crdRef(t), ...carrying.map(refOf)],
    });
  }
  return findings;
}

async function check(t: CrdType, view: ClusterView, input: PolicyInput): Promise<Finding[]> {
  if (!view.liveFinalizedObjectsOfType) return [];
  const objects = (await view.liveFinalizedObjectsOfType(t)).filter((o) => !o.finalizers.every(removedByControlPlane));
  if (objects.length === 0) return [];
  const guards = input.settings.finalizerGuards;
  const controllers = await finalizerControllers(view, objects, guards, {
    grantNamespaces: [...new Set(objects.map((o) => o.namespace).filter((n) => n !== ''))],
    effect: {},
    nowMs: input.nowMs ?? Date.now(),
    ...(input.learn ? { learn: input.learn } : {}),
  });
  return [...(await guardedFindings(t, objects, guards, view)), ...controllers.flatMap((fc) => crdFinding(t, fc) ?? [])];
}

async function evaluate(input: PolicyInput): Promise<Finding[]> {
  const t = crdType(input.request);
  return t ? confirmedFindings(input, (v) => check(t, v, input)) : [];
}

const CRDS_WEBHOOK: WebhookDeclaration = {
  name: 'crds',
  why: [
    'DELETE of a CustomResourceDefinition: every object of it is deleted and waits for its',
    "finalizers, so a CRD whose objects' controller is gone hangs, and with it their namespaces.",
    'Every CRD, Helm-owned or not; helm-owned leaves them to this webhook.',
  ],
};

export const crdOrphanedFinalizers = definePolicy({
  name: NAME,
  defaultMode: 'warn',
  summary:
    'Warns, or denies in enforce, deleting a CRD whose objects carry a finalizer whose controller is gone (guarded, inferred or remembered): the objects, the CRD and their namespaces would stay Terminating.',
  judges: () => [{ via: CRDS_WEBHOOK, rule: rule('apiextensions.k8s.io', ['customresourcedefinitions'], 'Cluster'), prechecks: ['target-deleting'] }],
  // A read that failed or ran out of time: inference is unsure, never undecided.
  whenUndecided: 'silent',
  evaluate,
});
