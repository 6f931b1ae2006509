// The words of findings about inferred finalizers (policies inferred-finalizers and
// crd-orphaned-finalizers): the objects, the controller and why it counts as gone, and the manual
// way out, said the same way wherever they are found.
import { removeFinalizerCommand } from '../k8s/finalizerPatch.ts';
import { apiVersionOf, formatRef, type ObjectRef } from '../k8s/types.ts';
import type { FinalizedObject } from '../k8s/rbac.ts';
import { basisText, type CandidateController, type InferenceBasis, type UnknownFinalizer, type WorkloadAssessment } from '../finalizers/inferController.ts';
import type { RememberedVerdict } from './finalizerControllers.ts';

export const LISTED_OBJECTS = 5;

export function refOf(o: FinalizedObject): ObjectRef {
  const ref: ObjectRef = { apiVersion: apiVersionOf(o.group, o.version), kind: o.kind, name: o.name };
  if (o.namespace) ref.namespace = o.namespace;
  return ref;
}

/** `widgets.example.com`, or `configmaps` for the core group: what kubectl takes. */
export function typeName(u: Pick<UnknownFinalizer, 'group' | 'resource'>): string {
  return u.group === '' ? u.resource : `${u.resource}.${u.group}`;
}

/** One object by name, or `N Kinds`. */
export function what(u: UnknownFinalizer, objects: readonly FinalizedObject[] = u.objects): string {
  return objects.length === 1 ? formatRef(refOf(objects[0] as FinalizedObject)) : `${objects.length} ${u.kind}s`;
}

export function listing(u: UnknownFinalizer, objects: readonly FinalizedObject[] = u.objects): string {
  const shown = objects.slice(0, LISTED_OBJECTS).map((o) => `  - ${formatRef(refOf(o))} (finalizer ${u.finalizer})`);
  const more = objects.length - LISTED_OBJECTS;
  return [...shown, ...(more > 0 ? [`  - and ${more} more`] : [])].join('\n');
}

export function why(candidates: readonly CandidateController[], basis: InferenceBasis): string {
  const grants = candidates
    .map((c) => `ServiceAccount ${c.serviceAccount.namespace}/${c.serviceAccount.name} may update them (${c.via.join('; ')})`)
    .join('; ');
  return `${grants}${basisText(basis)}`;
}

export function controllerNames(controllers: readonly WorkloadAssessment[]): string {
  return controllers.map((c) => `${c.ref}${c.helmRelease ? ` (Helm release ${c.helmRelease.namespace}/${c.helmRelease.name})` : ''}`).join(', ');
}

export function patchByHand(u: UnknownFinalizer, objects: readonly FinalizedObject[] = u.objects): string[] {
  return objects.slice(0, LISTED_OBJECTS).map((o) => `  ${removeFinalizerCommand(typeName(u), o.namespace || undefined, o.name, o.finalizers, u.finalizer)}`);
}

export function manualWayOut(u: UnknownFinalizer, objects: readonly FinalizedObject[] = u.objects): string[] {
  return ['Or remove the finalizer by hand (this skips whatever cleanup its controller would do):', ...patchByHand(u, objects)];
}

/** Why a remembered controller counts as gone, and since when, for a finding's detail. */
export function rememberedText(r: RememberedVerdict): string {
  const learned = new Date(r.entry.firstLearnedMs).toISOString();
  const release = r.entry.release ? ` It was installed by Helm release ${r.entry.release.namespace}/${r.entry.release.name}.` : '';
  return [
    `teardown-guard remembers (since ${learned}) that ${controllerNames(r.controllers)} removes this finalizer${r.entry.basis === 'field-manager' ? ' (it wrote these objects)' : ''}.${release}`,
    `It is gone: ${r.controllers.flatMap((c) => c.deadReasons).join('; ')}.`,
  ].join('\n');
}

/** How to bring a remembered controller back, for a remedy. */
export function bringBack(r: RememberedVerdict): string {
  return r.entry.release
    ? `Reinstall the operator (Helm release ${r.entry.release.namespace}/${r.entry.release.name}, or whatever installed ${controllerNames(r.controllers)}) so it removes the finalizer, then retry.`
    : `Reinstall ${controllerNames(r.controllers)} so it removes the finalizer, then retry.`;
}
